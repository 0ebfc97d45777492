"""Store methods behind the operator console (mixed into `Store`): paged, filtered lists in SQL.

`conversation_page` lists conversations by last activity; `reply_page` lists assistant replies
with the customer message before them; `conversation_turns` is one conversation with its
feedback and labels; `daily_stats` is the per-day numbers of the charts, counted in SQL.
Filters and paging run in the database (indexes on last activity, turn time, escalation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from assistant.store.mixin import StoreMixin
from assistant.store.schema import (
    conversation_tags,
    conversations,
    feedback,
    handoffs,
    labels,
    last_customer_message,
    satisfaction,
    turns,
    visible_conversation,
    visible_turn,
)


@dataclass
class TurnFilter:
    """What the console filters replies by; empty fields do not filter."""

    rating: str = "any"  # any | good | bad | none (the latest rating of the reply)
    sentiment: str = "any"  # label of the customer message
    escalated: str = "any"  # any | yes | no
    adapter: str = ""
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    text: str = ""


def _latest_rating():
    return (
        sa.select(feedback.c.rating)
        .where(feedback.c.turn_id == turns.c.id, feedback.c.rating != 0)
        .order_by(feedback.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


COUNT_CAP = 10_000
"""Lists count their matches up to this (then "10,000+"): an exact count of a broad search over
millions of turns costs seconds and tells an operator nothing more."""


class ConsoleQueries(StoreMixin):
    """Mixin: needs `_read` from `Store`."""

    def _count(self, query) -> int:
        """Matches of `query`, counted up to COUNT_CAP + 1."""
        capped = query.limit(COUNT_CAP + 1).subquery()
        return self._read(sa.select(sa.func.count().label("n")).select_from(capped))[0]["n"]

    def conversation_page(
        self,
        offset: int = 0,
        limit: int = 25,
        since: datetime | None = None,
        until: datetime | None = None,
        text: str = "",
        state: str = "any",
        tag: str = "",
    ) -> tuple[list[dict], int]:
        """(conversations newest activity first, total matching); `tag` keeps those carrying that tag."""
        n_turns = sa.select(sa.func.count()).where(turns.c.conversation_id == conversations.c.id).scalar_subquery()
        last_user = last_customer_message(conversations.c.id)
        escalations = (
            sa.select(sa.func.count())
            .where(turns.c.conversation_id == conversations.c.id, turns.c.escalation.is_not(None))
            .scalar_subquery()
        )
        where = [visible_conversation()]  # an import still loading is not listed (seen whole or not at all)
        if since:
            where.append(conversations.c.last_activity_at >= since)
        if until:
            where.append(conversations.c.last_activity_at < until)
        if text.strip():
            like = f"%{_escape_like(text.strip().lower())}%"
            where.append(
                sa.exists().where(
                    turns.c.conversation_id == conversations.c.id, sa.func.lower(turns.c.text).like(like, escape="\\")
                )
            )
        if state != "any":
            where.append(sa.func.coalesce(handoffs.c.state, "assistant") == state)
        if tag:
            tagged = sa.select(conversation_tags.c.conversation_id).where(conversation_tags.c.tag == tag)
            where.append(conversations.c.id.in_(tagged))
        base = conversations.outerjoin(handoffs, handoffs.c.conversation_id == conversations.c.id)
        q = (
            sa.select(
                conversations.c.id,
                conversations.c.source,
                conversations.c.last_activity_at,
                n_turns.label("turns"),
                last_user.label("last_message"),
                escalations.label("escalations"),
                sa.func.coalesce(handoffs.c.state, "assistant").label("state"),
                handoffs.c.operator,
            )
            .select_from(base)
            .where(*where)
            .order_by(conversations.c.last_activity_at.desc(), conversations.c.id)
            .offset(offset)
            .limit(limit)
        )
        return self._read(q), self._count(sa.select(conversations.c.id).select_from(base).where(*where))

    def reply_page(self, f: TurnFilter, offset: int = 0, limit: int = 50) -> tuple[list[dict], int]:
        """(assistant replies newest first with the customer message before each, total matching)."""
        user = turns.alias("u")
        rating = _latest_rating()
        where = [turns.c.role == "assistant", visible_turn()]
        if f.rating in ("good", "bad"):
            # Driven from the (few) ratings: the replies whose latest rating is the one asked for.
            later = feedback.alias("later")
            latest = sa.select(feedback.c.turn_id).where(
                feedback.c.rating == (1 if f.rating == "good" else -1),
                ~sa.exists().where(
                    later.c.turn_id == feedback.c.turn_id, later.c.rating != 0, later.c.id > feedback.c.id
                ),
            )
            where.append(turns.c.id.in_(latest))
        elif f.rating == "none":
            where.append(rating.is_(None))
        if f.escalated == "yes":
            where.append(turns.c.escalation.is_not(None))
        elif f.escalated == "no":
            where.append(turns.c.escalation.is_(None))
        if f.adapter:
            where.append(sa.func.coalesce(turns.c.adapter_id, "none").contains(f.adapter, autoescape=True))
        if f.since:
            where.append(turns.c.created_at >= f.since)
        if f.until:
            where.append(turns.c.created_at < f.until)
        joined = turns.outerjoin(user, user.c.id == turns.c.reply_to)
        if f.sentiment != "any":
            where.append(user.c.sentiment == f.sentiment)
        if f.text.strip():
            like = f"%{_escape_like(f.text.strip().lower())}%"
            where.append(
                sa.or_(
                    sa.func.lower(turns.c.text).like(like, escape="\\"),
                    sa.func.lower(user.c.text).like(like, escape="\\"),
                )
            )
        correction = (
            sa.select(feedback.c.correction)
            .where(feedback.c.turn_id == turns.c.id, feedback.c.correction.is_not(None))
            .order_by(feedback.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        q = (
            sa.select(
                turns.c.id,
                turns.c.conversation_id,
                turns.c.created_at,
                turns.c.text,
                turns.c.escalation,
                turns.c.adapter_id,
                turns.c.latency_ms,
                user.c.id.label("user_turn_id"),
                user.c.text.label("customer"),
                user.c.sentiment,
                rating.label("rating"),
                correction.label("correction"),
            )
            .select_from(joined)
            .where(*where)
            .order_by(turns.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return self._read(q), self._count(sa.select(turns.c.id).select_from(joined).where(*where))

    def conversation_turns(self, conversation_id: str) -> list[dict]:
        """Every turn of a conversation in order, each with its feedback and labels."""
        rows = self._read(sa.select(turns).where(turns.c.conversation_id == conversation_id).order_by(turns.c.id))
        ids = [r["id"] for r in rows]
        fb: dict[int, list[dict]] = {}
        lab: dict[int, list[dict]] = {}
        if ids:
            for r in self._read(sa.select(feedback).where(feedback.c.turn_id.in_(ids)).order_by(feedback.c.id)):
                fb.setdefault(r["turn_id"], []).append(r)
            for r in self._read(sa.select(labels).where(labels.c.turn_id.in_(ids)).order_by(labels.c.id)):
                lab.setdefault(r["turn_id"], []).append(r)
        return [{**r, "feedback": fb.get(r["id"], []), "labels": lab.get(r["id"], [])} for r in rows]

    def turns_after(self, conversation_id: str, after_id: int) -> list[dict]:
        """Turns of a conversation newer than `after_id` (what a customer's page has not shown yet)."""
        return self._read(
            sa.select(turns)
            .where(turns.c.conversation_id == conversation_id, turns.c.id > after_id)
            .order_by(turns.c.id)
        )

    def daily_stats(self, since: datetime, until: datetime) -> list[dict]:
        """Per UTC day in [since, until), counted in the database (no turn leaves it): replies,
        customer turns, customer turns tagged negative, replies rated up / down (latest rating),
        escalations, the median reply latency, and the satisfaction answers given that day (`satisfied`
        of `satisfaction_answers`)."""
        if self.engine.dialect.name == "postgresql":
            day = sa.func.to_char(sa.func.timezone("UTC", turns.c.created_at), "YYYY-MM-DD")
        else:  # SQLite keeps UTC times as ISO text
            day = sa.func.substr(sa.cast(turns.c.created_at, sa.String), 1, 10)
        period = (turns.c.created_at >= since, turns.c.created_at < until)
        rows = (
            sa.select(
                day.label("day"),
                turns.c.role,
                turns.c.sentiment,
                turns.c.escalation,
                sa.case((turns.c.role == "assistant", _latest_rating())).label("rating"),
            )
            .where(*period, visible_turn())
            .subquery()
        )

        def count(*cond) -> sa.ColumnElement:
            return sa.func.sum(sa.case((sa.and_(*cond), 1), else_=0))

        reply, customer = rows.c.role == "assistant", rows.c.role == "user"
        totals = sa.select(
            rows.c.day,
            count(reply).label("replies"),
            count(customer).label("customer_turns"),
            count(customer, rows.c.sentiment == "negative").label("negative"),
            count(reply, rows.c.rating == 1).label("up"),
            count(reply, rows.c.rating == -1).label("down"),
            count(reply, rows.c.escalation.is_not(None)).label("escalations"),
        ).group_by(rows.c.day)
        # The median as the mean of the middle one or two latencies, by window functions (SQLite has
        # no percentile aggregate; PostgreSQL's percentile_cont gives the same number).
        ranked = (
            sa.select(
                day.label("day"),
                turns.c.latency_ms,
                sa.func.row_number().over(partition_by=day, order_by=turns.c.latency_ms).label("rn"),
                sa.func.count().over(partition_by=day).label("n"),
            )
            .where(*period, turns.c.role == "assistant", turns.c.latency_ms.is_not(None))
            .subquery()
        )
        medians = (
            sa.select(ranked.c.day, sa.func.avg(ranked.c.latency_ms).label("p50"))
            .where(ranked.c.rn.between((ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2))
            .group_by(ranked.c.day)
        )
        p50 = {r["day"]: r["p50"] for r in self._read(medians)}
        # Customers' answers to "How did we do?", by the day they answered.
        if self.engine.dialect.name == "postgresql":
            answered = sa.func.to_char(sa.func.timezone("UTC", satisfaction.c.answered_at), "YYYY-MM-DD")
        else:
            answered = sa.func.substr(sa.cast(satisfaction.c.answered_at, sa.String), 1, 10)
        votes = (
            sa.select(
                answered.label("day"),
                sa.func.sum(sa.case((satisfaction.c.rating == 1, 1), else_=0)).label("satisfied"),
                sa.func.count().label("satisfaction_answers"),
            )
            .where(satisfaction.c.answered_at >= since, satisfaction.c.answered_at < until)
            .group_by(answered)
        )
        by_day = {r["day"]: r for r in self._read(totals)}
        for v in self._read(votes):
            by_day.setdefault(v["day"], {"day": v["day"]}).update(v)
        return [{**r, "p50_latency_ms": p50.get(day)} for day, r in sorted(by_day.items())]

    def gap_signals(self, since: datetime, limit: int = 2000) -> list[dict]:
        """Customer questions the assistant did not answer well since `since`, newest first: declined
        (not covered), the upset streak, replies rated down (latest rating), and questions an operator
        labelled "not in the pages". Each row: `text`, `at`, `why` (declined | upset | rated down |
        not in the pages), `conversation_id`. A "talk to a person" message says nothing about the
        knowledge base and is left out; the question before it is what failed. A question an operator
        labelled "in the pages" is not a gap whatever happened to it (the pages have the answer: it is
        the relevance round's to learn), and one labelled "not in the pages" counts once."""
        coverage = self._coverage_labels(since, limit)
        rows = [r for r in self._signal_rows(since, limit) if r["turn_id"] not in coverage]
        rows += [r for r in coverage.values() if r["why"]]
        rows.sort(key=lambda r: r["at"], reverse=True)
        return [{k: r[k] for k in ("text", "at", "why", "conversation_id")} for r in rows[:limit]]

    def _coverage_labels(self, since: datetime, limit: int) -> dict[int, dict]:
        """Customer turn id -> the turn as a gap row (`why` "" when labelled "in the pages"), for the
        latest coverage label of each turn labelled since `since`."""
        q = (
            sa.select(labels.c.turn_id, labels.c.value, labels.c.created_at, turns.c.text, turns.c.conversation_id)
            .join(turns, turns.c.id == labels.c.turn_id)
            .where(labels.c.task == "covered", labels.c.created_at >= since)
            .order_by(labels.c.id)
            .limit(limit * 5)
        )
        out: dict[int, dict] = {}
        for r in self._read(q):  # in label order: the latest label of a turn wins
            why = "" if r["value"] is True else "not in the pages"
            out[r["turn_id"]] = {
                "turn_id": r["turn_id"],
                "text": r["text"],
                "at": r["created_at"],
                "why": why,
                "conversation_id": r["conversation_id"],
            }
        return out

    def _signal_rows(self, since: datetime, limit: int) -> list[dict]:
        rating = _latest_rating()
        asked = turns.alias("asked")
        why = sa.case(
            (turns.c.escalation == "not_covered", "declined"),
            (turns.c.escalation == "negative_streak", "upset"),
            else_="rated down",
        ).label("why")
        q = (
            sa.select(
                asked.c.id.label("turn_id"), asked.c.text, turns.c.created_at.label("at"), why, turns.c.conversation_id
            )
            .join(asked, asked.c.id == turns.c.reply_to)
            .where(
                turns.c.role == "assistant",
                turns.c.created_at >= since,
                sa.or_(turns.c.escalation.in_(["not_covered", "negative_streak"]), rating == -1),
            )
            .order_by(turns.c.id.desc())
            .limit(limit)
        )
        return self._read(q)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
