"""Load the shipped taggers onto one shared MiniLM backbone.

`load_taggers(cfg)` returns (sentiment, ner, problems): either tagger may be None (not configured,
or its directory missing or corrupt), with the reason in `problems`, so the app keeps serving.
"""

from __future__ import annotations

from assistant.config import Config, local_path
from assistant.errors import LoopdeskError


def load_taggers(cfg: Config):
    from assistant.models import resolve
    from assistant.ner import TransformerNer
    from assistant.sentiment import TransformerSentiment
    from assistant.tagger_model import TaggerBackbone

    problems: list[str] = []
    wanted = {"sentiment": local_path(cfg.models.sentiment), "ner": local_path(cfg.models.ner)}
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
    sentiment = None
    if "sentiment" in loaded:
        try:
            sentiment = TransformerSentiment(backbone, loaded["sentiment"], cfg.policy.sentiment_prior)
        except LoopdeskError as exc:
            problems.append(f"sentiment tagger unavailable: {exc}")
    ner = TransformerNer(backbone, loaded["ner"]) if "ner" in loaded else None
    return sentiment, ner, problems
