"""Operator actions and lists for the console: replies and conversations (filtered and paged in
the database), one conversation with per-turn insights, ratings, corrections and relabels.

Pure functions over `Store` methods; the Gradio console (`assistant/web/console/page.py`) calls them
after checking who is signed in, and passes that operator's name along to what it records.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone

import logging

from assistant.errors import InputError, LoopdeskError
from assistant.store.memory import MAX_QUESTION, MEMORY_ID
from assistant.turn.context import standalone
from assistant.store.store import Store
from assistant.store.console import TurnFilter

log = logging.getLogger("loopdesk.console")

COLUMNS = [
    "turn_id",
    "time",
    "conversation",
    "customer",
    "reply",
    "sentiment",
    "escalation",
    "adapter",
    "rating",
    "correction",
]
CONVERSATION_COLUMNS = [
    "conversation",
    "last activity",
    "state",
    "tags",
    "turns",
    "escalations",
    "last customer message",
]
SENTIMENTS = ("negative", "neutral", "positive")
COVERAGE = {"in the pages": True, "not in the pages": False}
"""The console's words for a `covered` label: does the knowledge base answer the customer's question?"""


def day_bounds(since: object = None, until: object = None) -> tuple[datetime | None, datetime | None]:
    """[start of `since`, start of the day after `until`) in UTC. Accepts dates, datetimes,
    epoch seconds (Gradio's DateTime) or YYYY-MM-DD text."""

    def as_day(value, field):
        if value in (None, ""):
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, timezone.utc).date()
        try:
            return date.fromisoformat(str(value).strip()[:10])
        except ValueError as exc:
            raise InputError(f"{field}: use YYYY-MM-DD") from exc

    start, end = as_day(since, "from"), as_day(until, "to")
    if start and end and end < start:
        raise InputError("the 'to' day is before the 'from' day")
    return (
        datetime.combine(start, time(), timezone.utc) if start else None,
        datetime.combine(end + timedelta(days=1), time(), timezone.utc) if end else None,
    )


def replies(
    store: Store,
    rating: str = "any",
    sentiment: str = "any",
    escalated: str = "any",
    adapter: str = "",
    since: object = None,
    until: object = None,
    text: str = "",
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict], int]:
    """(one page of assistant replies newest first with the customer message before each, total)."""
    start, end = day_bounds(since, until)
    f = TurnFilter(rating, sentiment, escalated, adapter.strip(), start, end, text)
    rows, total = store.reply_page(f, offset=(max(page, 1) - 1) * per_page, limit=per_page)
    ratings = {1: "good", -1: "bad", None: ""}
    return [
        {
            "turn_id": r["id"],
            "time": str(r["created_at"])[:19],
            "conversation": r["conversation_id"],
            "customer": (r["customer"] or "")[:300],
            "reply": r["text"][:300],
            "sentiment": r["sentiment"] or "",
            "escalation": r["escalation"] or "",
            "adapter": r["adapter_id"] or "",
            "rating": ratings[r["rating"]],
            "correction": r["correction"] or "",
        }
        for r in rows
    ], total


def conversations(
    store: Store,
    page: int = 1,
    per_page: int = 25,
    since: object = None,
    until: object = None,
    text: str = "",
    state: str = "any",
    tag: str = "",
) -> tuple[list[dict], int]:
    start, end = day_bounds(since, until)
    tag = "" if tag in (None, "any") else tag.strip().lower()
    rows, total = store.conversation_page((max(page, 1) - 1) * per_page, per_page, start, end, text, state, tag)
    tags = store.tags_of([r["id"] for r in rows])
    return [
        {
            "conversation": r["id"],
            "last activity": str(r["last_activity_at"])[:19],
            "state": r["state"] + (f" ({r['operator']})" if r["operator"] else ""),
            "tags": ", ".join(tags.get(r["id"], [])),
            "turns": r["turns"],
            "escalations": r["escalations"],
            "last customer message": (r["last_message"] or "")[:160],
        }
        for r in rows
    ], total


