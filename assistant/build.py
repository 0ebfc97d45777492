"""Compose an `Assistant` from a config: generator, store, taggers and an injected retriever.

The retriever comes from a factory the caller passes in (app.py and the CLI pass
`index.open_for_config`), so `assistant` never imports `index`.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Callable

from assistant.grounding.live_relevance import RelevanceWatcher
from assistant.serving.live_adapter import LiveAdapterWatcher
from assistant.config import Config, local_path
from assistant.errors import LoopdeskError
from assistant.turn.admission import Admission
from assistant.turn.handoff import Handoff
from assistant.turn.mailer import Mailer
from assistant.turn.pipeline import Assistant
from assistant.turn.policy import Rules
from assistant.taggers.pii import PiiRedactor
from assistant.serving.registry import open_generator
from assistant.settings import LiveSettings
from assistant.store.inbox import Inbox
from assistant.store.spool import Spool
from assistant.store.store import Store
from assistant.types import Retriever
from assistant.unavailable import Unavailable

log = logging.getLogger("loopdesk.build")


def open_store(cfg: Config) -> Store:
    """The conversation store of a config (every entry point opens it here)."""
    return Store(cfg.store_url, cfg.store.retries)


@dataclass(frozen=True)
class Profile:
    """What a built assistant is for. `follow_live_adapter`: swap in a newly promoted adapter between
    turns (serving) or load the live one once and keep it (an evaluation must not change adapter
    midway); `wait_for_model`: never answer from the evidence for lack of time (an evaluation
    measures the model's answers, not how busy the machine is); `taggers`: load the taggers;
    `answer_memory`: answer from the team's approved answers first (an evaluation or a training set
    measures the model and the knowledge base: answers the team typed would only add ties);
    `owner_settings`: the business name and languages an owner set in the console override the config's
    (an evaluation or a training set names the business its questions are about, in its config)."""

    name: str
    follow_live_adapter: bool = True
    wait_for_model: bool = False
    taggers: bool = True
    answer_memory: bool = True
    owner_settings: bool = True


SERVE = Profile("serve")
# One person at a terminal (`loopdesk chat`): no other customer waits, and a cold process (models loading,
# the first decode) must not trip the "busy" fallback that protects a loaded server.
TERMINAL = Profile("terminal", follow_live_adapter=False, wait_for_model=True)
EVAL = Profile("eval", follow_live_adapter=False, wait_for_model=True, answer_memory=False, owner_settings=False)
DATASET = Profile("dataset", follow_live_adapter=False, wait_for_model=True, answer_memory=False, owner_settings=False)


def build_assistant(
    cfg: Config, open_retriever: Callable[[Config], Retriever] | None = None, profile: Profile = SERVE
) -> Assistant:
    """The app, the CLI, evaluations and benchmarks all get their assistant here."""
    from assistant.taggers.loader import load_taggers

    if profile.wait_for_model:
        cfg = dataclasses.replace(cfg, generation=dataclasses.replace(cfg.generation, first_text_seconds=0.0))
    if not profile.answer_memory:
        cfg = dataclasses.replace(cfg, memory=dataclasses.replace(cfg.memory, enabled=False))
    store = open_store(cfg)
    generator = open_generator(cfg)  # the engine registry picks and says why
    watcher = None
    registry = local_path(cfg.models.adapters_dir)
    if registry is not None:
        # The database record is what every replica follows; live.json until one exists.
        watcher = LiveAdapterWatcher(registry, generator, pointer=lambda: store.deployed("live_adapter"))
        watcher.refresh()  # loads the live adapter now; a corrupt one leaves the base model serving
        if not profile.follow_live_adapter:
            watcher = None
    retriever, problem = None, None
    if open_retriever is not None:
        try:
            retriever = follow_deployment(open_retriever(cfg), store)
        except LoopdeskError as exc:
            problem = str(exc)
    sentiment, ner = Unavailable("sentiment tagger", "taggers disabled"), Unavailable("NER tagger", "taggers disabled")
    problems = ["taggers disabled"]
    if profile.taggers:
        sentiment, ner, problems = load_taggers(cfg)
    p = cfg.policy
    # The relevance model a learning-loop round promoted (database), else the configured file.
    relevance_watcher = RelevanceWatcher(store, open_relevance(cfg))
    relevance = relevance_watcher.start()
    spool = Spool(cfg.spool_path)
    # The owner's business name, greeting, colour and languages (console), or the config's alone.
    settings = LiveSettings(store if profile.owner_settings else None, cfg)
    # Messages received by a process that was killed go to the spool (written before the next turn).
    Inbox.recover_dead(cfg.inbox_dir, spool)
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
        spool=spool,
        inbox=Inbox.for_this_process(cfg.inbox_dir),
        redactor=PiiRedactor(cfg.store.redact_contact, cfg.home),
        handoff=Handoff(
            store,
            default_wait_s=cfg.handoff.default_wait_minutes * 60,
            mailer=Mailer(cfg.email, lambda: settings.current().business_name),
        ),
        rules=Rules(p.negative_turns, p.negative_score, p.supported_languages, cfg.app.business_name),
        # Turns run side by side up to app.concurrent_turns (generation batches them); the rest wait in line.
        admission=Admission(cfg.app.concurrent_turns, cfg.app.max_waiting, cfg.app.turn_seconds),
        relevance=relevance,
        relevance_watcher=relevance_watcher if profile.follow_live_adapter else None,
        settings=settings,
    )


def open_relevance(cfg: Config):
    """The learned relevance model (`retrieval.relevance_model`); when it cannot load, the reason is
    logged and every turn answers on the best passage's cosine alone."""
    from assistant.grounding.relevance import Relevance

    path = local_path(cfg.retrieval.relevance_model)
    relevance = (
        Relevance.load(path) if path is not None else Relevance.unavailable("retrieval.relevance_model is empty")
    )
    if relevance.problem:
        log.warning("relevance model unavailable, answering on passage cosine alone: %s", relevance.problem)
    return relevance


def follow_deployment(retriever, store: Store):
    """Make an index follow the build recorded in the database (what every replica serves) — a record
    for another index directory (a config that moved) is ignored rather than chased."""
    from pathlib import Path

    # A capability, not a protocol member: only an index on disk (index.searcher.Index) has builds to follow.
    if retriever is not None and hasattr(retriever, "pointer"):
        here = Path(retriever.directory).resolve()

        def pointer() -> str | None:
            record = store.deployed("index_build") or {}
            return record.get("name") if Path(record.get("dir") or "/").resolve() == here else None

        retriever.pointer = pointer
    return retriever
