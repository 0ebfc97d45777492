"""Turn-taking for the CPU between the llama.cpp engine and everything else a turn computes.

On a CPU server llama.cpp runs one decode step on every core, and its threads wait for each other
at every layer by spinning. When a tagger, the embedder or language detection takes one of those
cores for a few milliseconds, the other llama.cpp threads spin until it comes back, so both slow
down: on 2 cores, with one torch thread busy beside it, a step of 16 replies took 1.6-2x as long
(prompt 262 instead of 429 tokens/s, measured in one run), and the served load was capped by it.

So the two take turns instead of sharing: `side()` wraps the work of a turn before generation
(language, taggers, retrieval, evidence, prompt), `engine()` wraps one decode step. The engine
lets side work that is waiting or running go first, then steps; side work waits for the step in
progress to end (at most one step: tens of milliseconds, under a second for a long prompt chunk).
Up to `cores` side jobs run at once (torch uses one thread each here). The engine never waits more
than `max_wait` seconds for side work (a side job that blocks on something else must not stall
every reply): past it, it steps anyway, side by side as before.

    with TURNS.side():
        plan = pipeline.plan(...)
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from typing import Iterator


class CpuTurns:
    def __init__(self, cores: int | None = None, max_wait: float = 0.5) -> None:
        self.cores = max(1, cores or len(os.sched_getaffinity(0)))
        self.max_wait = max_wait
        self._cv = threading.Condition()
        self._stepping = False
        self._side_running = 0
        self._side_waiting = 0
        self.engine_waited = 0.0  # seconds the engine spent letting side work go first
        self.engine_overrun = 0  # steps taken with side work still running (it ran past max_wait)

    @contextmanager
    def side(self) -> Iterator[None]:
        with self._cv:
            self._side_waiting += 1
            try:
                while self._stepping or self._side_running >= self.cores:
                    self._cv.wait()
            finally:
                self._side_waiting -= 1
            self._side_running += 1
        try:
            yield
        finally:
            with self._cv:
                self._side_running -= 1
                self._cv.notify_all()

    @contextmanager
    def engine(self) -> Iterator[None]:
        with self._cv:
            if self._side_running or self._side_waiting:
                t0 = time.monotonic()
                deadline = t0 + self.max_wait
                while self._side_running or self._side_waiting:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self.engine_overrun += 1
                        break
                    self._cv.wait(left)
                self.engine_waited += time.monotonic() - t0
            self._stepping = True
        try:
            yield
        finally:
            with self._cv:
                self._stepping = False
                self._cv.notify_all()


TURNS = CpuTurns()
"""The process's one arbiter: the llama.cpp engine steps under `engine()`, turns plan under `side()`."""
