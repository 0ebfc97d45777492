"""The adapter registry: list adapters, promote a generator adapter (only if it beats the live one),
roll back. The running app follows `live.json` (see `assistant.serving.live_adapter`).

    loopdesk adapters list --json
    loopdesk finetune promote VERSION [--force]
    loopdesk finetune rollback
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from assistant.serving.live_adapter import read_live, write_live
from assistant.errors import AdapterError
from assistant.serving.transformers_generator import check_adapter_dir

log = logging.getLogger("loopdesk.registry")


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def list_adapters(registry: Path, tagger_dirs: dict[str, Path | None]) -> list[dict]:
    live = read_live(registry).get("version")
    out = []
    if registry.is_dir():
        for d in sorted(p for p in registry.iterdir() if p.is_dir() and not p.name.startswith(".")):
            m = _json(d / "adapter.json")
            ev = _json(d / "eval.json")
            out.append(
                {
                    "version": d.name,
                    "kind": m.get("kind", "generator"),
                    "base_model": m.get("base_model"),
                    "created": m.get("created"),
                    "metrics": {
                        **m.get("metrics", {}),
                        **{k: v for k, v in ev.items() if k.endswith(("_loss", "_rougeL", "loss_ratio"))},
                    },
                    "live": d.name == live,
                    "path": str(d),
                    "valid": bool(m),
                }
            )
    for kind, tagger_dir in tagger_dirs.items():
        if tagger_dir and (tagger_dir / "tagger.json").is_file():
            m = _json(tagger_dir / "tagger.json")
            created = (
                m.get("created")
                or datetime.fromtimestamp((tagger_dir / "tagger.json").stat().st_mtime, timezone.utc).isoformat()
            )
            out.append(
                {
                    "version": tagger_dir.name,
                    "kind": kind,
                    "base_model": m.get("backbone"),
                    "created": created,
                    "metrics": m.get("dev") or {},
                    "live": True,
                    "path": str(tagger_dir),
                    "valid": True,
                }
            )
    return out


def promote(registry: Path, version: str, base_model_id: str, force: bool = False, deploy=None, prepare=None) -> dict:
    """Make `version` live if it is sound and its eval beats the live adapter (or the base model).
    `prepare(adapter_dir)` first writes what the serving engine needs (llama.cpp's GGUF LoRA), so no
    replica switches to an adapter it cannot load; `deploy(record)` also records it where every
    replica looks (`Store.deploy("live_adapter", ...)`)."""
    candidate = registry / version
    check_adapter_dir(candidate, base_model_id)  # missing files, corrupt weights, other base model
    manifest = _json(candidate / "adapter.json")
    if manifest.get("kind", "generator") != "generator":
        raise AdapterError(f"{version} is a {manifest.get('kind')} adapter, not a generator adapter")
    live = read_live(registry)
    current = live.get("version")
    if current == version:
        return {"live": version, "changed": False, "reason": "already live"}
    ev = _json(candidate / "eval.json")
    reason = "forced"
    if not force and "adapter_answer_accuracy" in ev:
        reason = _answer_gate(registry, version, current, ev)
    elif not force:
        if "adapter_loss" not in ev:
            raise AdapterError(f"{version} has no evaluation: run `loopdesk finetune eval --adapter {version}` first")
        if current:
            live_loss = ev.get("live_loss")
            if live_loss is None:
                live_ev = _json(registry / current / "eval.json")
                if live_ev.get("data_hash") != ev.get("data_hash"):
                    raise AdapterError(
                        f"{version} was not evaluated against the live adapter {current}; "
                        f"run the eval again (it compares with the live adapter)"
                    )
                live_loss = live_ev.get("adapter_loss")
            if not ev["adapter_loss"] < live_loss:
                raise AdapterError(
                    f"{version} does not beat the live adapter {current}: "
                    f"loss {ev['adapter_loss']} vs {live_loss} (use --force to override)"
                )
            reason = f"loss {ev['adapter_loss']} < live {live_loss}"
        else:
            if not ev["adapter_loss"] < ev["base_loss"]:
                raise AdapterError(
                    f"{version} does not beat the base model: loss {ev['adapter_loss']} vs {ev['base_loss']}"
                )
            reason = f"loss {ev['adapter_loss']} < base {ev['base_loss']}"
    previous = list(live.get("previous", [])) + ([current] if current else [])
    if prepare is not None:
        prepare(candidate)
    record = write_live(registry, version, previous)
    if deploy is not None:
        deploy(record)
    log.info("promoted %s (was %s): %s", version, current, reason)
    return {"live": version, "previous": current, "changed": True, "reason": reason}


def _answer_gate(registry: Path, version: str, current: str | None, ev: dict) -> str:
    """Answer accuracy decides (a lower loss did not mean better answers): the candidate must answer
    at least as well as the live adapter (or the base model) on the same question set."""
    mine = ev["adapter_answer_accuracy"]
    if current:
        theirs = ev.get("live_answer_accuracy")
        if theirs is None:
            live_ev = _json(registry / current / "eval.json")
            if (
                live_ev.get("answer_questions_hash") != ev.get("answer_questions_hash")
                or "adapter_answer_accuracy" not in live_ev
            ):
                raise AdapterError(
                    f"{version} was not compared with the live adapter {current} on answer accuracy; "
                    f"run `loopdesk finetune eval --adapter {version}` again"
                )
            theirs = live_ev["adapter_answer_accuracy"]
        who = f"the live adapter {current}"
    else:
        theirs, who = ev.get("base_answer_accuracy"), "the base model"
        if theirs is None:
            raise AdapterError(
                f"{version} has no answer accuracy of the base model to compare with; run the eval again"
            )
    if mine < theirs:
        raise AdapterError(
            f"{version} answers worse than {who}: answer accuracy {mine} vs {theirs} "
            f"on {ev.get('answer_questions')} (use --force to override)"
        )
    return f"answer accuracy {mine} >= {theirs} ({who})"


def rollback(registry: Path, deploy=None, prepare=None) -> dict:
    live = read_live(registry)
    previous = list(live.get("previous", []))
    # Versions deleted from the registry since they were live cannot come back; skip them.
    while previous and not (registry / previous[-1]).is_dir():
        previous.pop()
    if not previous:
        if live.get("version") is None:
            raise AdapterError("nothing to roll back: no adapter is live")
        record = write_live(registry, None, [])
        if deploy is not None:
            deploy(record)
        return {"live": None, "previous": live.get("version")}
    target = previous.pop()
    if prepare is not None:
        prepare(registry / target)
    record = write_live(registry, target, previous)
    if deploy is not None:
        deploy(record)
    log.info("rolled back from %s to %s", live.get("version"), target)
    return {"live": target, "previous": live.get("version")}
