"""Where tagger kinds plug in: sentiment and NER today; an intent classifier would be one more.

A kind is one module that defines `KIND = TaggerKind(...)` and one line in `_BUILTIN` below (the
module path, imported when taggers are opened). Every kind is a LoRA adapter plus head on the
shared MiniLM backbone (`assistant.taggers.network`), trained by `finetune taggers`, so a kind says
only where its adapter directory is configured and how to wrap the attached head as a tagger.

    python -m assistant.taggers.registry      # the kinds and where each is configured
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from assistant.config import Config
from assistant.plugins import Registry

_BUILTIN: dict[str, str] = {
    "sentiment": "assistant.taggers.sentiment",
    "ner": "assistant.taggers.ner",
}
_REGISTRY: Registry["TaggerKind"] = Registry(_BUILTIN, "KIND")


@dataclass(frozen=True)
class TaggerKind:
    """`name` is the task (the head's name on the backbone); `label` what the console calls it;
    `directory(cfg)` its configured adapter directory ("" when off); `make(backbone, meta, cfg)` the
    tagger over the attached head (raises LoopdeskError when the head is unusable)."""

    name: str
    label: str
    directory: Callable[[Config], str]
    make: Callable[[Any, dict, Config], Any]


def register(kind: TaggerKind) -> TaggerKind:
    """Add (or replace) one; tests register fakes this way."""
    return _REGISTRY.register(kind.name, kind)


def unregister(name: str) -> None:
    _REGISTRY.unregister(name)


def kinds() -> dict[str, TaggerKind]:
    return _REGISTRY.all()


if __name__ == "__main__":
    from assistant.config import load_config

    c = load_config()
    for n, k in kinds().items():
        print(f"{n:10} {k.label:18} {k.directory(c) or '(off)'}")
