"""Helpers every `loopdesk` sub-CLI shares (assistant, index, finetune, console): the effective
config from the global `--config`/`--set` options, JSON-or-text output, and clean failures
(`@handles_errors` under each `@app.command`: a LoopdeskError becomes "error: ..." on stderr, `{"error"}`
with `--json`, exit code 2 — never a traceback).
Its own module so the CLIs import it, not each other (no import circle).
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable, TypeVar

import typer

from assistant.config import load_config
from assistant.errors import LoopdeskError

STATE: dict[str, Any] = {"config": None, "set": []}


def get_config(**flags: Any):
    overrides: dict[str, Any] = {}
    for item in STATE["set"]:
        key, sep, value = item.partition("=")
        if not sep:
            raise LoopdeskError(f"--set expects section.field=value, got {item!r}")
        overrides[key.strip()] = value
    overrides.update({k: v for k, v in flags.items() if v is not None})
    return load_config(STATE["config"], overrides)


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=1, default=str))
    else:
        print(text if text is not None else json.dumps(data, ensure_ascii=False, indent=1, default=str))


def fail(exc: Exception, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps({"error": str(exc)}))
    print(f"error: {exc}", file=sys.stderr)
    raise typer.Exit(2)


F = TypeVar("F", bound=Callable[..., Any])


def handles_errors(command: F) -> F:
    """A command's LoopdeskError, wherever it is raised, ends the command through `fail` (its
    `as_json` flag decides the form). Typer reads the wrapped signature (functools.wraps)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except LoopdeskError as exc:
            fail(exc, bool(kwargs.get("as_json", False)))

    return wrapper  # type: ignore[return-value]
