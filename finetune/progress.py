"""A long job's progress, as a small JSON file the console reads while the job runs.

`{"stage": "...", "step": n, "max_steps": total, "at": unix time}`, rewritten atomically (temp file +
rename) so a reader never sees half a file. `ProgressFile("")` does nothing (a run from a terminal).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


class ProgressFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path) if path else None

    def __call__(self, stage: str, step: int, total: int) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"stage": stage, "step": step, "max_steps": total, "at": time.time()}))
        os.replace(tmp, self.path)
