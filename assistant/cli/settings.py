"""`loopdesk settings ...`: the store owner's settings, as the console's Settings tab changes them
(`assistant.settings`: stored in the database, laid over the config file, used by every running replica
from its next page load or message, no restart).

    loopdesk settings show --json                          # {"settings": [{"key", "value", "source", ...}]}
    loopdesk settings set business_name "Harbor Bank" --json
    loopdesk settings set supported_languages en,fr --json
    loopdesk settings set colour "#0f766e" --json
    loopdesk settings reset greeting --json                # back to the config file's value

Keys: business_name, greeting (empty: the built-in one), colour (#rrggbb), supported_languages
(comma-separated codes of en, fr, es, de, it, pt). An invalid value is refused with the reason (exit 2).
"""

from __future__ import annotations

import getpass

import typer

from assistant.cli.common import emit, get_config, handles_errors

settings_app = typer.Typer(
    help="The owner's settings (business name, greeting, colour, languages) over the config file.",
    no_args_is_help=True,
)


def _live():
    from assistant.build import open_store
    from assistant.settings import LiveSettings

    cfg = get_config()
    return LiveSettings(open_store(cfg), cfg)


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name (a container without an /etc/passwd entry)
        return "cli"


def _text(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        value = ",".join(r["value"]) if isinstance(r["value"], list) else r["value"]
        by = f" by {r['updated_by']}, {r['updated_at']}" if r["source"].startswith("settings") else ""
        lines.append(f"{r['key']:<20} {value!s:<40} {r['source']}{by}")
    return "\n".join(lines)


@settings_app.command("show")
@handles_errors
def settings_show(as_json: bool = typer.Option(False, "--json")) -> None:
    """Each setting in effect, where it comes from, and who changed it when."""
    rows = _live().rows()
    emit({"settings": rows}, as_json, _text(rows))


@settings_app.command("set")
@handles_errors
def settings_set(
    key: str = typer.Argument(..., help="business_name, greeting, colour or supported_languages."),
    value: str = typer.Argument(..., help='The value; languages as "en,fr".'),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Change one setting for every replica (validated first: nothing is stored when it is refused)."""
    live = _live()
    stored = live.set(key, value, _who())
    row = next(r for r in live.rows() if r["key"] == key)
    emit(row, as_json, f"{key} = {stored!r}")


@settings_app.command("reset")
@handles_errors
def settings_reset(
    key: str = typer.Argument(..., help="business_name, greeting, colour or supported_languages."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Use the config file's value again."""
    live = _live()
    live.reset(key, _who())
    row = next(r for r in live.rows() if r["key"] == key)
    emit(row, as_json, f"{key}: the config file's value ({row['value']!r}) again")