def conversation(store: Store, conversation_id: str) -> list[dict]:
    """Every turn with what the console shows about it (insights for customer turns, sources,
    latency, adapter and rating for replies, the operator's name for a person's replies)."""
    out = []
    for t in store.conversation_turns(conversation_id):
        notes = t["notes"] if isinstance(t["notes"], dict) else {}
        ratings = [f["rating"] for f in t["feedback"] if f["rating"]]
        label = {lab["task"]: lab["value"] for lab in t["labels"]}
        out.append(
            {
                "id": t["id"],
                "role": t["role"],
                "text": t["text"],
                "time": str(t["created_at"])[:19],
                "at": t["created_at"],  # to the microsecond: internal notes go between the turns by it
                "language": t["language"],
                "sentiment": t["sentiment"],
                "scores": t["sentiment_scores"] or {},
                "entities": t["entities"] or [],
                "sources": t["passages"] or [],
                "latency_ms": t["latency_ms"],
                "first_token_ms": t["first_token_ms"],
                "adapter": t["adapter_id"],
                "escalation": t["escalation"],
                "grounding": notes.get("grounding", ""),
                "operator": notes.get("operator"),
                "notes": t["notes"] if isinstance(t["notes"], list) else [],
                "rating": {1: "good", -1: "bad"}.get(ratings[-1]) if ratings else None,
                "corrections": [f["correction"] for f in t["feedback"] if f["correction"]],
                "labels": label,
            }
        )
    return out


def rate(store: Store, turn_id: int, good: bool, correction: str | None = None, operator: str = "operator") -> int:
    turn = store.turn(turn_id)
    if turn is None or turn["role"] != "assistant":
        raise InputError(f"turn {turn_id} is not an assistant reply")
    correction = (correction or "").strip() or None
    rating = store.add_feedback(turn_id, 1 if good else -1, correction=correction, source="operator", actor=operator)
    if correction:
        remember_correction(store, turn, correction, operator)
    return rating


def remember_correction(store: Store, turn: dict, correction: str, operator: str) -> int | None:
    """An operator's correction is approved at once: it enters the answer memory, so the same question
    (and its paraphrases) gets the corrected answer from the next message on, before any training. The
    question is stored as it stands on its own (a follow-up with the message it leans on). The rating
    is already saved: a memory that cannot take the entry is logged, not the operator's problem."""
    try:
        history = store.history(turn["conversation_id"], limit=10_000)
        before = [t for t in history if t["id"] < turn["id"]]
        users = [t for t in before if t["role"] == "user"]
        if not users:
            return None
        question = standalone(users[-1]["text"], users[:-1])[:MAX_QUESTION]
        cited = [
            p for p in (turn.get("passages") or []) if isinstance(p, dict) and not MEMORY_ID.match(str(p.get("id")))
        ]
        source = cited[0].get("source") if cited else None
        return store.add_memory(question, correction, source, "approved", "correction", operator, turn["id"])
    except LoopdeskError as exc:
        log.error("correction of turn %s not added to the answer memory: %s", turn["id"], exc)
        return None


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


def save_label(store: Store, turn_id: int, task: str, value: object, operator: str | None = None) -> int:
    """Validate and store a sentiment label, an entity list or a coverage label ("in the pages" / "not in
    the pages", or true/false) for the customer turn of `turn_id`."""
    if task == "sentiment":
        if value not in SENTIMENTS:
            raise InputError("choose a sentiment label: negative, neutral or positive")
    elif task == "ner":
        if isinstance(value, str):
            try:
                value = json.loads(value or "[]")
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"entities are not valid JSON ({exc.msg} at character {exc.pos}); "
                    f'write e.g. [{{"type": "ORG", "text": "Acme"}}]'
                ) from exc
        if not isinstance(value, list) or not all(isinstance(e, dict) and {"type", "text"} <= set(e) for e in value):
            raise InputError('entities must be a list like [{"type": "ORG", "text": "Acme"}]')
    elif task == "covered":
        if isinstance(value, str) and value.strip().lower() in COVERAGE:
            value = COVERAGE[value.strip().lower()]
        if not isinstance(value, bool):
            raise InputError("choose whether the knowledge base answers it: in the pages or not in the pages")
    else:
        raise InputError("label task must be sentiment, ner or covered")
    user_turn = customer_turn_of(store, turn_id)
    store.add_label(user_turn, task, value, actor=operator)
    return user_turn
