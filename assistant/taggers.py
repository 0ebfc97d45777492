"""Load the shipped taggers onto one shared MiniLM backbone.

`load_taggers(cfg)` returns (sentiment, ner, problems): a tagger that cannot be loaded (not
configured, its directory missing or corrupt) is an `Unavailable` carrying its own reason, also
listed in `problems` for the console's banner, so the app keeps serving.
"""

from __future__ import annotations

from assistant.config import Config, local_path
from assistant.errors import LoopdeskError
from assistant.unavailable import Unavailable


_NAMES = {"sentiment": "sentiment tagger", "ner": "NER tagger"}


def load_taggers(cfg: Config):
    from assistant.models import resolve
    from assistant.ner import TransformerNer
    from assistant.sentiment import TransformerSentiment
    from assistant.tagger_model import TaggerBackbone

    wanted = {"sentiment": local_path(cfg.models.sentiment), "ner": local_path(cfg.models.ner)}
    missing: dict[str, Unavailable] = {}
    if not any(wanted.values()):
        missing = {n: Unavailable(_NAMES[n], "not configured") for n in wanted}
        return missing["sentiment"], missing["ner"], [str(m) for m in missing.values()]
    try:
        backbone = TaggerBackbone(resolve(cfg.models.embedder, cfg.home).location)
    except (LoopdeskError, OSError) as exc:
        missing = {n: Unavailable(_NAMES[n], f"its backbone does not load ({exc})") for n in wanted}
        return missing["sentiment"], missing["ner"], [str(m) for m in missing.values()]
    loaded = {}
    for name, directory in wanted.items():
        if directory is None:
            missing[name] = Unavailable(_NAMES[name], "not configured")
            continue
        try:
            loaded[name] = backbone.attach(name, directory)
        except LoopdeskError as exc:
            missing[name] = Unavailable(_NAMES[name], str(exc))
    sentiment: TransformerSentiment | Unavailable | None = missing.get("sentiment")
    if "sentiment" in loaded:
        try:
            sentiment = TransformerSentiment(backbone, loaded["sentiment"], cfg.policy.sentiment_prior)
        except LoopdeskError as exc:
            sentiment = missing["sentiment"] = Unavailable(_NAMES["sentiment"], str(exc))
    ner = TransformerNer(backbone, loaded["ner"]) if "ner" in loaded else missing["ner"]
    return sentiment, ner, [str(m) for m in missing.values()]
