"""Load the shipped taggers onto one shared MiniLM backbone.

`load_taggers(cfg)` returns (sentiment, ner, problems): either tagger may be None (not configured,
or its directory missing or corrupt), with the reason in `problems`, so the app keeps serving.
"""

from __future__ import annotations

from pathlib import Path

from assistant.config import Config
from assistant.errors import LoopdeskError


def _dir(ref: str) -> Path | None:
    if not ref:
        return None
    p = Path(ref).expanduser()
    if not p.is_absolute() and not p.exists():
        p = Path(__file__).resolve().parent.parent / ref  # relative to the repo, wherever we run from
    return p


def load_taggers(cfg: Config):
    from assistant.models import resolve
    from assistant.ner import TransformerNer
    from assistant.sentiment import TransformerSentiment
    from assistant.tagger_model import TaggerBackbone

    problems: list[str] = []
    wanted = {"sentiment": _dir(cfg.models.sentiment), "ner": _dir(cfg.models.ner)}
    if not any(wanted.values()):
        return None, None, ["taggers not configured"]
    try:
        backbone = TaggerBackbone(resolve(cfg.models.embedder, cfg.home).location)
    except (LoopdeskError, OSError) as exc:
        return None, None, [f"tagger backbone unavailable: {exc}"]
    loaded = {}
    for name, directory in wanted.items():
        if directory is None:
            problems.append(f"{name} tagger not configured")
            continue
        try:
            loaded[name] = backbone.attach(name, directory)
        except LoopdeskError as exc:
            problems.append(f"{name} tagger unavailable: {exc}")
    sentiment = TransformerSentiment(backbone, loaded["sentiment"]) if "sentiment" in loaded else None
    ner = TransformerNer(backbone, loaded["ner"]) if "ner" in loaded else None
    return sentiment, ner, problems
