"""Store methods for who answers a conversation and who the operators are (mixed into `Store`).

A conversation without a `handoffs` row belongs to the assistant. A row moves through
queued -> human -> (assistant | closed); every move is one transaction that also appends a
`handoff_events` row (what, who, when), and it only happens from the state the caller expected,
so two operators taking the same conversation at once cannot both win. The rules (who may do
what, wordings, waits) live in `assistant.turn.handoff`; this module only reads and writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

import sqlalchemy as sa

from assistant.errors import InputError, StoreError
from assistant.store.mixin import StoreMixin
from assistant.store.sign_in import admins_locked
from assistant.store.schema import (
    conversations,
    handoff_events,
    handoffs,
    last_customer_message,
    first_customer_message,
    operators,
)


class HandoffRecords(StoreMixin):
    """Mixin: needs `_read`, `_write` and `_now` from `Store`."""

    def handoff(self, conversation_id: str) -> dict | None:
        rows = self._read(sa.select(handoffs).where(handoffs.c.conversation_id == conversation_id))
        return rows[0] if rows else None

    def move_handoff(
        self,
        conversation_id: str,
        expected: Sequence[str | None],
        state: str,
        actor: str,
        kind: str,
        detail: dict | None = None,
        **values: Any,
    ) -> bool:
        """Set the conversation's state to `state` if it is now one of `expected` (None = the
        assistant owns it, no row). Returns False, changing nothing, when it is not."""
        now = self._now()

        def tx(c):
            if c.execute(sa.select(conversations.c.id).where(conversations.c.id == conversation_id)).first() is None:
                raise StoreError(f"no conversation {conversation_id}")
            fields = dict(state=state, updated_at=now, **values)
            # The state check is part of the UPDATE itself, so of two concurrent moves only one matches.
            moved = c.execute(
                handoffs.update()
                .where(handoffs.c.conversation_id == conversation_id, handoffs.c.state.in_([e for e in expected if e]))
                .values(**fields)
            ).rowcount
            if not moved and None in expected:
                exists = c.execute(sa.select(handoffs.c.state).where(handoffs.c.conversation_id == conversation_id))
                if exists.first() is None:
                    c.execute(
                        handoffs.insert().values(**{"conversation_id": conversation_id, "requested_at": now, **fields})
                    )
                    moved = 1
            if not moved:
                return False
            c.execute(
                handoff_events.insert().values(
                    conversation_id=conversation_id, kind=kind, actor=actor, detail=detail or {}, created_at=now
                )
            )
            c.execute(conversations.update().where(conversations.c.id == conversation_id).values(last_activity_at=now))
            return True

        try:
            return self._write(tx)
        except sa.exc.IntegrityError:  # another request inserted the row first: that one won
            return False

    def add_handoff_event(self, conversation_id: str, kind: str, actor: str, detail: dict | None = None) -> None:
        """Record something that happened to a conversation without moving it (an e-mail sent or not)."""
        now = self._now()
        self._write(
            lambda c: c.execute(
                handoff_events.insert().values(
                    conversation_id=conversation_id, kind=kind, actor=actor, detail=detail or {}, created_at=now
                )
            )
        )

    def handoff_events(self, conversation_id: str) -> list[dict]:
        return self._read(
            sa.select(handoff_events)
            .where(handoff_events.c.conversation_id == conversation_id)
            .order_by(handoff_events.c.id)
        )

    def handoff_queue(self, states: Sequence[str] = ("queued", "human"), limit: int = 200) -> list[dict]:
        """Open handoffs, oldest request first, with the conversation's channel (`source`), its `meta` (who
        the customer is, where the channel said), its first and last customer message and its last activity."""
        last_user = last_customer_message(handoffs.c.conversation_id)
        first_user = first_customer_message(handoffs.c.conversation_id)
        q = (
            sa.select(
                handoffs,
                conversations.c.last_activity_at,
                conversations.c.source,
                conversations.c.meta,
                first_user.label("first_message"),
                last_user.label("last_message"),
            )
            .join(conversations, conversations.c.id == handoffs.c.conversation_id)
            .where(handoffs.c.state.in_(list(states)))
            .order_by(handoffs.c.requested_at)
            .limit(limit)
        )
        return self._read(q)

    def recent_waits(self, limit: int = 50) -> list[float]:
        """Seconds from request to take-over of the latest taken handoffs."""
        q = (
            sa.select(handoffs.c.requested_at, handoffs.c.taken_at)
            .where(handoffs.c.taken_at.is_not(None))
            .order_by(handoffs.c.taken_at.desc())
            .limit(limit)
        )
        return [_seconds(r["taken_at"], r["requested_at"]) for r in self._read(q)]

    # --- operator accounts --------------------------------------------------------------------
    def add_operator(self, name: str, password_hash: str, role: str = "admin") -> None:
        def tx(c):
            if c.execute(sa.select(operators.c.name).where(operators.c.name == name)).first():
                raise StoreError(f"operator {name!r} exists already")
            values = dict(name=name, password_hash=password_hash, created_at=self._now(), role=role)
            c.execute(operators.insert().values(**values))

        self._write(tx)

    def remove_operator(self, name: str) -> None:
        """Delete an account; its past replies and events keep the name. Refused (InputError) when it is
        the last admin (`admins_locked`: two admins removing each other at once leave one) or while it holds
        or is assigned open conversations."""

        def tx(c):
            admins = admins_locked(c)  # first: the row read next is then the committed one
            row = c.execute(sa.select(operators.c.role).where(operators.c.name == name)).first()
            if row is None:
                raise InputError(f"no operator {name!r}")
            if row[0] == "admin" and admins <= 1:
                raise InputError(f"{name} is the last admin: make someone else admin first")
            # Their customers would keep seeing "<name> is answering" with nobody behind it.
            held = sa.or_(
                sa.and_(handoffs.c.state == "human", handoffs.c.operator == name),
                sa.and_(handoffs.c.state == "queued", handoffs.c.assigned_to == name),
            )
            n = c.execute(sa.select(sa.func.count()).select_from(handoffs).where(held)).scalar()
            if n:
                raise InputError(f"{name} holds {n} open conversation(s): transfer or close them first")
            c.execute(operators.delete().where(operators.c.name == name))

        self._write(tx)

    def set_operator_password(self, name: str, password_hash: str) -> None:
        def tx(c):
            if not c.execute(
                operators.update().where(operators.c.name == name).values(password_hash=password_hash)
            ).rowcount:
                raise InputError(f"no operator {name!r}")

        self._write(tx)

    def operator_account(self, name: str) -> dict | None:
        rows = self._read(sa.select(operators).where(operators.c.name == name))
        return rows[0] if rows else None

    def operator_names(self) -> list[str]:
        return [r["name"] for r in self._read(sa.select(operators.c.name).order_by(operators.c.name))]

    def touch_operator(self, name: str) -> None:
        """Mark the operator as online now (the console calls this while it is open)."""
        self._write(
            lambda c: c.execute(operators.update().where(operators.c.name == name).values(last_seen_at=self._now()))
        )

    def operators_seen_since(self, since: datetime) -> list[str]:
        return [r["name"] for r in self._read(sa.select(operators.c.name).where(operators.c.last_seen_at >= since))]


def _seconds(later: datetime, earlier: datetime) -> float:
    # SQLite hands back naive datetimes for timezone-aware columns; both sides come from the same column type.
    return max((later.replace(tzinfo=None) - earlier.replace(tzinfo=None)).total_seconds(), 0.0)
