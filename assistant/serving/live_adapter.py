"""The generator-adapter registry file the running app follows: `<adapters_dir>/live.json`.

    {"version": "bitext-v1", "previous": ["v0"], "changed_at": "..."}

`finetune promote` / `rollback` write it (atomically, via a temp file and os.replace); the app
reads it before each turn (`LiveAdapterWatcher`) and swaps the adapter without a restart.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("loopdesk.adapters")


def read_live(registry: Path) -> dict:
    try:
        data = json.loads((registry / "live.json").read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def live_record(version: str | None, previous: list[str], history: list[dict] | None = None) -> dict:
    """The live adapter as every replica reads it: the version, the ones before it (for rollback),
    and who promoted what, when and why (`history`)."""
    return {
        "version": version,
        "previous": previous[-20:],
        "changed_at": datetime.now(timezone.utc).isoformat(),
        "history": (history or [])[-50:],
    }


def write_live(registry: Path, version: str | None, previous: list[str], history: list[dict] | None = None) -> dict:
    registry.mkdir(parents=True, exist_ok=True)
    data = live_record(version, previous, history)
    fd, tmp = tempfile.mkstemp(dir=registry, prefix=".live-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, registry / "live.json")
    return data


class LiveAdapterWatcher:
    """Calls `generator.set_adapter` when the live version changes (checked per turn).

    The live version comes from `pointer()` — the database record every replica shares
    (`Store.deployed("live_adapter")`) — and from live.json where no record exists yet."""

    def __init__(self, registry: Path, generator, pointer=None) -> None:
        self.registry, self.generator, self.pointer = registry, generator, pointer
        self._stamp: tuple | None = None
        self.last_error: str | None = None

    def refresh(self) -> None:
        if self.pointer is not None:
            try:
                record = self.pointer()
            except Exception as exc:  # the database is down: keep serving what we have
                self.last_error = f"live adapter record unreadable ({exc}); still serving {self.generator.adapter_id}"
                log.error(self.last_error)
                return
            if record is not None:
                self._switch(record.get("version"))
                return
        path = self.registry / "live.json"
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return
        self._stamp = stamp
        if stamp is None:
            version = None  # no live.json: the base model is what was asked for
        else:
            try:
                data = json.loads(path.read_text())
                version = data["version"]
                if version is not None and not isinstance(version, str):
                    raise ValueError(f"version is {type(version).__name__}, not a name")
            except (OSError, ValueError, KeyError, TypeError) as exc:
                # A truncated or garbage live.json must not switch to the base model: keep serving.
                self.last_error = (
                    f"{path} is unreadable ({exc}); still serving {self.generator.adapter_id or 'the base model'}"
                )
                log.error(self.last_error)
                return
        self._switch(version)

    def _switch(self, version: str | None) -> None:
        if version == self.generator.adapter_id:
            self.last_error = None
            return
        try:
            self.generator.set_adapter(self.registry / version if version else None, adapter_id=version)
            self.last_error = None
            log.info("live adapter is now %s", version or "none (base model)")
        except Exception as exc:  # a bad promotion must not take the app down; the old adapter stays
            self.last_error = (
                f"adapter {version} not loaded ({exc}); still serving {self.generator.adapter_id or 'the base model'}"
            )
            log.error(self.last_error)
