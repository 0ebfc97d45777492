"""`loopdesk operator ...` and `loopdesk report ...`: console accounts and the daily report.

loopdesk operator add dana [--role admin|agent] [--password-stdin] --json   # {"name", "role", "password"}
loopdesk operator role dana agent --json           # only admins may promote or roll back adapters
loopdesk operator list --json
loopdesk report daily [--day 2026-11-29] [--format json|csv|markdown] --json
loopdesk report gaps [--days 14] --json                       # {"gaps": [{"topic", "count", "examples"}]}
loopdesk store purge --older-than 90d [--dry-run] --json      # retention
loopdesk store erase --conversation ID | --email ADDRESS [--exports DIR] --json  # right to erasure,
                                                               # exported datasets included
loopdesk store replay-spool --json                             # write spooled turns now
loopdesk api-key create NAME --json                            # {"name", "key"}: the key shown once
loopdesk api-key revoke NAME --json                            # the key stops working now
"""

from __future__ import annotations

import sys
from datetime import date
from typing import Any, Callable, Optional

import typer

from assistant.cli.common import emit, get_config, handles_errors
from assistant.errors import InputError

operator_app = typer.Typer(help="Operator accounts for the console (/operator).", no_args_is_help=True)
report_app = typer.Typer(help="Reports over the conversation store.", no_args_is_help=True)
api_key_app = typer.Typer(help="Keys of HTTP API clients (/v1/chat, /v1/feedback).", no_args_is_help=True)
store_app = typer.Typer(help="Retention, erasure and the local spool of the conversation store.", no_args_is_help=True)


# `store erase` also takes erased conversations out of exported datasets. The export format is
# finetune's, which this package may not import: the composing CLI (assistant.cli.main) plugs in
# `finetune.export.erase_exports(cfg, ids, extra_dirs) -> {"exports": [...], "unchecked": [...]}`.
_export_eraser: list[Callable[[Any, list[str], list[str]], dict]] = []


def erase_exports_with(fn: Callable[[Any, list[str], list[str]], dict]) -> None:
    _export_eraser[:] = [fn]


def _store():
    from assistant.build import open_store

    return open_store(get_config())


