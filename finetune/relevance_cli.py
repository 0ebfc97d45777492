"""`loopdesk finetune relevance-round | relevance-live | relevance-rollback`: the learning loop's round for
the learned relevance parts (`finetune/relevance_round.py`), from the store's own operator feedback.

    loopdesk finetune relevance-round --json             # build and judge a candidate; nothing changes
    loopdesk finetune relevance-round --promote --by dana --json   # and make it live if the gate says better
    loopdesk finetune relevance-live --json               # which model serves, who promoted it, the gate
    loopdesk finetune relevance-rollback --by dana --json
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer
from assistant.cli.common import handles_errors


def _out(data: dict, as_json: bool, text: str) -> None:
    print(json.dumps(data, indent=1, ensure_ascii=False, default=str) if as_json else text)


def _operator(by: str | None) -> str:
    import getpass

    return by or getpass.getuser()


@handles_errors
def round_cmd(
    promote: bool = typer.Option(False, "--promote", help="Make the candidate live when the gate finds it better."),
    by: Optional[str] = typer.Option(None, help="Who runs the round (recorded with a promotion)."),
    out: Optional[str] = typer.Option(None, help="Folder for the candidate (default <home>/relevance/round-<time>)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Retrain the decline threshold and the unit encoder from operator feedback; compare with the live model."""
    import index
    from assistant.build import EVAL, build_assistant
    from assistant.cli.common import get_config
    from assistant.config import local_path
    from assistant.errors import InputError
    from assistant.grounding.relevance import Relevance
    from finetune.answer_eval import load_questions
    from finetune.relevance_round import live_record, run_round, track
    from finetune.relevance_round import promote as promote_candidate

    cfg = get_config()
    assistant = build_assistant(cfg, index.open_for_config, EVAL)
    record = live_record(assistant.store) or {}
    live_file = Path(record["path"]) if record.get("path") else local_path(cfg.retrieval.relevance_model)
    if live_file is None:
        raise InputError("retrieval.relevance_model is empty: there is no relevance model to retrain")
    problem = Relevance.load(live_file).problem
    if problem:
        raise InputError(f"the live relevance model does not load ({problem}): fix it or roll back first")
    qpath = local_path(cfg.evaluation.answer_questions)
    if qpath is None or not qpath.is_file():
        raise InputError(
            f"the promotion questions {cfg.evaluation.answer_questions!r} are missing: the round's gate needs them"
        )
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    folder = Path(out) if out else Path(cfg.home) / "relevance" / f"round-{stamp}"
    result = run_round(
        cfg, assistant, live_file, folder, load_questions(qpath), report=lambda m: print(m, file=sys.stderr)
    )
    result["live"] = record.get("version") or "configured"
    result["promoted"] = False
    if promote and result["better"]:
        result["promoted"] = True
        result["record"] = promote_candidate(assistant.store, Path(result["candidate"]), _operator(by), result["gate"])
    result["tracked"] = track(cfg, result, _operator(by))["backend"]
    gate = result["gate"]
    text = (
        f"candidate {result['candidate']}\n"
        f"threshold {result['threshold']['live']} -> {result['threshold']['candidate']}; unit encoder: "
        f"{result['unit_encoder'].get('why') or str(result['unit_encoder'].get('pairs')) + ' pairs'}\n"
        f"gate: {gate['why']}\n"
        + ("promoted" if result["promoted"] else "not promoted" + ("" if promote else " (run with --promote)"))
    )
    _out(result, as_json, text)


@handles_errors
def live_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Which relevance model serves: a promoted round's (who, when, the gate) or the configured file."""
    from assistant.build import open_store
    from assistant.cli.common import get_config
    from finetune.relevance_round import live_record

    cfg = get_config()
    record = live_record(open_store(cfg)) or {}
    data = {**record, "version": record.get("version"), "configured": cfg.retrieval.relevance_model}
    text = (
        f"{data['version']}: {record.get('path')} (promoted by {record.get('by')} at {record.get('at')})"
        if data["version"]
        else f"the configured model: {cfg.retrieval.relevance_model}"
    )
    _out(data, as_json, text)


@handles_errors
def rollback_cmd(
    by: Optional[str] = typer.Option(None, help="Who rolls back (recorded)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Serve the relevance model that was live before the current one (every replica within seconds)."""
    from assistant.build import open_store
    from assistant.cli.common import get_config
    from finetune.relevance_round import rollback

    record = rollback(open_store(get_config()), _operator(by))
    _out(record, as_json, f"live relevance model: {record.get('version') or 'the configured one'}")


def register(app: typer.Typer) -> None:
    app.command("relevance-round")(round_cmd)
    app.command("relevance-live")(live_cmd)
    app.command("relevance-rollback")(rollback_cmd)
