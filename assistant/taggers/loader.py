"""Load the shipped taggers onto one shared MiniLM backbone.

`open_taggers(cfg)` opens every kind in `assistant.taggers.registry`; `load_taggers(cfg)` returns
(sentiment, ner, problems). A tagger that cannot be loaded (not configured, its directory missing
or corrupt) is an `Unavailable` carrying its own reason, also listed in `problems` for the
console's banner, so the app keeps serving.
"""

from __future__ import annotations

from typing import Any

from assistant.config import Config, local_path
from assistant.errors import LoopdeskError
from assistant.taggers.registry import kinds
from assistant.unavailable import Unavailable


def open_taggers(cfg: Config, backbone: Any = None) -> tuple[dict[str, Any], list[str]]:
    """Every registered tagger kind on one backbone: {name: tagger or Unavailable}, problems.
    `backbone`: an already loaded one (tests pass a fake); else the configured embedder's MiniLM."""
    all_kinds = kinds()
    wanted = {name: local_path(kind.directory(cfg)) for name, kind in all_kinds.items()}
    missing: dict[str, Unavailable] = {}
    if not any(wanted.values()):
        missing = {n: Unavailable(all_kinds[n].label, "not configured") for n in wanted}
        return dict(missing), [str(m) for m in missing.values()]
    if backbone is None:
        from assistant.models import resolve
        from assistant.taggers.network import TaggerBackbone

        try:
            backbone = TaggerBackbone(resolve(cfg.models.embedder, cfg.home).location)
        except (LoopdeskError, OSError) as exc:
            missing = {n: Unavailable(all_kinds[n].label, f"its backbone does not load ({exc})") for n in wanted}
            return dict(missing), [str(m) for m in missing.values()]
    loaded = {}
    for name, directory in wanted.items():
        if directory is None:
            missing[name] = Unavailable(all_kinds[name].label, "not configured")
            continue
        try:
            loaded[name] = backbone.attach(name, directory)
        except LoopdeskError as exc:
            missing[name] = Unavailable(all_kinds[name].label, str(exc))
    taggers: dict[str, Any] = {}
    for name in wanted:
        if name in loaded:
            try:
                taggers[name] = all_kinds[name].make(backbone, loaded[name], cfg)
                continue
            except LoopdeskError as exc:
                missing[name] = Unavailable(all_kinds[name].label, str(exc))
        taggers[name] = missing[name]
    # A tagger that loaded may still miss a part (the sentiment tagger's upset model): said too.
    extra = [p for t in taggers.values() for p in getattr(t, "problems", None) or []]
    return taggers, [str(m) for m in missing.values()] + extra


def load_taggers(cfg: Config):
    """(sentiment, ner, problems): the two taggers the turn uses, from `open_taggers`."""
    taggers, problems = open_taggers(cfg)
    return taggers["sentiment"], taggers["ner"], problems
