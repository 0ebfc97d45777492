"""The answer memory's records: approved answers from the team, in the database so every replica
serves the same ones (`assistant.memory` matches questions against them).

An entry is `approved` (served), `review` (waiting for an operator: an operator's live reply, or an
approved entry that customers rated down) or `retired` (kept for the record, never served).
"""

from __future__ import annotations

import logging
import re

import sqlalchemy as sa

from assistant.errors import InputError, LoopdeskError, StoreError
from assistant.store.mixin import StoreMixin
from assistant.store.schema import answer_memory

STATUSES = ("approved", "review", "retired")
CUSTOMER_DOWNVOTES = 3  # customers' thumbs-down that send an entry back to review (an operator's: one)
log = logging.getLogger("loopdesk.memory")
MEMORY_ID = re.compile(r"^memory:\d+$")  # how a served entry appears among a turn's passages
MAX_QUESTION, MAX_ANSWER = 1_000, 4_000


def _clean(text: str | None, what: str, limit: int) -> str:
    text = " ".join((text or "").split()) if what == "question" else (text or "").strip()
    if not text:
        raise InputError(f"the {what} is empty")
    if len(text) > limit:
        raise InputError(f"the {what} is {len(text)} characters; at most {limit}")
    return text


class MemoryRecords(StoreMixin):
    def add_memory(
        self,
        question: str,
        answer: str,
        source: str | None = None,
        status: str = "approved",
        origin: str = "cli",
        by: str | None = None,
        turn_id: int | None = None,
    ) -> int:
        """A new entry; `approved` ones are served from the next question on (every replica)."""
        if status not in STATUSES:
            raise InputError(f"status must be one of {', '.join(STATUSES)}")
        q, a = _clean(question, "question", MAX_QUESTION), _clean(answer, "answer", MAX_ANSWER)
        now = self._now()
        row = dict(
            question=q,
            answer=a,
            source=(source or "").strip()[:255] or None,
            status=status,
            origin=origin,
            turn_id=turn_id,
            created_by=by,
            created_at=now,
            approved_by=by if status == "approved" else None,
            updated_at=now,
            uses=0,
            downvotes=0,
        )
        return self._write(lambda c: c.execute(answer_memory.insert().values(**row)).inserted_primary_key[0])

    def memory_entries(self, status: str | None = None) -> list[dict]:
        """Entries, newest first; only those with `status` when given."""
        q = sa.select(answer_memory).order_by(answer_memory.c.id.desc())
        if status:
            q = q.where(answer_memory.c.status == status)
        return self._read(q)

    def memory_entry(self, entry_id: int) -> dict:
        rows = self._read(sa.select(answer_memory).where(answer_memory.c.id == int(entry_id)))
        if not rows:
            raise InputError(f"no answer-memory entry {entry_id}")
        return rows[0]

    def update_memory(self, entry_id: int, by: str | None = None, **changes) -> dict:
        """Change an entry's question, answer, source, status or note; approving records who."""
        allowed = {"question", "answer", "source", "status", "note"}
        if set(changes) - allowed:
            raise InputError(f"unknown fields: {', '.join(sorted(set(changes) - allowed))}")
        values = dict(changes)
        if "question" in values:
            values["question"] = _clean(values["question"], "question", MAX_QUESTION)
        if "answer" in values:
            values["answer"] = _clean(values["answer"], "answer", MAX_ANSWER)
        if values.get("status") not in (None, *STATUSES):
            raise InputError(f"status must be one of {', '.join(STATUSES)}")
        if values.get("status") == "approved":
            values["approved_by"] = by
            values["downvotes"] = 0  # approved again: earlier thumbs-down were looked at
        values["updated_at"] = self._now()

        def tx(c):
            done = c.execute(
                sa.update(answer_memory).where(answer_memory.c.id == int(entry_id)).values(**values)
            ).rowcount
            if not done:
                raise InputError(f"no answer-memory entry {entry_id}")

        self._write(tx)
        return self.memory_entry(entry_id)

    def memory_version(self) -> tuple:
        """Changes whenever an entry is added, changed or removed: replicas reload their copy when it
        does. Every entry's (id, status, updated_at), not a count and a latest time: replicas' clocks
        differ, so a change stamped earlier than another's latest must still show."""
        cols = (answer_memory.c.id, answer_memory.c.status, answer_memory.c.updated_at)
        return tuple((r["id"], r["status"], str(r["updated_at"])) for r in self._read(sa.select(*cols)))

    def memory_used(self, entry_id: int) -> None:
        try:
            self._write(
                lambda c: c.execute(
                    sa.update(answer_memory)
                    .where(answer_memory.c.id == int(entry_id))
                    .values(uses=answer_memory.c.uses + 1)
                )
            )
        except StoreError as exc:  # a counter must never cost the customer their answer; the log says so
            log.warning("use of answer-memory entry %s not counted: %s", entry_id, exc)

    def _memory_rated_down(self, turn_id: int, actor: str | None, source: str) -> list[int]:
        """A rating was stored: its effect on the answer memory must never undo it or fail the caller."""
        try:
            return self.memory_rated_down(turn_id, actor, source)
        except LoopdeskError as exc:
            log.error("answer memory not updated after a thumbs-down on turn %s: %s", turn_id, exc)
            return []

    def memory_rated_down(self, turn_id: int, actor: str | None, source: str = "customer") -> list[int]:
        """A reply from the memory rated down: an operator's rating sends the entry back to review at once
        (it stops being served until approved again), customers' after CUSTOMER_DOWNVOTES of them (one
        customer who dislikes a true answer must not withdraw it for everyone). Returns the entries sent back."""
        from assistant.store.schema import turns

        rows = self._read(sa.select(turns.c.passages).where(turns.c.id == int(turn_id)))
        passages = (rows[0]["passages"] or []) if rows else []
        ids = [
            int(p["id"].split(":", 1)[1]) for p in passages if isinstance(p, dict) and MEMORY_ID.match(str(p.get("id")))
        ]
        needed = 1 if source == "operator" else CUSTOMER_DOWNVOTES
        sent = []
        for entry_id in ids:
            note = f"rated down on turn {turn_id}" + (f" by {actor}" if actor else "")

            def tx(c, entry_id=entry_id, note=note):
                c.execute(
                    sa.update(answer_memory)
                    .where(answer_memory.c.id == entry_id)
                    .values(downvotes=answer_memory.c.downvotes + 1)
                )
                return c.execute(
                    sa.update(answer_memory)
                    .where(
                        answer_memory.c.id == entry_id,
                        answer_memory.c.status == "approved",
                        answer_memory.c.downvotes >= needed,
                    )
                    .values(status="review", note=note, updated_at=self._now())
                ).rowcount

            if self._write(tx):
                sent.append(entry_id)
        return sent
