"""Conversation store on SQLAlchemy Core: SQLite by default (WAL), PostgreSQL by URL.

Every write is one transaction and is retried with backoff when the database is locked; after
`retries` attempts it raises `StoreError` (never a silent loss). Tables (`assistant.store.schema`,
created by `assistant.store.migrations`): conversations, turns, feedback, labels, imports, handoffs,
handoff_events, operators, sign_in_attempts, and the team's saved_replies, conversation_notes,
conversation_tags and satisfaction (`team`), and the owner's settings (`settings`). Console and
handoff queries live in `store_console` / `store_handoff`; sign-in attempts and operator roles in `sign_in`.

    python -m assistant.store.store sqlite:////tmp/x.db   # migrate and print the schema version
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from assistant.store import migrations
from assistant.errors import StoreError

from assistant.store.schema import answer_memory
from assistant.store.schema import (
    conversation_notes,
    conversations,
    feedback,
    handoff_events,
    handoffs,
    import_runs,
    imports,
    labels,  # noqa: F401
    turns,
    unfinished_imports,
    visible_conversation,
    visible_turn,
)
from assistant.store.assignment import AssignmentRecords
from assistant.store.console import ConsoleQueries
from assistant.store.handoff import HandoffRecords
from assistant.store.memory import MemoryRecords
from assistant.store.shared import ApiKeyRecords, DeploymentRecords
from assistant.store.sign_in import SignInRecords
from assistant.store.team import TeamRecords
from assistant.store.settings import SettingsRecords

LABEL_TASKS = ("sentiment", "ner", "covered")
TURN_FIELDS = {c.name for c in turns.columns} - {"id", "conversation_id", "role", "text", "created_at", "spool_key"}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _is_locked(exc: OperationalError) -> bool:
    msg = str(exc.orig).lower()
    return "locked" in msg or "busy" in msg or "could not serialize" in msg


class Store(
    HandoffRecords,
    ApiKeyRecords,
    DeploymentRecords,
    ConsoleQueries,
    MemoryRecords,
    SignInRecords,
    TeamRecords,
    AssignmentRecords,
    SettingsRecords,
):
    """The conversation store; handoff/operator and console queries come from the two mixins."""

    _now = staticmethod(_now)

    def __init__(self, url: str, retries: int = 8, busy_timeout_ms: int = 2000) -> None:
        self.url, self.retries = url, retries
        self._local = threading.local()  # a per-thread time budget (`budget`)
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            # A `file:...?uri=true` URL names an existing database (read-only, shared cache): make nothing.
            if path and path != ":memory:" and not path.startswith("file:"):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = sa.create_engine(url, future=True)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise StoreError(f"cannot open store {url!r}: {exc}") from exc
        if self.engine.dialect.name == "sqlite":

            @sa.event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _record):  # noqa: ANN001 - DB-API objects
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
                cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

        self._retry(lambda: migrations.migrate(self.engine))

    @contextmanager
    def budget(self, seconds: float) -> Iterator[None]:
        """Calls made inside (on this thread) stop retrying a locked database after `seconds`: a
        customer's turn spools rather than wait through every retry (the default budget is ~20 s)."""
        before = getattr(self._local, "deadline", None)
        self._local.deadline = time.monotonic() + seconds
        try:
            yield
        finally:
            self._local.deadline = before

    def _retry(self, fn: Callable[[], Any]) -> Any:
        delay = 0.05
        deadline = getattr(self._local, "deadline", None)
        for attempt in range(1, self.retries + 1):
            try:
                return fn()
            except OperationalError as exc:
                late = deadline is not None and time.monotonic() + delay > deadline
                if not _is_locked(exc) or attempt == self.retries or late:
                    raise StoreError(f"database call failed after {attempt} attempt(s): {exc.orig}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _write(self, fn: Callable[[sa.Connection], Any]) -> Any:
        def tx():
            with self.engine.begin() as conn:
                return fn(conn)

        return self._retry(tx)

    def _read(self, query) -> list[dict]:
        def run():
            with self.engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(query)]

        return self._retry(run)

    # --- writes -----------------------------------------------------------------------------
    def new_conversation(
        self, source: str = "chat", meta: dict | None = None, conversation_id: str | None = None
    ) -> str:
        cid = conversation_id or str(uuid.uuid4())
        now = _now()
        self._write(
            lambda c: c.execute(
                conversations.insert().values(
                    id=cid, created_at=now, source=source, meta=meta or {}, last_activity_at=now
                )
            )
        )
        return cid

    def add_turn(self, conversation_id: str, role: str, text: str, spool_key: str | None = None, **fields: Any) -> int:
        """`spool_key`: the key the message was received under (`assistant.store.inbox`), so a recovery
        of the same message is recognised and skipped."""
        unknown = set(fields) - TURN_FIELDS
        if unknown:
            raise StoreError(f"unknown turn fields: {sorted(unknown)}")
        values = dict(conversation_id=conversation_id, role=role, text=text, created_at=_now(), **fields)
        if spool_key:
            values["spool_key"] = spool_key

        def tx(c):
            turn_id = c.execute(turns.insert().values(**values)).inserted_primary_key[0]
            c.execute(
                conversations.update()
                .where(conversations.c.id == conversation_id)
                .values(last_activity_at=values["created_at"])
            )
            return turn_id

        return self._write(tx)

    def add_feedback(
        self,
        turn_id: int,
        rating: int,
        comment: str | None = None,
        correction: str | None = None,
        source: str = "customer",
        actor: str | None = None,
    ) -> int:
        if rating not in (-1, 0, 1):
            raise StoreError("rating must be -1, 0 or 1")

        def tx(c):
            if c.execute(sa.select(turns.c.id).where(turns.c.id == turn_id)).first() is None:
                raise StoreError(f"no turn {turn_id}")
            return c.execute(
                feedback.insert().values(
                    turn_id=turn_id,
                    rating=rating,
                    comment=comment,
                    correction=correction,
                    source=source,
                    actor=actor,
                    created_at=_now(),
                )
            ).inserted_primary_key[0]

        out = self._write(tx)
        if rating == -1:
            self._memory_rated_down(turn_id, actor, source)
        return out

    IMPORT_BATCH = 200
    """Pairs written per import transaction (a few tens of ms of SQLite's write lock)."""
    IMPORT_STALE_S = 60.0
    """A loading import that has not written for this long is taken for crashed (its rows are deleted)."""

    def import_exchanges(
        self,
        rows: list[tuple[str, str, str, str | None]],
        source_file: str,
        on_batch: Callable[[int], None] | None = None,
    ) -> int:
        """(key, user, assistant, intent) rows, each its own conversation; keys imported before are
        skipped. Returns how many were added.

        Written in batches of IMPORT_BATCH, each its own short transaction, so a big file never holds
        the write lock for long (customer turns keep being logged); all-or-nothing all the same, as
        readers see it: the conversations carry the run's id (`import_runs`), which stays `loading`
        until one tiny transaction marks it `done`, and no reader sees an unfinished import
        (`schema.visible_*`). A failure deletes what was written, in batches; rows of a run that crashed
        are deleted at the next import. `on_batch(added_so_far)` is called after each batch (tests, progress)."""
        self.clean_unfinished_imports()
        run, now = str(uuid.uuid4()), _now()
        self._write(
            lambda c: c.execute(
                import_runs.insert().values(
                    id=run, source_file=source_file[:500], state="loading", rows=0, started_at=now, updated_at=now
                )
            )
        )
        added = 0
        try:
            for i in range(0, len(rows), self.IMPORT_BATCH):
                started = time.monotonic()
                chunk = rows[i : i + self.IMPORT_BATCH]  # (the lambda runs at once: `chunk` is this batch's)
                added += self._write(lambda c: self._import_batch(c, run, chunk, source_file))
                if on_batch:
                    on_batch(added)
                # Let a waiting writer in: SQLite's busy handler polls, and would keep missing the moment
                # between two back-to-back batches.
                time.sleep(min(0.05, time.monotonic() - started))
            self._write(
                lambda c: c.execute(
                    import_runs.update().where(import_runs.c.id == run).values(state="done", updated_at=_now())
                )
            )
        except BaseException:
            try:
                self._write(
                    lambda c: c.execute(import_runs.update().where(import_runs.c.id == run).values(state="failed"))
                )
                self._delete_import_run(run)
            except Exception:  # the database is down: the next import deletes the rows of this failed run
                pass
            raise
        return added

    def _import_batch(self, c, run: str, chunk: list[tuple[str, str, str, str | None]], source_file: str) -> int:
        now = _now()
        present = {r[0] for r in c.execute(sa.select(imports.c.key).where(imports.c.key.in_([k for k, *_ in chunk])))}
        added = 0
        for key, user, assistant, intent in chunk:
            if key in present:
                continue
            present.add(key)  # the same pair twice in one file: once
            cid = str(uuid.uuid4())
            c.execute(
                conversations.insert().values(
                    id=cid,
                    created_at=now,
                    source="imported",
                    last_activity_at=now,
                    meta={"intent": intent, "file": source_file},
                    import_run=run,
                )
            )
            asked = c.execute(
                turns.insert().values(conversation_id=cid, role="user", text=user, created_at=now)
            ).inserted_primary_key[0]
            c.execute(
                turns.insert().values(
                    conversation_id=cid, role="assistant", text=assistant, created_at=now, reply_to=asked
                )
            )
            c.execute(
                imports.insert().values(
                    key=key, conversation_id=cid, source_file=source_file, intent=intent, created_at=now
                )
            )
            added += 1
        c.execute(
            import_runs.update()
            .where(import_runs.c.id == run)
            .values(rows=import_runs.c.rows + added, updated_at=_now())
        )
        return added

    def clean_unfinished_imports(self) -> int:
        """Delete the rows of failed imports and of loading ones that stopped writing (a crash); refuse
        while another import is loading now. Returns how many runs were cleaned."""
        stale = _now().timestamp() - self.IMPORT_STALE_S
        cleaned = 0
        for r in self._read(sa.select(import_runs).where(import_runs.c.state != "done")):
            at = r["updated_at"]
            at = at.replace(tzinfo=timezone.utc) if at is not None and at.tzinfo is None else at
            if r["state"] == "loading" and at is not None and at.timestamp() > stale:
                raise StoreError(
                    f"another import ({r['source_file']}) is loading now (started {r['started_at']:%H:%M:%S} UTC); "
                    "one at a time: try again when it is done"
                )
            rid: str = r["id"]
            self._write(lambda c: c.execute(import_runs.update().where(import_runs.c.id == rid).values(state="failed")))
            self._delete_import_run(rid)
            cleaned += 1
        return cleaned

    def _delete_import_run(self, run: str, batch: int = 500) -> None:
        """Delete an unfinished import's conversations, a batch per transaction, then the run itself."""
        while True:

            def tx(c) -> int:
                ids = [
                    r[0]
                    for r in c.execute(
                        sa.select(conversations.c.id).where(conversations.c.import_run == run).limit(batch)
                    )
                ]
                if ids:
                    c.execute(imports.delete().where(imports.c.conversation_id.in_(ids)))
                    c.execute(turns.delete().where(turns.c.conversation_id.in_(ids)))
                    c.execute(conversations.delete().where(conversations.c.id.in_(ids)))
                else:
                    c.execute(import_runs.delete().where(import_runs.c.id == run))
                return len(ids)

            if not self._write(tx):
                return

    def add_label(self, turn_id: int, task: str, value: Any, actor: str | None = None) -> int:
        """An operator's corrected sentiment label or entity list for a customer turn, or whether the
        knowledge base covers its question (`covered`: true/false; `finetune relevance-round` learns it)."""
        if task not in LABEL_TASKS:
            raise StoreError(f"label task must be one of {', '.join(LABEL_TASKS)}")

        def tx(c):
            row = c.execute(sa.select(turns.c.role).where(turns.c.id == turn_id)).first()
            if row is None:
                raise StoreError(f"no turn {turn_id}")
            if row[0] != "user":
                raise StoreError("labels belong to customer (user) turns")
            return c.execute(
                labels.insert().values(turn_id=turn_id, task=task, value=value, actor=actor, created_at=_now())
            ).inserted_primary_key[0]

        return self._write(tx)

    def labels_for(self, task: str) -> list[dict]:
        """Latest label per turn for a task, with the turn's text."""
        q = (
            sa.select(labels.c.turn_id, labels.c.value, labels.c.id, labels.c.actor, turns.c.text)
            .join(turns, turns.c.id == labels.c.turn_id)
            .where(labels.c.task == task)
            .order_by(labels.c.id)
        )
        latest: dict[int, dict] = {}
        for r in self._read(q):
            latest[r["turn_id"]] = r
        return list(latest.values())

    def reply_count(self) -> int:
        """How many assistant turns there are (what `exchanges` walks; for progress)."""
        return self._read(sa.select(sa.func.count().label("n")).where(turns.c.role == "assistant", visible_turn()))[0][
            "n"
        ]

    def exchanges(self, batch: int = 1000) -> Iterator[dict]:
        """Every assistant turn with the turn before it, its conversation and feedback, in pages of
        `batch` replies (keyset by id), so an export of millions of turns never reads whole tables."""
        earlier = turns.alias("earlier")
        prev_id = (
            sa.select(sa.func.max(earlier.c.id))
            .where(earlier.c.conversation_id == turns.c.conversation_id, earlier.c.id < turns.c.id)
            .correlate(turns)
            .scalar_subquery()
        )
        last = 0
        while True:
            page = self._read(
                sa.select(turns, prev_id.label("prev_id"))
                .where(turns.c.role == "assistant", turns.c.id > last, visible_turn())
                .order_by(turns.c.id)
                .limit(batch)
            )
            if not page:
                return
            last = page[-1]["id"]
            prev_ids = [t["prev_id"] for t in page if t["prev_id"] is not None]
            prev = (
                {t["id"]: t for t in self._read(sa.select(turns).where(turns.c.id.in_(prev_ids)))} if prev_ids else {}
            )
            conv_ids = sorted({t["conversation_id"] for t in page})
            meta = {c["id"]: c for c in self._read(sa.select(conversations).where(conversations.c.id.in_(conv_ids)))}
            fb: dict[int, list[dict]] = {}
            for f in self._read(
                sa.select(feedback).where(feedback.c.turn_id.in_([t["id"] for t in page])).order_by(feedback.c.id)
            ):
                fb.setdefault(f["turn_id"], []).append(f)
            for t in page:
                if t["prev_id"] not in prev:
                    continue
                c = meta.get(t["conversation_id"], {})
                turn = {k: v for k, v in t.items() if k != "prev_id"}
                yield {
                    "conversation_id": t["conversation_id"],
                    "source": c.get("source"),
                    "intent": (c.get("meta") or {}).get("intent"),
                    "user_turn": prev[t["prev_id"]],
                    "turn": turn,
                    "feedback": fb.get(t["id"], []),
                }

    def apply_spooled(self, record: dict) -> None:
        """Write one spool record (see `assistant.store.spool`); a record written before is skipped."""
        at = datetime.fromisoformat(record["at"])

        def tx(c):
            cid = record["id"] if record["op"] == "conversation" else record["conversation_id"]
            if c.execute(sa.select(conversations.c.id).where(conversations.c.id == cid)).first() is None:
                c.execute(
                    conversations.insert().values(
                        id=cid,
                        created_at=at,
                        source=record.get("source", "chat"),
                        meta={"spooled": True, **(record.get("meta") or {})},
                        last_activity_at=at,
                    )
                )
            if record["op"] != "turn":
                return
            if c.execute(sa.select(turns.c.id).where(turns.c.spool_key == record["key"])).first():
                return
            fields = {k: v for k, v in (record.get("fields") or {}).items() if k in TURN_FIELDS}
            if record["role"] == "assistant" and not fields.get("reply_to"):
                # Spooled before its question had a row id: the question is the conversation's last one.
                fields["reply_to"] = c.execute(
                    sa.select(sa.func.max(turns.c.id)).where(turns.c.conversation_id == cid, turns.c.role == "user")
                ).scalar()
            c.execute(
                turns.insert().values(
                    conversation_id=cid,
                    role=record["role"],
                    text=record["text"],
                    created_at=at,
                    spool_key=record["key"],
                    **fields,
                )
            )
            c.execute(conversations.update().where(conversations.c.id == cid).values(last_activity_at=at))

        self._write(tx)

    # --- retention and erasure ----------------------------------------------------------------
    def conversations_before(self, cutoff: datetime) -> list[str]:
        """Conversations with no activity since `cutoff`."""
        q = sa.select(conversations.c.id).where(conversations.c.last_activity_at < cutoff)
        return [r["id"] for r in self._read(q)]

    def conversations_mentioning(self, email: str) -> list[str]:
        """Conversations of a customer e-mail: left for a handoff reply, written in a turn or a note, or
        given by the channel."""
        like = "%" + email.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        left = sa.select(handoffs.c.conversation_id).where(sa.func.lower(handoffs.c.contact_email) == email.lower())
        wrote = sa.select(turns.c.conversation_id).where(sa.func.lower(turns.c.text).like(like, escape="\\"))
        # An operator may have noted the address in an internal note: that is the customer's data too.
        noted = sa.select(conversation_notes.c.conversation_id).where(
            sa.func.lower(conversation_notes.c.text).like(like, escape="\\")
        )
        # A channel may have named the customer with this address (`meta.customer_email`, customer_info).
        named = sa.select(conversations.c.id.label("conversation_id")).where(
            sa.func.lower(conversations.c.meta["customer_email"].as_string()) == email.lower()
        )
        return sorted({r["conversation_id"] for r in self._read(sa.union(left, wrote, noted, named))})

    def erase_conversations(self, ids: list[str]) -> dict[str, int]:
        """Delete conversations with everything attached to them, in one transaction per 500."""
        counts = {"conversations": 0, "turns": 0, "feedback": 0, "labels": 0, "handoff_events": 0, "answer_memory": 0}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]

            def tx(c):
                turn_ids = sa.select(turns.c.id).where(turns.c.conversation_id.in_(chunk))
                # A correction or operator reply kept in the answer memory holds that customer's question.
                counts["answer_memory"] += c.execute(
                    answer_memory.delete().where(answer_memory.c.turn_id.in_(turn_ids))
                ).rowcount
                counts["feedback"] += c.execute(feedback.delete().where(feedback.c.turn_id.in_(turn_ids))).rowcount
                counts["labels"] += c.execute(labels.delete().where(labels.c.turn_id.in_(turn_ids))).rowcount
                counts["turns"] += c.execute(turns.delete().where(turns.c.conversation_id.in_(chunk))).rowcount
                counts["handoff_events"] += c.execute(
                    handoff_events.delete().where(handoff_events.c.conversation_id.in_(chunk))
                ).rowcount
                c.execute(handoffs.delete().where(handoffs.c.conversation_id.in_(chunk)))
                c.execute(imports.delete().where(imports.c.conversation_id.in_(chunk)))
                for k, n in self._erase_team(c, chunk).items():  # notes, tags, satisfaction answers
                    counts[k] = counts.get(k, 0) + n
                counts["conversations"] += c.execute(
                    conversations.delete().where(conversations.c.id.in_(chunk))
                ).rowcount

            self._write(tx)
        return counts

    def check_writable(self) -> None:
        """Raise StoreError unless a write can be made now (a probe row, rolled back)."""

        def probe():
            with self.engine.connect() as conn:
                tx = conn.begin()
                try:
                    conn.execute(
                        sa.text(
                            "INSERT INTO schema_migrations (version, description, applied_at) "
                            "VALUES (-1, 'write probe', :now)"
                        ),
                        {"now": _now()},
                    )
                finally:
                    tx.rollback()

        self._retry(probe)

    # --- reads ------------------------------------------------------------------------------
    def history(self, conversation_id: str, limit: int = 50) -> list[dict]:
        q = sa.select(turns).where(turns.c.conversation_id == conversation_id).order_by(turns.c.id.desc()).limit(limit)
        return list(reversed(self._read(q)))

    def conversation_exists(self, conversation_id: str) -> bool:
        return bool(self._read(sa.select(conversations.c.id).where(conversations.c.id == conversation_id)))

    def first_time(self, conversation_id: str, event: str) -> bool:
        """Record `event` (a help desk's message id) on the conversation; False when it was recorded
        before (a delivery retried), so one message makes one turn."""

        def tx(c) -> bool:
            # Lock the row first (PostgreSQL row lock, SQLite write lock): two deliveries at once see each other.
            c.execute(
                sa.update(conversations)
                .where(conversations.c.id == conversation_id)
                .values(last_activity_at=conversations.c.last_activity_at)
            )
            row = c.execute(sa.select(conversations.c.meta).where(conversations.c.id == conversation_id)).first()
            if row is None:
                return True
            meta = dict(row[0] or {})
            seen = list(meta.get("events", []))
            if event in seen:
                return False
            meta["events"] = (seen + [event])[-200:]
            c.execute(sa.update(conversations).where(conversations.c.id == conversation_id).values(meta=meta))
            return True

        return bool(self._write(tx))

    def conversation_owner(self, conversation_id: str) -> str | None:
        """The API key a conversation was started with (`meta.api_key`); None for any other channel."""
        rows = self._read(sa.select(conversations.c.meta).where(conversations.c.id == conversation_id))
        return (rows[0]["meta"] or {}).get("api_key") if rows else None

    def rate(self, turn_id: int, rating: int, actor: str, comment: str | None = None, source: str = "api") -> int:
        """One rating per turn and rater: a second rating by the same `actor` replaces the first
        (ratings choose training data: a client must not weigh in twice)."""
        if rating not in (-1, 0, 1):
            raise StoreError("rating must be -1, 0 or 1")

        def tx(c):
            row = c.execute(
                sa.select(feedback.c.id).where(feedback.c.turn_id == turn_id, feedback.c.actor == actor)
            ).first()
            if row is None:
                if c.execute(sa.select(turns.c.id).where(turns.c.id == turn_id)).first() is None:
                    raise StoreError(f"no turn {turn_id}")
                return c.execute(
                    feedback.insert().values(
                        turn_id=turn_id, rating=rating, comment=comment, source=source, actor=actor, created_at=_now()
                    )
                ).inserted_primary_key[0]
            c.execute(
                sa.update(feedback)
                .where(feedback.c.id == row[0])
                .values(rating=rating, comment=comment, created_at=_now())
            )
            return row[0]

        out = self._write(tx)
        if rating == -1:
            self._memory_rated_down(turn_id, actor, source)
        return out

    def turn(self, turn_id: int) -> dict | None:
        rows = self._read(sa.select(turns).where(turns.c.id == turn_id))
        return rows[0] if rows else None

    def feedback_for(self, turn_id: int) -> list[dict]:
        return self._read(sa.select(feedback).where(feedback.c.turn_id == turn_id).order_by(feedback.c.id))

    def counts(self) -> dict[str, int]:
        def one(q):
            return self._read(q)[0]["n"]

        n = sa.func.count().label("n")
        # An import still loading is not counted (readers see it whole or not at all).
        return {
            "conversations": one(sa.select(n).select_from(conversations).where(visible_conversation())),
            "turns": one(sa.select(n).select_from(turns).where(visible_turn())),
            "feedback": one(sa.select(n).select_from(feedback)),
            "escalations": one(sa.select(n).select_from(turns).where(turns.c.escalation.is_not(None))),
            "imported": one(
                sa.select(n).select_from(imports).where(imports.c.conversation_id.not_in(unfinished_imports()))
            ),
        }


if __name__ == "__main__":
    s = Store(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///loopdesk.db")
    print("schema versions:", migrations.applied(s.engine), s.counts())
