"""Match a customer question against the approved answer-memory entries.

Each replica keeps the approved entries and their question vectors in memory and reloads them when
the store's `memory_version()` changes (checked at most every `check_every` seconds), so an entry
added or retired on one replica is served or dropped by the others within that time.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from assistant.errors import LoopdeskError
from assistant.grounding.words import content_words, similar, stem
from assistant.types import Passage

log = logging.getLogger("loopdesk.memory")

TEAM = "our support team"
TEAM_WRITTEN = ("cli", "console")  # entries whose question the team typed (not a customer's message)


@dataclass
class MemoryHit:
    entry: dict
    score: float

    def passage(self) -> Passage:
        """The entry as a cited source: "[1]" links to it like a knowledge-base section. Its heading is
        the question only when the team wrote it: a correction's question is another customer's message."""
        e = self.entry
        return Passage(
            id=f"memory:{e['id']}",
            text=e["answer"],
            source=e.get("source") or TEAM,
            heading=e["question"] if e.get("origin") in TEAM_WRITTEN else "an approved answer",
            score=round(float(self.score), 4),
            title=f"Answer from {TEAM}",
        )


SYNONYM = 0.5  # word cosine above which a swapped word is a synonym ("fee"/"charge" 0.65, "express"/"standard" 0.27)


def contrast(asked: str, stored: str, embedder) -> str:
    """The swapped words that make `asked` another question than `stored` ("express" for "standard"
    shipping, "domestic" for "international" transfers), else "". Such minimal pairs get a higher
    cosine than real paraphrases (0.83 vs 0.73-0.78), so they are refused here and the knowledge base
    answers instead. A minimal pair: a topic word shared and exactly one swapped, the two
    not synonyms (word cosine < SYNONYM). Wider rules (two words, additions) refused a third of the
    helper-written paraphrases in benchmarks/memory_match.py. Known gaps: a swap between close words
    ("saturday"/"sunday", 0.81) passes as a synonym; an added specifier ("gift card" refunds for
    "card" refunds) is not caught."""
    words_a = {stem(w): w for w in content_words(asked)}
    words_b = {stem(w): w for w in content_words(stored)}
    a, b = set(words_a), set(words_b)
    only_a = sorted(w for w in a - b if not any(similar(w, x) for x in b))  # a typo is the same word
    only_b = sorted(w for w in b - a if not any(similar(w, x) for x in a))
    if not a & b or len(only_a) != 1 or len(only_b) != 1:
        return ""
    vecs = embedder.embed([words_a[w] for w in only_a] + [words_b[w] for w in only_b])  # words, not stems
    sims = vecs[: len(only_a)] @ vecs[len(only_a) :].T
    lonely_a = [w for w, row in zip(only_a, sims) if row.max() < SYNONYM]
    lonely_b = [w for w, col in zip(only_b, sims.T) if col.max() < SYNONYM]
    return ", ".join([words_a[w] for w in lonely_a] + [words_b[w] for w in lonely_b]) if lonely_a and lonely_b else ""


class AnswerMemory:
    def __init__(self, store, embedder_of: Callable[[], Any], min_similarity: float, check_every: float = 2.0) -> None:
        """`embedder_of()` returns the retrieval embedder (None while there is no index: no matching then)."""
        self.store, self.embedder_of = store, embedder_of
        self.min_similarity = min_similarity
        self.check_every = check_every
        self._version: tuple | None = None
        self._checked = float("-inf")
        # Entries and their vectors are replaced together, as one tuple: turns run in threads, and a
        # lookup must never take an index from one copy and the entry from the next.
        self._snapshot: tuple[list[dict], np.ndarray] = ([], np.zeros((0, 1), dtype="float32"))
        self._cache: dict[tuple[int, str], np.ndarray] = {}
        self._lock = threading.Lock()  # one refresh at a time
        self.problem: str | None = None

    def lookup(self, text: str) -> MemoryHit | None:
        """The approved entry whose question is closest to `text`, if close enough."""
        embedder = self.embedder_of()
        if embedder is None or not text.strip():
            return None
        self._refresh(embedder)
        entries, vectors = self._snapshot
        if not entries:
            return None
        q = embedder.embed([text])[0]
        sims = vectors @ q
        best = int(np.argmax(sims))
        if float(sims[best]) < self.min_similarity:
            return None
        entry = entries[best]
        if differs := contrast(text, entry["question"], embedder):
            # "express" for "standard" shipping: the same question about another thing.
            log.info("answer memory: %r is not entry %s (differs in %s)", text[:80], entry["id"], differs)
            return None
        return MemoryHit(entry, float(sims[best]))

    def _refresh(self, embedder) -> None:
        now = time.monotonic()
        if now - self._checked < self.check_every or not self._lock.acquire(blocking=False):
            return  # checked lately, or another turn is refreshing: use the copy we have
        try:
            self._checked = now
            self._reload(embedder)
        finally:
            self._lock.release()

    def _reload(self, embedder) -> None:
        try:
            version = self.store.memory_version()
            if version == self._version:
                return
            entries = self.store.memory_entries("approved")
        except LoopdeskError as exc:
            # Keep serving the copy we have; the console's health line says why it may be stale.
            self.problem = f"answer memory not refreshed: {exc}"
            log.warning("%s", self.problem)
            return
        missing = [e for e in entries if (e["id"], e["question"]) not in self._cache]
        if missing:
            vecs = embedder.embed([e["question"] for e in missing])
            for e, v in zip(missing, vecs):
                self._cache[(e["id"], e["question"])] = np.asarray(v, dtype="float32")
        keys = {(e["id"], e["question"]) for e in entries}
        self._cache = {k: v for k, v in self._cache.items() if k in keys}
        vectors = (
            np.stack([self._cache[(e["id"], e["question"])] for e in entries])
            if entries
            else np.zeros((0, 1), dtype="float32")
        )
        self._snapshot = (entries, vectors)
        self._version, self.problem = version, None
