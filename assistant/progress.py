"""A long job's progress: a small JSON file the console reads while the job runs, and a progress bar
on a terminal.

`{"stage", "step", "max_steps", "at", "since"}` (`since`: when the stage began), rewritten atomically (temp file +
rename) so a reader never sees half a file. `ProgressFile("")` writes no file (a run from a terminal);
`bar=True` also draws a tqdm bar on stderr, one per stage, only when stderr is a terminal (the CLI
passes `bar=not --json`, so scripted runs and the console's jobs print no bar).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


class ProgressFile:
    def __init__(self, path: str | Path, bar: bool = False) -> None:
        self.path = Path(path) if path else None
        self.bar = bar and sys.stderr.isatty()
        self._bar: Any = None
        self._stage = ""
        self._since = time.time()

    def __call__(self, stage: str, step: int, total: int) -> None:
        if stage != self._stage:
            self._since = time.time()
        if self.bar:
            self._draw(stage, step, total)
        self._stage = stage
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        record = {"stage": stage, "step": step, "max_steps": total, "at": time.time(), "since": self._since}
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.path)

    def _draw(self, stage: str, step: int, total: int) -> None:
        from tqdm import tqdm

        if stage != self._stage or self._bar is None:
            self.close()
            self._bar = tqdm(total=total, desc=stage, file=sys.stderr, leave=True)
        bar = self._bar
        bar.total = total
        bar.n = step
        bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
