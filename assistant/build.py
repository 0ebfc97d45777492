"""Compose an `Assistant` from a config: generator, store, taggers and an injected retriever.

The retriever comes from a factory the caller passes in (app.py and the CLI pass
`index.open_for_config`), so `assistant` never imports `index`.
"""

from __future__ import annotations

from typing import Callable

from assistant.adapters import LiveAdapterWatcher
from assistant.config import Config, local_path
from assistant.errors import LoopdeskError
from assistant.generation import TransformersGenerator
from assistant.pipeline import Assistant
from assistant.pii import PiiRedactor
from assistant.spool import Spool
from assistant.store import Store
from assistant.types import Retriever


def build_assistant(cfg: Config, open_retriever: Callable[[Config], Retriever] | None = None,
                    with_taggers: bool = True) -> Assistant:
    from assistant.taggers import load_taggers

    store = Store(cfg.store_url, cfg.store.retries)
    generator = TransformersGenerator(cfg.models.generator, cfg.home, cfg.generation)
    watcher = None
    registry = local_path(cfg.models.adapters_dir)
    if registry is not None:
        watcher = LiveAdapterWatcher(registry, generator)
        watcher.refresh()  # loads the live adapter now; a corrupt one leaves the base model serving
    retriever, problem = None, None
    if open_retriever is not None:
        try:
            retriever = open_retriever(cfg)
        except LoopdeskError as exc:
            problem = str(exc)
    sentiment = ner = None
    problems = ["taggers disabled"]
    if with_taggers:
        sentiment, ner, problems = load_taggers(cfg)
    return Assistant(cfg, generator, store, retriever, sentiment, ner, retriever_problem=problem,
                     tagger_problems=problems, adapter_watcher=watcher, open_retriever=open_retriever,
                     spool=Spool(cfg.spool_path), redactor=PiiRedactor(cfg.store.redact_contact, cfg.home))
