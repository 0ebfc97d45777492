"""Operator queries over the conversation store: browse/search/filter turns, rate, correct, relabel,
and daily feedback/escalation counts. Pure data functions; the Gradio operator tab in `app.py`
calls them after checking the operator token.
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from datetime import date, datetime

import sqlalchemy as sa

from assistant.errors import InputError
from assistant.store import Store, conversations, feedback, turns

COLUMNS = ["turn_id", "time", "conversation", "source", "customer", "reply", "sentiment", "escalation", "adapter", "rating",
           "correction"]


def token_ok(given: str | None, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest((given or "").encode(), expected.encode())


def _day(text: str | None, field: str) -> date | None:
    if not text or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InputError(f"{field}: use YYYY-MM-DD") from exc


def browse(store: Store, feedback_filter: str = "any", sentiment: str = "any", escalated: str = "any",
           adapter: str = "", since: str = "", until: str = "", text: str = "", limit: int = 200) -> list[dict]:
    """Assistant turns (newest first) with the customer message before them, filtered."""
    rows = store.exchanges()
    start, end = _day(since, "from"), _day(until, "to")
    out = []
    for ex in reversed(rows):
        t, u = ex["turn"], ex["user_turn"]
        ratings = [f["rating"] for f in ex["feedback"] if f["rating"]]
        rating = ratings[-1] if ratings else None
        correction = next((f["correction"] for f in reversed(ex["feedback"]) if f["correction"]), None)
        if feedback_filter == "good" and rating != 1 or feedback_filter == "bad" and rating != -1:
            continue
        if feedback_filter == "none" and rating is not None:
            continue
        if sentiment != "any" and u.get("sentiment") != sentiment:
            continue
        if escalated == "yes" and not t.get("escalation") or escalated == "no" and t.get("escalation"):
            continue
        if adapter and adapter not in (t.get("adapter_id") or "none"):
            continue
        when = t["created_at"].date() if isinstance(t["created_at"], datetime) else None
        if start and (when is None or when < start) or end and (when is None or when > end):
            continue
        if text and text.lower() not in (u["text"] + " " + t["text"]).lower():
            continue
        out.append({"turn_id": t["id"], "time": str(t["created_at"])[:19], "conversation": ex["conversation_id"][:8],
                    "source": ex["source"], "customer": u["text"][:300], "reply": t["text"][:300],
                    "sentiment": u.get("sentiment") or "", "escalation": t.get("escalation") or "",
                    "adapter": t.get("adapter_id") or "", "rating": rating or "", "correction": correction or ""})
        if len(out) >= limit:
            break
    return out


def rate(store: Store, turn_id: int, good: bool, correction: str | None = None) -> int:
    turn = store.turn(turn_id)
    if turn is None or turn["role"] != "assistant":
        raise InputError(f"turn {turn_id} is not an assistant reply")
    correction = (correction or "").strip() or None
    return store.add_feedback(turn_id, 1 if good else -1, correction=correction, source="operator")


def customer_turn_of(store: Store, turn_id: int) -> int:
    """The customer turn a label refers to: the turn itself, or the one before an assistant reply."""
    turn = store.turn(turn_id)
    if turn is None:
        raise InputError(f"no turn {turn_id}")
    if turn["role"] == "user":
        return turn_id
    history = store.history(turn["conversation_id"], limit=10_000)
    before = [t for t in history if t["id"] < turn_id and t["role"] == "user"]
    if not before:
        raise InputError(f"turn {turn_id} has no customer message before it")
    return before[-1]["id"]


def daily_counts(store: Store) -> dict[str, dict[str, int]]:
    """day -> {good, bad, escalations} for the chart."""
    days: dict[str, dict[str, int]] = defaultdict(lambda: {"good": 0, "bad": 0, "escalations": 0})
    for f in store._read(sa.select(feedback.c.rating, feedback.c.created_at)):
        key = str(f["created_at"])[:10]
        if f["rating"] == 1:
            days[key]["good"] += 1
        elif f["rating"] == -1:
            days[key]["bad"] += 1
    for t in store._read(sa.select(turns.c.created_at).where(turns.c.escalation.is_not(None))):
        days[str(t["created_at"])[:10]]["escalations"] += 1
    return dict(sorted(days.items()))


def conversation_count(store: Store, source: str | None = None) -> int:
    q = sa.select(sa.func.count().label("n")).select_from(conversations)
    if source:
        q = q.where(conversations.c.source == source)
    return store._read(q)[0]["n"]
