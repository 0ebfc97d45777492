"""Customers' messages made durable the moment they are received, before tagging, retrieval or the
database: a kill -9 (or a power cut) while turns are in flight loses none of them.

    Inbox.recover_dead(home / "inbox", spool)      # at start: files of processes that died
    inbox = Inbox.for_this_process(home / "inbox")
    key = inbox.receive(conversation_id, text)     # appended and fsync'ed; the turn stores its
    ...                                            # message with spool_key=key
    inbox.done(key)                                # stored (or spooled): nothing left to recover

Records have the spool's format (`assistant.store.spool`), keyed: the turn stores the message with
`spool_key=key`, so recovering a message that was in fact stored writes nothing twice (the spool
replay skips keys it finds). One file per process (`inbox-<pid>.jsonl`: replicas on one machine
share a home), so a start recovers only the files of processes no longer running. A file is emptied
whenever nothing is in flight, and rewritten with only the messages in flight past `COMPACT_BYTES`.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

from assistant.store.jsonl import append_synced, read_records, rewrite_synced

log = logging.getLogger("loopdesk.inbox")
COMPACT_BYTES = 8 * 1024 * 1024
RECOVERED = "received before the app stopped; it was not answered"


class Inbox:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._pending: set[str] = set()

    def receive(self, conversation_id: str, text: str) -> str:
        """Append the (already redacted) message and fsync it; returns its key."""
        key = uuid.uuid4().hex
        record = {
            "key": key,
            "at": datetime.now(timezone.utc).isoformat(),
            "op": "turn",
            "conversation_id": conversation_id,
            "role": "user",
            "text": text,
            "fields": {"notes": [RECOVERED]},
        }
        with self._lock:
            append_synced(self.path, record)
            self._pending.add(key)
        return key

    def done(self, key: str) -> None:
        """The message is stored or spooled: it no longer needs this file."""
        with self._lock:
            self._pending.discard(key)
            try:
                size = self.path.stat().st_size
            except FileNotFoundError:
                return
            if not self._pending:
                self.path.write_bytes(b"")
            elif size > COMPACT_BYTES:
                self._rewrite([r for r in self._records() if r.get("key") in self._pending])

    @classmethod
    def for_this_process(cls, directory: str | Path) -> "Inbox":
        return cls(Path(directory) / f"inbox-{os.getpid()}.jsonl")

    @classmethod
    def recover_dead(cls, directory: str | Path, spool) -> int:
        """Hand the messages of every inbox whose process is gone to the spool; returns how many."""
        found = 0
        for path in sorted(Path(directory).glob("inbox-*.jsonl")):
            pid = path.stem.split("-", 1)[1]
            if pid.isdigit() and (int(pid) == os.getpid() or _running(int(pid))):
                continue
            found += cls(path).recover(spool)
            path.unlink(missing_ok=True)
        return found

    def recover(self, spool) -> int:
        """At start, before any turn: every message in the file goes to the spool (replayed into the
        database before the next turn; one already stored is skipped by its key). Returns how many."""
        with self._lock:
            records = self._records()
            for record in records:
                spool.append(record)
            if records:
                log.warning("recovered %d received message(s) from %s into the spool", len(records), self.path)
            if self.path.exists():
                self.path.write_bytes(b"")
            return len(records)

    def _records(self) -> list[dict]:
        return read_records(self.path, "inbox")

    def _rewrite(self, records: list[dict]) -> None:
        rewrite_synced(self.path, records)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
