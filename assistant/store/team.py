"""Store methods for the team features of the console (mixed into `Store`): saved replies, internal
notes and tags on conversations, customers' satisfaction answers, and the handoff activity the
first-response / resolution numbers are computed from.

Internal notes live in their own table, never as turns: everything that shows a customer their
conversation, the HTTP API's messages endpoint and the training export read turns only, so a note
cannot leak through any of them. Rules (who may save a reply, what a tag or a variable may be) live in
`assistant.web.console.team`; this module only reads and writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

import sqlalchemy as sa

from assistant.errors import StoreError
from assistant.store.mixin import StoreMixin
from assistant.store.schema import (
    conversation_notes,
    conversation_tags,
    conversations,
    handoff_events,
    saved_replies,
    satisfaction as answers,
    turns,
)

EPISODE_EVENTS = ("requested", "taken", "handed_back", "closed", "abandoned")
"""The handoff events that start or end a stretch of a conversation with the team."""


def _chunks(ids: list[str], size: int = 500) -> Iterable[list[str]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


class TeamRecords(StoreMixin):
    """Mixin: needs `_read`, `_write` and `_now` from `Store`."""

    def conversation_meta(self, conversation_id: str) -> dict | None:
        """What the channel recorded with the conversation (`conversations.meta`); None when there is none."""
        rows = self._read(sa.select(conversations.c.meta).where(conversations.c.id == conversation_id))
        return (rows[0]["meta"] or {}) if rows else None

    # --- saved replies ---------------------------------------------------------------------------
    def saved_replies(self) -> list[dict]:
        return self._read(sa.select(saved_replies).order_by(saved_replies.c.name))

    def saved_reply(self, name: str) -> dict | None:
        rows = self._read(sa.select(saved_replies).where(saved_replies.c.name == name))
        return rows[0] if rows else None

    def save_reply(self, name: str, text: str, by: str) -> bool:
        """Add or replace the saved reply `name`; True when it is new."""
        now = self._now()

        def tx(c) -> bool:
            changed = c.execute(
                saved_replies.update()
                .where(saved_replies.c.name == name)
                .values(text=text, updated_by=by, updated_at=now)
            ).rowcount
            if changed:
                return False
            c.execute(saved_replies.insert().values(name=name, text=text, created_by=by, updated_by=by, updated_at=now))
            return True

        try:
            return bool(self._write(tx))
        except sa.exc.IntegrityError:  # saved by someone else at the same moment: this one replaces it
            return bool(self._write(tx))

    def delete_saved_reply(self, name: str) -> bool:
        return bool(
            self._write(lambda c: c.execute(saved_replies.delete().where(saved_replies.c.name == name)).rowcount)
        )

    # --- internal notes --------------------------------------------------------------------------
    def add_note(self, conversation_id: str, author: str, text: str) -> int:
        def tx(c) -> int:
            if c.execute(sa.select(conversations.c.id).where(conversations.c.id == conversation_id)).first() is None:
                raise StoreError(f"no conversation {conversation_id}")
            return c.execute(
                conversation_notes.insert().values(
                    conversation_id=conversation_id, author=author, text=text, created_at=self._now()
                )
            ).inserted_primary_key[0]

        return int(self._write(tx))

    def notes(self, conversation_id: str) -> list[dict]:
        return self._read(
            sa.select(conversation_notes)
            .where(conversation_notes.c.conversation_id == conversation_id)
            .order_by(conversation_notes.c.id)
        )

    # --- tags ------------------------------------------------------------------------------------
    def add_tag(self, conversation_id: str, tag: str, by: str) -> bool:
        """Tag the conversation; False when it has the tag already."""

        def tx(c) -> bool:
            if c.execute(sa.select(conversations.c.id).where(conversations.c.id == conversation_id)).first() is None:
                raise StoreError(f"no conversation {conversation_id}")
            present = c.execute(
                sa.select(conversation_tags.c.tag).where(
                    conversation_tags.c.conversation_id == conversation_id, conversation_tags.c.tag == tag
                )
            ).first()
            if present:
                return False
            c.execute(
                conversation_tags.insert().values(
                    conversation_id=conversation_id, tag=tag, added_by=by, added_at=self._now()
                )
            )
            return True

        try:
            return bool(self._write(tx))
        except sa.exc.IntegrityError:  # the same tag added at the same moment by someone else
            return False

    def remove_tag(self, conversation_id: str, tag: str) -> bool:
        return bool(
            self._write(
                lambda c: (
                    c.execute(
                        conversation_tags.delete().where(
                            conversation_tags.c.conversation_id == conversation_id, conversation_tags.c.tag == tag
                        )
                    ).rowcount
                )
            )
        )

    def tags(self, conversation_id: str) -> list[str]:
        return self.tags_of([conversation_id]).get(conversation_id, [])

    def tags_of(self, conversation_ids: list[str]) -> dict[str, list[str]]:
        """Tags by conversation (alphabetical), for a page of conversations at once."""
        out: dict[str, list[str]] = {}
        for chunk in _chunks(list(conversation_ids)):
            q = (
                sa.select(conversation_tags.c.conversation_id, conversation_tags.c.tag)
                .where(conversation_tags.c.conversation_id.in_(chunk))
                .order_by(conversation_tags.c.tag)
            )
            for r in self._read(q):
                out.setdefault(r["conversation_id"], []).append(r["tag"])
        return out

    def tag_counts(self) -> list[dict]:
        """Every tag in use with how many conversations carry it, most used first."""
        n = sa.func.count().label("conversations")
        q = (
            sa.select(conversation_tags.c.tag, n)
            .group_by(conversation_tags.c.tag)
            .order_by(n.desc(), conversation_tags.c.tag)
        )
        return self._read(q)

    # --- satisfaction ----------------------------------------------------------------------------
    def add_satisfaction(self, conversation_id: str, rating: int, operator: str | None) -> bool:
        """The customer's answer (1 good, -1 bad); False when the conversation has one already (the
        first answer stands)."""
        if rating not in (-1, 1):
            raise StoreError("a satisfaction answer is 1 (good) or -1 (bad)")

        def tx(c) -> bool:
            if c.execute(sa.select(answers.c.rating).where(answers.c.conversation_id == conversation_id)).first():
                return False
            c.execute(
                answers.insert().values(
                    conversation_id=conversation_id, rating=rating, operator=operator, answered_at=self._now()
                )
            )
            return True

        try:
            return bool(self._write(tx))
        except sa.exc.IntegrityError:  # two clicks at once: the first one stands
            return False

    def satisfaction(self, conversation_id: str) -> dict | None:
        rows = self._read(sa.select(answers).where(answers.c.conversation_id == conversation_id))
        return rows[0] if rows else None

    def last_handoff_event(self, conversation_id: str, kinds: Iterable[str] = EPISODE_EVENTS) -> dict | None:
        rows = self._read(
            sa.select(handoff_events)
            .where(handoff_events.c.conversation_id == conversation_id, handoff_events.c.kind.in_(list(kinds)))
            .order_by(handoff_events.c.id.desc())
            .limit(1)
        )
        return rows[0] if rows else None

    # --- what the team numbers are computed from --------------------------------------------------
    def handoff_activity(self, since: datetime, until: datetime) -> dict[str, list[dict]]:
        """Everything needed to measure the stretches with the team that started in [since, until):
        the conversations queued for or taken by a person in that period, with all their handoff
        events (`events`, in order), the team's replies (`replies`: conversation_id, created_at,
        notes) and the satisfaction answers (`answers`)."""
        started = (
            sa.select(handoff_events.c.conversation_id)
            .where(
                handoff_events.c.kind.in_(["requested", "taken"]),
                handoff_events.c.created_at >= since,
                handoff_events.c.created_at < until,
            )
            .distinct()
        )
        ids = [r["conversation_id"] for r in self._read(started)]
        out: dict[str, list[dict]] = {"events": [], "replies": [], "answers": []}
        for chunk in _chunks(ids):
            out["events"] += self._read(
                sa.select(
                    handoff_events.c.conversation_id,
                    handoff_events.c.kind,
                    handoff_events.c.actor,
                    handoff_events.c.created_at,
                )
                .where(handoff_events.c.conversation_id.in_(chunk), handoff_events.c.kind.in_(EPISODE_EVENTS))
                .order_by(handoff_events.c.id)
            )
            out["replies"] += self._read(
                sa.select(turns.c.conversation_id, turns.c.created_at, turns.c.notes)
                .where(turns.c.conversation_id.in_(chunk), turns.c.role == "agent")
                .order_by(turns.c.id)
            )
            out["answers"] += self._read(sa.select(answers).where(answers.c.conversation_id.in_(chunk)))
        return out

    # --- erasure ---------------------------------------------------------------------------------
    def _erase_team(self, c, conversation_ids: list[str]) -> dict[str, int]:
        """Inside `erase_conversations`' transaction: the notes, tags and answers of these conversations."""
        return {
            "notes": c.execute(
                conversation_notes.delete().where(conversation_notes.c.conversation_id.in_(conversation_ids))
            ).rowcount,
            "tags": c.execute(
                conversation_tags.delete().where(conversation_tags.c.conversation_id.in_(conversation_ids))
            ).rowcount,
            "satisfaction": c.execute(answers.delete().where(answers.c.conversation_id.in_(conversation_ids))).rowcount,
        }
