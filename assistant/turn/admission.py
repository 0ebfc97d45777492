"""A bounded line for turns: at most `active` turns run at once; the next `waiting` wait in arrival
order and can tell their customer their place; beyond that a turn is refused at once (`Busy`), so
nobody hangs without a word. Both the chat page and the HTTP API take a ticket before a turn.

    with admission.ticket() as t:        # raises Busy when the line is full
        while not t.wait(0.5):           # not our turn yet
            show(f"you are number {t.position()}")
        run_the_turn()

`admitted()` is the blocking form (the HTTP API).
"""

from __future__ import annotations

import collections
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from assistant.errors import LoopdeskError

BUSY = "We're very busy right now, so this message was not answered. Please send it again in a minute."


class Busy(LoopdeskError):
    """The line is full (or a turn waited longer than its limit)."""


class Ticket:
    def __init__(self, line: "Admission") -> None:
        self.line, self.admitted, self.since, self.left = line, False, time.monotonic(), False

    def position(self) -> int:
        """1 for the next in line; 0 once admitted."""
        with self.line._cv:
            return 0 if self.admitted else self.line._waiting.index(self) + 1

    def waited(self) -> float:
        """Seconds since this turn joined the line."""
        return time.monotonic() - self.since

    def wait(self, timeout: float) -> bool:
        """True once this turn may run; False if still waiting after `timeout` seconds."""
        with self.line._cv:
            self.line._cv.wait_for(lambda: self.admitted, timeout)
            return self.admitted


class Admission:
    def __init__(self, active: int, waiting: int, max_wait_seconds: float = 90.0) -> None:
        self.active_limit, self.waiting_limit, self.max_wait_seconds = active, waiting, max_wait_seconds
        self._cv = threading.Condition()
        self._running = 0
        self._waiting: collections.deque[Ticket] = collections.deque()
        self.refused = 0

    def load(self) -> dict:
        with self._cv:
            return {"running": self._running, "waiting": len(self._waiting), "refused": self.refused}

    @contextmanager
    def ticket(self) -> Iterator[Ticket]:
        t = self.enter()
        try:
            yield t
        finally:
            self.leave(t)

    def overdue(self, t: Ticket) -> bool:
        """The ticket waited past `max_wait_seconds` (the caller then gives up with `Busy`)."""
        if not t.admitted and time.monotonic() - t.since > self.max_wait_seconds:
            with self._cv:
                self.refused += 1
            return True
        return False

    @contextmanager
    def admitted(self) -> Iterator[Ticket]:
        """A ticket that blocks until admitted; `Busy` when the line is full or the wait too long."""
        with self.ticket() as t:
            while not t.wait(0.5):
                if self.overdue(t):
                    raise Busy(f"waited {self.max_wait_seconds:.0f}s in line")
            yield t

    def enter(self) -> Ticket:
        """A place in line (admitted at once when a slot is free); `Busy` when the line is full."""
        t = Ticket(self)
        with self._cv:
            if self._running < self.active_limit and not self._waiting:
                t.admitted = True
                self._running += 1
            elif len(self._waiting) >= self.waiting_limit:
                self.refused += 1
                raise Busy(f"{len(self._waiting)} turns already waiting")
            else:
                self._waiting.append(t)
        return t

    def leave(self, t: Ticket) -> None:
        """Give the place back (done, or gave up) and admit whoever is next."""
        with self._cv:
            if t.left:  # idempotent: a stream's finally and its response's background task both call it
                return
            t.left = True
            if t.admitted:
                self._running -= 1
            else:
                self._waiting.remove(t)
            while self._waiting and self._running < self.active_limit:
                nxt = self._waiting.popleft()
                nxt.admitted = True
                self._running += 1
            self._cv.notify_all()
