"""Average several checkpoints of one tagger into a single tagger ("model soup", Wortsman et al. 2022).

    loopdesk finetune average-taggers --out models/taggers/sentiment \
        var/sentiment_v4/best var/sentiment_v4/checkpoint var/sentiment_v5/best var/sentiment_v5/checkpoint \
        --calibrate ../shared/data/airline_sentiment/dev_1000.csv

Checkpoints of one training lineage (each run warm-started from the previous one) sit in one basin of
the loss, so the element-wise mean of their LoRA factors and heads is itself a good model, usually
better on data unlike the training set than any single member. Costs nothing at inference: the
result is one adapter of the same rank and size. Members must share task, labels, LoRA rank and
target modules; anything else is refused with a clear error. Weights are read and written as
safetensors only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from assistant.errors import AdapterError

_WEIGHTS = ("adapter_model.safetensors", "head.safetensors")


def _member(d: Path) -> tuple[dict, dict]:
    """(adapter config, tagger meta) of one checkpoint dir; a checkpoint without tagger.json borrows its run's."""
    try:
        conf = json.loads((d / "adapter_config.json").read_text())
        meta_path = d / "tagger.json" if (d / "tagger.json").is_file() else d.parent / "tagger.json"
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise AdapterError(f"{d}: not a tagger checkpoint ({exc})") from exc
    for name in _WEIGHTS:
        if not (d / name).is_file():
            raise AdapterError(f"{d}: {name} is missing")
    if (d / "progress.json").is_file():  # a resumable checkpoint: report its own dev score, not the run's best
        try:
            progress = json.loads((d / "progress.json").read_text())
        except (OSError, ValueError) as exc:
            raise AdapterError(f"{d}/progress.json: {exc}") from exc
        own = [h for h in progress.get("history", []) if h.get("step") == progress.get("step")]
        meta = dict(meta, dev=own[-1] if own else None)
    return conf, meta


def average_taggers(
    sources: list[str], out: str, calibrate_file: str | None = None, method: str = "prior", home: Path | None = None
) -> dict:
    """Write the mean of `sources` to `out` (with tagger.json); refit the sentiment calibration if asked.
    `home`: where bundled models are cached (the CLI passes the configured one)."""
    from safetensors.torch import load_file, save_file

    if len(sources) < 2:
        raise AdapterError("average needs at least two checkpoints")
    dirs = [Path(s) for s in sources]
    members = [_member(d) for d in dirs]
    conf0, meta0 = members[0]
    for d, (conf, meta) in zip(dirs[1:], members[1:]):
        if meta.get("task") != meta0.get("task") or meta.get("labels") != meta0.get("labels"):
            raise AdapterError(f"{d}: a {meta.get('task')} tagger cannot be averaged with a {meta0.get('task')} one")
        if conf.get("r") != conf0.get("r") or sorted(conf.get("target_modules") or []) != sorted(
            conf0.get("target_modules") or []
        ):
            raise AdapterError(f"{d}: LoRA rank/modules differ from {dirs[0]}")
    target = Path(out)
    tmp = target.with_name(target.name + ".avg-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in _WEIGHTS:
        states = [load_file(str(d / name)) for d in dirs]
        keys = set(states[0])
        if any(set(s) != keys or any(s[k].shape != states[0][k].shape for k in keys) for s in states):
            raise AdapterError(f"{name}: tensors differ between the checkpoints")
        # Sum in float32 then divide: exact mean, independent of member order up to rounding.
        save_file(
            {
                k: (sum(s[k].float() for s in states) / len(states)).to(states[0][k].dtype).contiguous()  # type: ignore[union-attr]
                for k in sorted(keys)
            },
            str(tmp / name),
        )
    shutil.copy2(dirs[0] / "adapter_config.json", tmp / "adapter_config.json")
    meta = {k: v for k, v in meta0.items() if k not in {"calibration", "dev", "history"}}
    meta["averaged_from"] = [str(d) for d in dirs]
    meta["member_dev"] = [m.get("dev") for _, m in members]
    (tmp / "tagger.json").write_text(json.dumps(meta, indent=1))
    if calibrate_file and meta.get("task") == "sentiment":
        # Fit before anything is moved: a bad calibration file leaves `out` as it was.
        from assistant.config import Config
        from assistant.models import resolve
        from finetune.taggers import calibrate_dir

        backbone = resolve(
            meta.get("train_config", {}).get("backbone", "bundled:all-minilm-l6-v2"), home or Config().home
        )
        try:
            meta["calibration"] = calibrate_dir(tmp, backbone.location, calibrate_file, method)
        finally:
            if "calibration" not in meta:
                shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "tagger.json").write_text(json.dumps(meta, indent=1))
    if target.exists():
        for leftover in ("best", "checkpoint"):  # a soup has no training state of its own
            shutil.rmtree(target / leftover, ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)
    for f in tmp.iterdir():
        shutil.move(str(f), target / f.name)
    shutil.rmtree(tmp, ignore_errors=True)
    return meta
