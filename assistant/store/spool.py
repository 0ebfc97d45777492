"""A durable local spool for turns the database could not take: nothing a customer wrote is lost.

When a write fails (the database locked past the retry budget, read-only, down), the pipeline
appends the record here instead: one JSON line, flushed and fsync'ed before the turn goes on. Before
each turn, and on `loopdesk store replay-spool`, the spool is replayed into the database in order;
each record carries a key stored with its row (`turns.spool_key`, unique), so a replay that is
interrupted and run again writes every record exactly once. Records that went in are removed by
rewriting the file atomically with those left.

    {"key": "...", "op": "conversation", "id": "...", "source": "chat", "at": "..."}
    {"key": "...", "op": "turn", "conversation_id": "...", "role": "user", "text": "...", "fields": {...}, "at": "..."}
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

from assistant.errors import LoopdeskError
from assistant.store.jsonl import append_synced, read_records, rewrite_synced

log = logging.getLogger("loopdesk.spool")


class Spool:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, record: dict) -> dict:
        record = {"key": uuid.uuid4().hex, "at": datetime.now(timezone.utc).isoformat(), **record}
        with self._lock:
            append_synced(self.path, record)
        log.warning(
            "spooled a %s for conversation %s (database unavailable)",
            record["op"],
            record.get("conversation_id") or record.get("id"),
        )
        return record

    def records(self) -> list[dict]:
        return read_records(self.path, "spool")

    def size(self) -> int:
        return len(self.records())

    def replay(self, store) -> int:
        """Write the spooled records to `store` in order; returns how many went in. Stops at the
        first failure and keeps that record and the ones after it."""
        with self._lock:
            records = self.records()
            done = 0
            try:
                for record in records:
                    store.apply_spooled(record)
                    done += 1
            except LoopdeskError as exc:
                log.warning("spool replay stopped after %d of %d records: %s", done, len(records), exc)
            if done:
                self._rewrite(records[done:])
                log.info("replayed %d spooled record(s); %d left", done, len(records) - done)
            return done

    def erase(self, conversation_ids: list[str], email: str = "") -> list[str]:
        """Right to erasure for what waits here: drop every record of these conversations, and of any
        spooled conversation whose text mentions `email`; returns the conversations dropped (a later
        replay cannot bring them back)."""

        def cid(record: dict) -> str:
            return record.get("conversation_id") or record.get("id") or ""

        with self._lock:
            records = self.records()
            gone = set(conversation_ids)
            if email:
                needle = email.strip().lower()
                gone |= {cid(r) for r in records if needle in json.dumps(r, ensure_ascii=False).lower()}
            keep = [r for r in records if cid(r) not in gone]
            if len(keep) != len(records):
                self._rewrite(keep)
            return sorted({cid(r) for r in records} & gone)

    def _rewrite(self, records: list[dict]) -> None:
        rewrite_synced(self.path, records)
