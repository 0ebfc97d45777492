"""How often the model gave way for lack of time, over the latest turns it could have written.

A turn the model could write either got the model's text ("generated"), fell back after a failed
check, or fell back because its first sentence would come too late ("fallback: busy, ..."). Busy
fallbacks under load are the design (the evidence answers at once); busy fallbacks on an idle machine
mean the first-text estimate is wrong, and the model has quietly stopped writing replies (a
calibration timed on a busy machine did that for a whole process once). So each turn is recorded
with whether it ran alone, and `problem()` speaks when idle turns fall back for time.

    watch.record("fallback: busy, a first sentence would take 13.7 s", running=1)
    watch.stats()    # {"turns": 1, "busy_share": 1.0, "idle_turns": 1, "idle_busy_share": 1.0}
    watch.problem()  # a sentence for /readyz and the console banner once IDLE_MIN_TURNS idle turns agree
"""

from __future__ import annotations

import collections
import threading

WINDOW = 100  # latest model-eligible turns
IDLE_MIN_TURNS = 5  # idle turns needed before the share means anything
IDLE_BUSY_ALERT = 0.5  # share of idle turns answered "busy" that is worth a banner
NOT_THE_MODELS = ("extractive", "answer memory", "fallback: no informative evidence", "")


class BusyWatch:
    def __init__(self) -> None:
        self._turns: collections.deque[tuple[bool, bool]] = collections.deque(maxlen=WINDOW)
        self._lock = threading.Lock()

    def record(self, grounding: str, running: int) -> bool | None:
        """One turn's grounding note and how many turns ran then (itself included); returns whether
        it fell back for time (None: not a turn the model could have written)."""
        if grounding in NOT_THE_MODELS:
            return None
        busy = grounding.startswith("fallback: busy")
        with self._lock:
            self._turns.append((busy, running <= 1))
        return busy

    def stats(self) -> dict:
        with self._lock:
            turns = list(self._turns)
        idle = [busy for busy, alone in turns if alone]
        return {
            "turns": len(turns),
            "busy_share": round(sum(b for b, _ in turns) / len(turns), 3) if turns else 0.0,
            "idle_turns": len(idle),
            "idle_busy_share": round(sum(idle) / len(idle), 3) if idle else 0.0,
        }

    def problem(self) -> str | None:
        s = self.stats()
        if s["idle_turns"] < IDLE_MIN_TURNS or s["idle_busy_share"] < IDLE_BUSY_ALERT:
            return None
        busy = round(s["idle_busy_share"] * s["idle_turns"])
        return (
            f"The model gave way for lack of time on {busy} of the last {s['idle_turns']} turns that ran "
            "alone: replies are quoted from the knowledge base instead of written. The first-text estimate "
            "may be wrong for this machine (generation.first_text_seconds)."
        )
