"""Compose an `Assistant` from a config: generator, store, taggers and an injected retriever.

The retriever comes from a factory the caller passes in (app.py and the CLI pass
`index.open_for_config`), so `assistant` never imports `index`.
"""

from __future__ import annotations

from typing import Callable

from assistant.adapters import LiveAdapterWatcher, read_live
from assistant.config import Config
from assistant.errors import LoopdeskError
from assistant.generation import TransformersGenerator
from assistant.pipeline import Assistant
from assistant.store import Store
from assistant.taggers import _dir
from assistant.types import Retriever


def live_adapter(cfg: Config):
    """(path, version) of the live generator adapter recorded in the registry, or (None, None)."""
    registry = _dir(cfg.models.adapters_dir)
    version = read_live(registry).get("version") if registry else None
    if not version or not (registry / version).is_dir():
        return None, None
    return registry / version, version


def build_assistant(cfg: Config, open_retriever: Callable[[Config], Retriever] | None = None,
                    with_taggers: bool = True) -> Assistant:
    from assistant.taggers import load_taggers

    store = Store(cfg.store_url, cfg.store.retries)
    adapter, version = live_adapter(cfg)
    generator = TransformersGenerator(cfg.models.generator, cfg.home, cfg.generation)
    if adapter is not None:
        try:
            generator.set_adapter(adapter, adapter_id=version)
        except LoopdeskError:
            pass  # a corrupt live adapter: serve the base model rather than nothing
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
    watcher = None
    registry = _dir(cfg.models.adapters_dir) if cfg.models.adapters_dir else None
    if registry is not None:
        watcher = LiveAdapterWatcher(registry, generator)
        watcher._stamp = _stamp(registry)  # the adapter loaded above is already the live one
    return Assistant(cfg, generator, store, retriever, sentiment, ner, retriever_problem=problem,
                     tagger_problems=problems, adapter_watcher=watcher)


def _stamp(registry):
    try:
        st = (registry / "live.json").stat()
        return (st.st_mtime_ns, st.st_size)
    except OSError:
        return None
