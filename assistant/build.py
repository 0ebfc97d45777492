"""Compose an `Assistant` from a config: generator, store, taggers and an injected retriever.

The retriever comes from a factory the caller passes in (app.py and the CLI pass
`index.open_for_config`), so `assistant` never imports `index`.
"""

from __future__ import annotations

from typing import Callable

from assistant.serving.live_adapter import LiveAdapterWatcher
from assistant.config import Config, local_path
from assistant.errors import LoopdeskError
from assistant.turn.pipeline import Assistant
from assistant.taggers.pii import PiiRedactor
from assistant.serving.registry import open_generator
from assistant.store.spool import Spool
from assistant.store.store import Store
from assistant.types import Retriever
from assistant.unavailable import Unavailable


def open_store(cfg: Config) -> Store:
    """The conversation store of a config (every entry point opens it here)."""
    return Store(cfg.store_url, cfg.store.retries)


def build_assistant(
    cfg: Config, open_retriever: Callable[[Config], Retriever] | None = None, with_taggers: bool = True
) -> Assistant:
    from assistant.taggers.loader import load_taggers

    store = open_store(cfg)
    generator = open_generator(cfg)  # the engine registry picks and says why
    watcher = None
    registry = local_path(cfg.models.adapters_dir)
    if registry is not None:
        # The database record is what every replica follows; live.json until one exists.
        watcher = LiveAdapterWatcher(registry, generator, pointer=lambda: store.deployed("live_adapter"))
        watcher.refresh()  # loads the live adapter now; a corrupt one leaves the base model serving
    retriever, problem = None, None
    if open_retriever is not None:
        try:
            retriever = follow_deployment(open_retriever(cfg), store)
        except LoopdeskError as exc:
            problem = str(exc)
    sentiment, ner = Unavailable("sentiment tagger", "taggers disabled"), Unavailable("NER tagger", "taggers disabled")
    problems = ["taggers disabled"]
    if with_taggers:
        sentiment, ner, problems = load_taggers(cfg)
    return Assistant(
        cfg,
        generator,
        store,
        retriever,
        sentiment,
        ner,
        retriever_problem=problem,
        tagger_problems=problems,
        adapter_watcher=watcher,
        open_retriever=lambda c: follow_deployment(open_retriever(c), store) if open_retriever else None,
        spool=Spool(cfg.spool_path),
        redactor=PiiRedactor(cfg.store.redact_contact, cfg.home),
    )


def follow_deployment(retriever, store: Store):
    """Make an index follow the build recorded in the database (what every replica serves) — a record
    for another index directory (a config that moved) is ignored rather than chased."""
    from pathlib import Path

    if retriever is not None and hasattr(retriever, "pointer"):
        here = Path(retriever.directory).resolve()

        def pointer() -> str | None:
            record = store.deployed("index_build") or {}
            return record.get("name") if Path(record.get("dir") or "/").resolve() == here else None

        retriever.pointer = pointer
    return retriever
