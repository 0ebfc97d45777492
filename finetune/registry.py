"""The adapter registry: list adapters, promote a generator adapter (only if it beats the live one),
roll back. The running app follows `live.json` (see `assistant.serving.live_adapter`).

    loopdesk adapters list --json
    loopdesk finetune promote VERSION [--force --reason TEXT]
    loopdesk finetune rollback
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from assistant.serving.live_adapter import live_record, read_live, write_live
from assistant.errors import AdapterError
from assistant.serving.transformers_generator import check_adapter_dir

log = logging.getLogger("loopdesk.registry")


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def list_adapters(registry: Path, tagger_dirs: dict[str, Path | None]) -> list[dict]:
    record = read_live(registry)
    live = record.get("version")
    # The latest promotion of each version: who, when, why (an override's reason included).
    promoted = {h.get("version"): h for h in record.get("history", []) if isinstance(h, dict)}
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
                    "promoted": promoted.get(d.name),
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


def weights_hash(adapter_dir: Path | None) -> str | None:
    """sha256 of an adapter's weights (what an evaluation compared against); None for the base model."""
    if adapter_dir is None:
        return None
    import hashlib

    path = adapter_dir / "adapter_model.safetensors"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def provenance(live_dir: Path | None, data_hash: str | None = None, questions_hash: str | None = None) -> dict:
    """What an evaluation compared against, saved in its eval.json: the adapter live then (None: the
    base model) and a hash of its weights, the data and question set hashes, and when."""
    return {
        "version": live_dir.name if live_dir is not None else None,
        "weights": weights_hash(live_dir),
        "data_hash": data_hash,
        "questions_hash": questions_hash,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _name(version: str | None) -> str:
    return version if version else "the base model"


def check_evaluation(registry: Path, version: str, current: str | None, ev: dict, questions_hash: str | None) -> str:
    """Why `version` may replace `current`, from an evaluation made against `current` itself; raises
    AdapterError, in plain words, when the evaluation is stale or the candidate is not measurably better."""
    from finetune.gate import describe

    prov = ev.get("compared_with")
    if not ev or prov is None:
        raise AdapterError(f"{version} has no evaluation against the adapter live now ({_name(current)}): evaluate it")
    if prov.get("version") != current:
        raise AdapterError(
            f"{version} was evaluated against {_name(prov.get('version'))}; {_name(current)} is live now: "
            "evaluate again"
        )
    if current and prov.get("weights") != weights_hash(registry / current):
        raise AdapterError(f"{current}'s weights changed since {version} was evaluated against it: evaluate again")
    gate = ev.get("answer_gate")
    if questions_hash and gate and prov.get("questions_hash") != questions_hash:
        raise AdapterError(
            f"{version} was evaluated on another question set than the one configured now: evaluate again"
        )
    if gate:
        who = f"the live adapter {current}" if current else "the base model"
        if not gate.get("better"):
            raise AdapterError(f"{version} is not measurably better: {describe(gate, who)}")
        return "better: " + describe(gate, who)
    # No question set: the held-out loss of the same evaluation decides.
    theirs = ev.get("live_loss") if current else ev.get("base_loss")
    if theirs is None or "adapter_loss" not in ev:
        raise AdapterError(f"{version}'s evaluation has no loss of {_name(current)} to compare with: evaluate again")
    if not ev["adapter_loss"] < theirs:
        raise AdapterError(f"{version} does not beat {_name(current)}: loss {ev['adapter_loss']} vs {theirs}")
    return f"loss {ev['adapter_loss']} < {theirs} ({_name(current)})"


def promote(
    registry: Path,
    version: str,
    base_model_id: str,
    force: bool = False,
    deploy=None,
    prepare=None,
    reason: str = "",
    by: str = "",
    live_now=None,
    questions_hash: str | None = None,
) -> dict:
    """Make `version` live when its evaluation, made against the adapter live *now*, shows it
    measurably better (`check_evaluation`); `force` (an admin's override) needs a `reason`, recorded
    with `by` in the live record's history.

    `live_now()` is the live version every replica follows (the database record; live.json when
    None). `deploy(record, expected)` changes that record only if it still names `expected`
    (compare-and-set) and returns False otherwise: of two promotions at once, one wins.
    `prepare(adapter_dir)` first writes what the serving engine needs (llama.cpp's GGUF LoRA), so no
    replica switches to an adapter it cannot load."""
    candidate = registry / version
    check_adapter_dir(candidate, base_model_id)  # missing files, corrupt weights, other base model
    kind = _json(candidate / "adapter_config.json").get("peft_type", "LORA")
    if kind != "LORA":
        raise AdapterError(
            f"{version} is a {kind} adapter: only LoRA adapters are promoted (the serving engines "
            "swap LoRA adapters at run time); it stays in the registry for comparison"
        )
    manifest = _json(candidate / "adapter.json")
    if manifest.get("kind", "generator") != "generator":
        raise AdapterError(f"{version} is a {manifest.get('kind')} adapter, not a generator adapter")
    live = read_live(registry)
    current = live_now() if live_now is not None else live.get("version")
    if current == version:
        return {"live": version, "changed": False, "reason": "already live"}
    if force:
        if not reason.strip():
            raise AdapterError("promoting without a passing evaluation needs a reason (it is kept in the history)")
        why = f"override by {by or 'an admin'}: {reason.strip()}"
    else:
        why = check_evaluation(registry, version, current, _json(candidate / "eval.json"), questions_hash)
    previous = [v for v in live.get("previous", []) if v] + ([current] if current else [])
    history = list(live.get("history", []))[-49:] + [
        {
            "version": version,
            "replaced": current,
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "by": by or None,
            "reason": why,
            "forced": force,
        }
    ]
    if prepare is not None:
        prepare(candidate)
    record = live_record(version, previous, history)
    if deploy is not None and deploy(record, current) is False:
        raise AdapterError(
            f"another promotion changed the live adapter while {version} was being promoted: "
            "look at the adapters again (and evaluate against the new live one)"
        )
    write_live(registry, version, previous, history=history)
    log.info("promoted %s (was %s): %s", version, current, why)
    return {"live": version, "previous": current, "changed": True, "reason": why}


def rollback(registry: Path, deploy=None, prepare=None, live_now=None, by: str = "") -> dict:
    """Make the previous live adapter live again (the base model when there is none), by the same
    compare-and-set as `promote`; recorded in the history."""
    live = read_live(registry)
    current = live_now() if live_now is not None else live.get("version")
    previous = list(live.get("previous", []))
    # Versions deleted from the registry since they were live cannot come back; skip them.
    while previous and not (registry / previous[-1]).is_dir():
        previous.pop()
    if not previous and current is None:
        raise AdapterError("nothing to roll back: no adapter is live")
    target = previous.pop() if previous else None
    history = list(live.get("history", []))[-49:] + [
        {
            "version": target,
            "replaced": current,
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "by": by or None,
            "reason": "rollback",
            "forced": False,
        }
    ]
    if prepare is not None and target is not None:
        prepare(registry / target)
    record = live_record(target, previous, history)
    if deploy is not None and deploy(record, current) is False:
        raise AdapterError("another promotion changed the live adapter meanwhile: look at the adapters again")
    write_live(registry, target, previous, history=history)
    log.info("rolled back from %s to %s", current, target)
    return {"live": target, "previous": current}


class SharedLive:
    """The live-adapter record every replica follows (`Store.deployed("live_adapter")`), with the
    registry's live.json standing in until a first promotion is recorded in the database."""

    KEY = "live_adapter"

    def __init__(self, store, registry: Path) -> None:
        self.store, self.registry = store, registry

    def version(self) -> str | None:
        record = self.store.deployed(self.KEY)
        return (record if record is not None else read_live(self.registry)).get("version")

    def compare_and_set(self, record: dict, expected: str | None) -> bool:
        """Record `record` only if the database still names `expected` (no record yet: nothing to race with
        but another first promotion, which the insert settles)."""
        in_db = expected if self.store.deployed(self.KEY) is not None else None
        return self.store.deploy_if(self.KEY, record, in_db)
