"""Store methods for a team working the handoff queue (mixed into `Store`): assignment, transfer and
each operator's status.

`assign_handoff` names who should answer a queued item (`handoffs.assigned_to`); `transfer_handoff`
moves a conversation a person holds to another operator, only while the expected one still holds it
(two transfers at once cannot both win). Each is one transaction that also appends its
`handoff_events` row (`assigned` / `transferred`, who did it, from whom to whom). An operator's status
(`operators.status`: online | away) is in the database, so every replica counts the same people as
online. The rules (who may transfer, what is refused) live in `assistant.turn.assignment`.

Columns: `handoffs.assigned_to`, `operators.status` (migration 15).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from assistant.errors import StoreError
from assistant.store.mixin import StoreMixin
from assistant.store.schema import conversations, handoff_events, handoffs, operators

STATUSES = ("online", "away")


class AssignmentRecords(StoreMixin):
    """Mixin: needs `_read`, `_write` and `_now` from `Store`."""

    def _move(self, conversation_id: str, where: list, values: dict, kind: str, actor: str, detail: dict) -> bool:
        """Update the handoff row where `where` still holds, and record the event, in one transaction."""
        now = self._now()

        def tx(c) -> bool:
            moved = c.execute(
                handoffs.update()
                .where(handoffs.c.conversation_id == conversation_id, *where)
                .values(updated_at=now, **values)
            ).rowcount
            if not moved:
                return False
            c.execute(
                handoff_events.insert().values(
                    conversation_id=conversation_id, kind=kind, actor=actor, detail=detail, created_at=now
                )
            )
            c.execute(conversations.update().where(conversations.c.id == conversation_id).values(last_activity_at=now))
            return True

        return self._write(tx)

    def assign_handoff(self, conversation_id: str, to: str, actor: str, previous: str | None) -> bool:
        """Assign a queued item to `to` if it is still queued and assigned to `previous` (None: nobody);
        False, changing nothing, when it moved meanwhile."""
        same = handoffs.c.assigned_to.is_(None) if previous is None else handoffs.c.assigned_to == previous
        return self._move(
            conversation_id,
            [handoffs.c.state == "queued", same],
            {"assigned_to": to},
            "assigned",
            actor,
            {"from": previous, "to": to},
        )

    def transfer_handoff(self, conversation_id: str, holder: str, to: str, actor: str) -> bool:
        """Give a conversation `holder` holds to `to` (who holds it from now on: replies are theirs); False
        when `holder` no longer holds it. The take-over time stays: the customer's wait ended then."""
        return self._move(
            conversation_id,
            [handoffs.c.state == "human", handoffs.c.operator == holder],
            {"operator": to, "assigned_to": to},
            "transferred",
            actor,
            {"from": holder, "to": to},
        )

    def set_operator_status(self, name: str, status: str) -> None:
        if status not in STATUSES:
            raise StoreError(f"status must be {' or '.join(STATUSES)}")

        def tx(c) -> None:
            if not c.execute(operators.update().where(operators.c.name == name).values(status=status)).rowcount:
                raise StoreError(f"no operator {name!r}")

        self._write(tx)

    def operator_team(self) -> list[dict]:
        """Every account by name: `name`, `role`, `status`, `last_seen_at`."""
        q = sa.select(operators.c.name, operators.c.role, operators.c.status, operators.c.last_seen_at)
        return self._read(q.order_by(operators.c.name))

    def operators_available_since(self, since: datetime) -> list[str]:
        """Operators with the console open since `since` and not away: who a customer may expect."""
        q = sa.select(operators.c.name).where(operators.c.last_seen_at >= since, operators.c.status == "online")
        return [r["name"] for r in self._read(q.order_by(operators.c.name))]