@operator_app.command("add")
@handles_errors
def operator_add(
    name: str = typer.Argument(..., help="Lowercase name shown to customers and in the logs."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (else one is generated)."
    ),
    role: str = typer.Option(
        "admin", "--role", help="admin (everything) or agent (everything but promoting or rolling back adapters)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create an operator account; prints the password once (only its hash is stored)."""
    from assistant.store.accounts import create_operator

    given = sys.stdin.readline().rstrip("\n") if password_stdin else None
    password = create_operator(_store(), name, given, role=role)
    emit(
        {"name": name.strip().lower(), "role": role, "password": password},
        as_json,
        f"operator {name.strip().lower()} ({role}) created; password: {password}\n(shown once; only a hash is stored)",
    )


@operator_app.command("role")
@handles_errors
def operator_role(
    name: str = typer.Argument(..., help="An existing operator."),
    role: str = typer.Argument(..., help="admin or agent; applies at the operator's next action."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Change an operator's role."""
    name = name.strip().lower()
    _store().set_operator_role(name, role)
    emit({"name": name, "role": role}, as_json, f"operator {name} is now {role}")


@operator_app.command("remove")
@handles_errors
def operator_remove(
    name: str = typer.Argument(..., help="An existing operator (not the last admin)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Remove an account; its past replies keep the name, its sessions end at its next action."""
    from assistant.store.accounts import BOOTSTRAP_OPERATOR, remove_operator

    name = name.strip().lower()
    recreated = BOOTSTRAP_OPERATOR if get_config().app.operator_token else None
    remove_operator(_store(), name, by="command line", recreated=recreated)
    emit({"name": name, "removed": True}, as_json, f"operator {name} removed")


@operator_app.command("password")
@handles_errors
def operator_password(
    name: str = typer.Argument(..., help="An existing operator."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Give an operator a new generated password (printed once); their open consoles sign out."""
    from assistant.store.accounts import reset_password

    name = name.strip().lower()
    password = reset_password(_store(), name, by="command line")
    emit({"name": name, "password": password}, as_json, f"new password for {name}: {password}\n(shown once)")


@operator_app.command("list")
@handles_errors
def operator_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Operator names."""
    names = _store().operator_names()
    emit(names, as_json, "\n".join(names) or "(no operators yet: loopdesk operator add NAME)")


@report_app.command("daily")
@handles_errors
def report_daily(
    day: Optional[str] = typer.Option(None, help="YYYY-MM-DD (default: today, UTC)."),
    fmt: str = typer.Option("markdown", "--format", help="markdown or csv when not --json."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Replies, thumbs up/down share, escalation rate, negative share and p50 latency for a day,
    with the 7 days before and any alert; then per operator the conversations handed to a person that
    day, median first response, median resolution and satisfaction (markdown and --json)."""
    from assistant.web.console import stats as console_stats

    try:
        when = date.fromisoformat(day) if day else None
    except ValueError:
        raise InputError("--day: use YYYY-MM-DD")
    data = console_stats.report(_store(), when)
    rows = data["previous_7_days"] + [data["today"]]
    if fmt == "csv":
        table = console_stats.report_csv(rows)
    else:  # the team's numbers (per operator: handled, first response, resolution, satisfaction) follow
        from assistant.web.console.team_stats import report_markdown as team_markdown

        table = console_stats.report_markdown(rows) + "\n" + team_markdown(data["team"])
    emit(data, as_json, table + "".join(f"\nALERT: {a}" for a in data["alerts"]))


def _age(text: str):
    import re
    from datetime import datetime, timedelta, timezone

    m = re.fullmatch(r"\s*(\d+)\s*([dhw])\s*", text or "")
    if not m:
        raise InputError("--older-than: a number of days, hours or weeks, e.g. 90d, 12h, 8w")
    n, unit = int(m.group(1)), m.group(2)
    try:
        age = {"d": timedelta(days=n), "h": timedelta(hours=n), "w": timedelta(weeks=n)}[unit]
        return datetime.now(timezone.utc) - age
    except (OverflowError, ValueError):  # past year 1: nothing is that old
        raise InputError(f"--older-than {text.strip()} reaches back before the year 1: give a smaller age") from None


@store_app.command("purge")
@handles_errors
def store_purge(
    older_than: str = typer.Option(..., "--older-than", help="e.g. 90d: conversations idle that long."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count only."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Delete conversations (with their turns, ratings, labels, handoffs) idle for longer than the age."""
    store = _store()
    ids = store.conversations_before(_age(older_than))
    counts = {"conversations": len(ids)} if dry_run else store.erase_conversations(ids)
    emit(
        {"dry_run": dry_run, **counts},
        as_json,
        ("would delete " if dry_run else "deleted ") + ", ".join(f"{v} {k}" for k, v in counts.items()),
    )


@store_app.command("erase")
@handles_errors
def store_erase(
    conversation: Optional[str] = typer.Option(None, help="A conversation id."),
    email: Optional[str] = typer.Option(None, help="A customer's e-mail: every conversation with it."),
    exports: list[str] = typer.Option(
        [],
        "--exports",
        help="Also erase from exports here (an export directory, or a directory of them; repeatable). "
        "The console's exports (<home>/datasets) are always checked.",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Right to erasure: delete one conversation, or every conversation of a customer e-mail, from the
    database, the spool and every exported dataset that holds it."""
    from assistant.turn.handoff import valid_email

    if bool(conversation) == bool(email):
        raise InputError("give --conversation ID or --email ADDRESS")
    if email and not valid_email(email.strip()):
        raise InputError("--email: that does not look like an e-mail address")
    from assistant.store.spool import Spool

    cfg = get_config()
    store = _store()
    ids = [conversation] if conversation else store.conversations_mentioning((email or "").strip())
    # Exports first: once the rows are gone, an e-mail no longer finds its conversations' ids.
    if _export_eraser:
        found = _export_eraser[0](cfg, ids, exports) if ids else {"exports": [], "unchecked": []}
    else:
        found = {"exports": [], "unchecked": [{"path": "(all exports)", "why": "exports were not checked"}]}
    # Turns spooled while the database was down would come back at the next replay: erase them there too.
    spooled = Spool(cfg.spool_path).erase(ids, (email or "").strip())
    counts: dict[str, Any] = store.erase_conversations(ids)
    if conversation and not counts["conversations"] and not spooled and not found["exports"]:
        raise InputError(f"no conversation {conversation}")
    counts["spooled_conversations"] = len(spooled)
    text = ["deleted " + ", ".join(f"{v} {k}" for k, v in counts.items())]
    text += [
        f"removed {e['rows']} rows ({e['train']} train, {e['eval']} eval) from export {e['path']}"
        for e in found["exports"]
    ]
    text += [f"NOT CHECKED: export {u['path']}: {u['why']}" for u in found["unchecked"]]
    emit({**counts, "exports": found["exports"], "exports_unchecked": found["unchecked"]}, as_json, "\n".join(text))


@store_app.command("replay-spool")
@handles_errors
def store_replay(as_json: bool = typer.Option(False, "--json")) -> None:
    """Write the turns spooled while the database was unavailable (the app also does this itself)."""
    from assistant.store.spool import Spool

    cfg = get_config()
    spool = Spool(cfg.spool_path)
    written = spool.replay(_store())
    emit({"written": written, "left": spool.size()}, as_json, f"wrote {written}, {spool.size()} left")


@api_key_app.command("create")
@handles_errors
def api_key_create(
    name: str = typer.Argument(..., help="The client: a shop's site, a help desk, an app."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """A key for an HTTP API client; printed once (only its SHA-256 is stored)."""
    from assistant.web.http_api import create_api_key

    key = create_api_key(_store(), name)
    emit(
        {"name": name.strip().lower(), "key": key}, as_json, f"API key for {name.strip().lower()}: {key}\n(shown once)"
    )


@api_key_app.command("list")
@handles_errors
def api_key_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Names of the clients with a key."""
    names = _store().api_key_names()
    emit(names, as_json, "\n".join(names) or "(no API keys: loopdesk api-key create NAME)")


@api_key_app.command("revoke")
@handles_errors
def api_key_revoke(
    name: str = typer.Argument(..., help="The client whose key stops working now."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Revoke a client's key: its requests get 401 from now on (its conversations stay stored)."""
    key = name.strip().lower()
    if not _store().revoke_api_key(key):
        raise InputError(f"no API key named {key!r} (loopdesk api-key list)")
    emit({"name": key, "revoked": True}, as_json, f"revoked the API key of {key}")
