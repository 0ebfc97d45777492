"""`loopdesk memory ...`: the answer memory (approved answers from the team, served before the knowledge base).

loopdesk memory add --question TEXT --answer TEXT [--source NAME] --json   # {"id": N}, approved at once
loopdesk memory list [--status approved|review|retired] --json            # {"entries": [...]}
loopdesk memory approve ID --json / loopdesk memory retire ID --json      # the entry as it is now
"""

from __future__ import annotations

import getpass
from typing import Optional

import typer

from assistant.cli.common import emit, get_config, handles_errors

memory_app = typer.Typer(
    help="The answer memory: approved answers served before the knowledge base.", no_args_is_help=True
)


def _store():
    from assistant.build import open_store

    return open_store(get_config())


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name (a container without /etc/passwd entry)
        return "cli"


def _row(e: dict) -> dict:
    return {k: (str(v) if k.endswith("_at") and v is not None else v) for k, v in e.items()}


@memory_app.command("add")
@handles_errors
def memory_add(
    question: str = typer.Option(..., help="The customer question this answer is for."),
    answer: str = typer.Option(..., help="The approved answer, as customers will read it."),
    source: Optional[str] = typer.Option(None, help="Knowledge-base page or policy it comes from."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add an approved entry: questions like it get this answer from the next message on."""
    entry_id = _store().add_memory(question, answer, source, "approved", "cli", _who())
    emit({"id": entry_id}, as_json, f"answer-memory entry {entry_id} added (approved)")


@memory_app.command("list")
@handles_errors
def memory_list(
    status: Optional[str] = typer.Option(None, help="Only approved, review or retired entries."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Entries, newest first."""
    entries = [_row(e) for e in _store().memory_entries(status)]
    text = "\n".join(f"{e['id']:>5}  {e['status']:<8}  {e['question'][:60]}  ->  {e['answer'][:60]}" for e in entries)
    emit({"entries": entries}, as_json, text or "no entries")


def _set_status(entry_id: int, status: str, as_json: bool) -> None:
    entry = _row(_store().update_memory(entry_id, by=_who(), status=status))
    emit(entry, as_json, f"answer-memory entry {entry_id}: {status}")


@memory_app.command("retire")
@handles_errors
def memory_retire(entry_id: int = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """Stop serving an entry (kept for the record)."""
    _set_status(entry_id, "retired", as_json)


@memory_app.command("approve")
@handles_errors
def memory_approve(entry_id: int = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """Serve an entry that waits for review (an operator's reply, or one customers rated down)."""
    _set_status(entry_id, "approved", as_json)
