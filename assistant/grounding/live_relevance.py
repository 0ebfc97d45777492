"""The relevance model every replica serves: the configured file until a learning-loop round promotes
another (`finetune relevance-round --promote`, recorded in the database under `live_relevance`).

    watcher = RelevanceWatcher(store, configured=open_relevance(cfg), warm=lambda rel: ...)
    watcher.refresh(assistant)   # between turns: swaps in a newly promoted model once it has loaded

The record is read at most once per `CHECK_S`. A new one is loaded off the turn's thread (its unit
encoder is a second MiniLM: seconds), and swapped in at the next refresh once ready, so no customer waits
for it. A record whose model does not load keeps the one serving and says why (`last_error`, the log and
the console). A record with no path (a rollback past the first promotion) means the configured file.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

log = logging.getLogger("loopdesk.relevance")

CHECK_S = 2.0
KEY = "live_relevance"


class RelevanceWatcher:
    def __init__(self, store, configured, warm: Callable[[Any], None] | None = None, check_s: float = CHECK_S):
        self.store, self.configured, self.warm, self.check_s = store, configured, warm, check_s
        self.version: str | None = None  # None: the configured file
        self.last_error: str | None = None
        self._checked = 0.0
        self._loading: str | None = None
        self._failed: str | None = None  # a version that did not load is not retried every CHECK_S
        self._ready: tuple[str | None, Any] | None = None
        self._lock = threading.Lock()

    def start(self):
        """The model to serve from the start: the promoted one when the database names one that loads
        (read once, here, at build time), else the configured one."""
        try:
            record = self.store.deployed(KEY) or {}
        except Exception as exc:
            self.last_error = f"live relevance record unreadable ({exc}); serving the configured model"
            log.error(self.last_error)
            return self.configured
        if not record.get("path"):
            return self.configured
        from assistant.grounding.relevance import Relevance

        model = Relevance.load(record["path"])
        if model.problem:
            self._failed = record.get("version")
            self.last_error = (
                f"relevance model {record.get('version')} not loaded ({model.problem}); serving the configured model"
            )
            log.error(self.last_error)
            return self.configured
        self.version = record.get("version")
        log.info("relevance model %s (promoted by a learning-loop round)", self.version)
        return model

    def refresh(self, assistant) -> None:
        """Swap a loaded model into `assistant.relevance`, and look for a new record now and then."""
        with self._lock:
            ready, self._ready = self._ready, None
        if ready is not None:
            self.version, assistant.relevance = ready
            log.info("relevance model is now %s", self.version or "the configured one")
        now = time.monotonic()
        if now - self._checked < self.check_s:
            return
        self._checked = now
        try:
            record = self.store.deployed(KEY)
        except Exception as exc:  # the database is down: keep serving what we have
            serving = self.version or "the configured model"
            self.last_error = f"live relevance record unreadable ({exc}); still serving {serving}"
            log.error(self.last_error)
            return
        wanted = (record or {}).get("version")
        if wanted in (self.version, self._loading, self._failed):
            return
        self._loading = wanted
        threading.Thread(target=self._load, args=(wanted, (record or {}).get("path")), daemon=True).start()

    def _load(self, version: str | None, path: str | None) -> None:
        from assistant.grounding.relevance import Relevance

        try:
            model = Relevance.load(path) if path else self.configured
            if model.problem:
                raise ValueError(model.problem)
            if self.warm is not None:
                self.warm(model)  # the unit encoder loads here, not in a customer's turn
            with self._lock:
                self._ready = (version, model)
            self.last_error = self._failed = None
        except Exception as exc:  # a bad promotion must not take the app down; the old model stays
            self._failed = version
            self.last_error = (
                f"relevance model {version} not loaded ({exc}); still serving {self.version or 'the configured model'}"
            )
            log.error(self.last_error)
        finally:
            self._loading = None
