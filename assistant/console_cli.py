"""`loopdesk operator ...` and `loopdesk report ...`: console accounts and the daily report.

    loopdesk operator add dana [--password-stdin] --json   # {"name": "dana", "password": "..."}
    loopdesk operator list --json
    loopdesk report daily [--day 2026-11-29] [--format json|csv|markdown] --json
"""

from __future__ import annotations

import sys
from datetime import date
from typing import Optional

import typer

from assistant.cli_common import emit, fail, get_config
from assistant.errors import InputError, LoopdeskError

operator_app = typer.Typer(help="Operator accounts for the console (/operator).", no_args_is_help=True)
report_app = typer.Typer(help="Reports over the conversation store.", no_args_is_help=True)


def _store():
    from assistant.store import Store

    cfg = get_config()
    return Store(cfg.store_url, cfg.store.retries)


@operator_app.command("add")
def operator_add(name: str = typer.Argument(..., help="Lowercase name shown to customers and in the logs."),
                 password_stdin: bool = typer.Option(False, "--password-stdin",
                                                     help="Read the password from standard input (else one is generated)."),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Create an operator account; prints the password once (only its hash is stored)."""
    from assistant.accounts import create_operator

    try:
        given = sys.stdin.readline().rstrip("\n") if password_stdin else None
        password = create_operator(_store(), name, given)
    except LoopdeskError as exc:
        fail(exc, as_json)
    emit({"name": name.strip().lower(), "password": password}, as_json,
         f"operator {name.strip().lower()} created; password: {password}\n(shown once; only a hash is stored)")


@operator_app.command("list")
def operator_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Operator names."""
    try:
        names = _store().operator_names()
    except LoopdeskError as exc:
        fail(exc, as_json)
    emit(names, as_json, "\n".join(names) or "(no operators yet: loopdesk operator add NAME)")


@report_app.command("daily")
def report_daily(day: Optional[str] = typer.Option(None, help="YYYY-MM-DD (default: today, UTC)."),
                 fmt: str = typer.Option("markdown", "--format", help="markdown or csv when not --json."),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Replies, thumbs up/down share, escalation rate, negative share and p50 latency for a day,
    with the 7 days before and any alert."""
    from assistant import console_stats

    try:
        when = date.fromisoformat(day) if day else None
    except ValueError:
        fail(InputError("--day: use YYYY-MM-DD"), as_json)
    try:
        data = console_stats.report(_store(), when)
    except LoopdeskError as exc:
        fail(exc, as_json)
    rows = data["previous_7_days"] + [data["today"]]
    table = console_stats.report_csv(rows) if fmt == "csv" else console_stats.report_markdown(rows)
    emit(data, as_json, table + "".join(f"\nALERT: {a}" for a in data["alerts"]))
