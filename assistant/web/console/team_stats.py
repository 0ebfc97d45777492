"""The team's numbers: first-response and resolution time of each conversation handed to a person, and
per operator the conversations handled, the median of both times and the customers' satisfaction.

A conversation with the team is a stretch ("episode") of its handoff events:

    start    a `requested` event (queued for a person), or a `taken` one when none was open (an operator
             stepped in unasked: the customer did not wait)
    first    the first reply of a person after the start  -> first response = first - start
    closed   a `closed` event by an operator                -> resolution     = closed - start
    end      closed, handed back to the assistant, or abandoned in the queue (no resolution then)

Its operator is who replied first (else who took it, else who closed it); the satisfaction answer
the customer gave after that close belongs to it. A stretch counts in the period it started in (a day's
report: the conversations queued that day, however late they were closed). Times are rounded and said
in words ("4 minutes", "1 hour 20 minutes").

    .venv/bin/pytest -q tests/test_team.py
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from assistant.store.store import Store
from assistant.store.team import EPISODE_EVENTS

AGENT_COLUMNS = ["operator", "conversations handled", "median first response", "median resolution", "satisfaction"]
CONVERSATION_COLUMNS = ["conversation", "operator", "queued (UTC)", "first response", "resolution", "satisfaction"]
EVERYONE = "everyone"


@dataclass
class Episode:
    conversation_id: str
    start: datetime
    queued: bool
    operator: str | None = None
    taker: str | None = None
    first_reply_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    end_at: datetime | None = None  # closed, handed back or abandoned
    satisfaction: int | None = None  # 1 good, -1 bad

    @property
    def first_response_s(self) -> float | None:
        return _seconds(self.first_reply_at, self.start)

    @property
    def resolution_s(self) -> float | None:
        return _seconds(self.closed_at, self.start)

    @property
    def agent(self) -> str | None:
        closer = self.closed_by if self.closed_by not in (None, "system") else None
        return self.operator or self.taker or closer


def _utc(at: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns (they hold UTC); PostgreSQL aware ones in
    # the session's time zone.
    return at.astimezone(timezone.utc) if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _round(x: float) -> int:
    # Half up (6.5 minutes read as 7), not Python's half to even.
    return int(math.floor(x + 0.5))


def _seconds(later: datetime | None, earlier: datetime) -> float | None:
    return None if later is None else max((later - earlier).total_seconds(), 0.0)


def episodes(store: Store, since: datetime, until: datetime) -> list[Episode]:
    """The stretches with the team that started in [since, until), oldest first."""
    data = store.handoff_activity(since, until)
    events: dict[str, list[dict]] = {}
    for e in data["events"]:
        events.setdefault(e["conversation_id"], []).append(e)
    replies: dict[str, list[tuple[datetime, str | None]]] = {}
    for r in data["replies"]:
        notes = r["notes"] if isinstance(r["notes"], dict) else {}
        replies.setdefault(r["conversation_id"], []).append((_utc(r["created_at"]), notes.get("operator")))
    answers = {a["conversation_id"]: a for a in data["answers"]}
    out: list[Episode] = []
    for cid, evs in events.items():
        mine = _walk(cid, evs)
        for ep in mine:
            # A person's first reply after the start and before the end (the next stretch starts later).
            end = ep.end_at
            for at, who in replies.get(cid, []):
                if at >= ep.start and (end is None or at <= end):
                    ep.first_reply_at, ep.operator = at, who
                    break
        answer = answers.get(cid)
        if answer is not None:  # the answer follows the last close before it
            at = _utc(answer["answered_at"])
            closed = [ep for ep in mine if ep.closed_at is not None and ep.closed_at <= at]
            if closed:
                closed[-1].satisfaction = answer["rating"]
        out += [ep for ep in mine if since <= ep.start < until]
    return sorted(out, key=lambda ep: ep.start)


def _walk(cid: str, evs: list[dict]) -> list[Episode]:
    mine: list[Episode] = []
    current: Episode | None = None
    for e in evs:
        at, kind = _utc(e["created_at"]), e["kind"]
        if kind == "requested" or (kind == "taken" and (current is None or current.end_at)):
            current = Episode(cid, at, queued=kind == "requested")
            mine.append(current)
        if current is None or current.end_at:
            continue  # closed or handed back while the assistant had it: no stretch with the team
        if kind == "taken":
            current.taker = e["actor"]
        elif kind in ("handed_back", "closed", "abandoned"):
            current.end_at = at
            if kind == "closed":
                current.closed_at, current.closed_by = at, e["actor"]
    return mine


def duration_words(seconds: float | None) -> str:
    """ "45 seconds", "4 minutes", "1 hour 20 minutes", "2 days 3 hours"; "—" when unknown."""
    if seconds is None:
        return "—"

    def unit(n: int, word: str) -> str:
        return f"{n} {word}" + ("" if n == 1 else "s")

    s = _round(seconds)
    if s < 1:
        return "under a second"
    if s < 60:
        return unit(s, "second")
    m = _round(seconds / 60)
    if m < 60:
        return unit(m, "minute")
    if m < 24 * 60:
        h, m = divmod(m, 60)
        return unit(h, "hour") + (f" {unit(m, 'minute')}" if m else "")
    h = _round(seconds / 3600)
    d, h = divmod(h, 24)
    return unit(d, "day") + (f" {unit(h, 'hour')}" if h else "")


def satisfaction_words(good: int, answers: int) -> str:
    if not answers:
        return "no answers yet"
    return f"{good} of {answers} good ({good / answers:.0%})"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarise(eps: list[Episode]) -> dict:
    """Numbers of a group of stretches: handled, medians (seconds, rounded) and satisfaction, with words."""
    first = [e.first_response_s for e in eps if e.first_response_s is not None]
    resolved = [e.resolution_s for e in eps if e.resolution_s is not None]
    rated = [e.satisfaction for e in eps if e.satisfaction is not None]
    good = sum(1 for r in rated if r == 1)
    p_first, p_resolved = _median(first), _median(resolved)
    return {
        "conversations": len(eps),
        "answered": len(first),
        "resolved": len(resolved),
        "median_first_response_s": None if p_first is None else _round(p_first),
        "median_resolution_s": None if p_resolved is None else _round(p_resolved),
        "good": good,
        "answers": len(rated),
        "median_first_response": duration_words(p_first),
        "median_resolution": duration_words(p_resolved),
        "satisfaction": satisfaction_words(good, len(rated)),
    }


def by_agent(eps: list[Episode]) -> list[dict]:
    """One row per operator (alphabetical) and one for everyone; stretches nobody took (abandoned in the
    queue) count only in the everyone row."""
    names = sorted({e.agent for e in eps if e.agent})
    rows = [{"operator": n, **summarise([e for e in eps if e.agent == n])} for n in names]
    return rows + [{"operator": EVERYONE, **summarise(eps)}]


def period(days: int, today: date | None = None) -> tuple[datetime, datetime]:
    """[start of the day `days - 1` days before today, start of tomorrow) in UTC."""
    today = today or datetime.now(timezone.utc).date()
    start = datetime.combine(today - timedelta(days=days - 1), time(), timezone.utc)
    return start, datetime.combine(today + timedelta(days=1), time(), timezone.utc)


def agent_table(rows: list[dict]) -> list[list]:
    return [
        [r["operator"], r["conversations"], r["median_first_response"], r["median_resolution"], r["satisfaction"]]
        for r in rows
    ]


def conversation_table(eps: list[Episode], limit: int = 50) -> list[list]:
    """The newest stretches first, each with its own times in words."""
    return [
        [
            e.conversation_id,
            e.agent or "nobody yet",
            e.start.strftime("%Y-%m-%d %H:%M"),
            duration_words(e.first_response_s) if e.first_reply_at else "no reply yet",
            duration_words(e.resolution_s)
            if e.closed_at
            else ("not closed" if e.end_at is None else "not closed by a person"),
            {1: "good", -1: "bad"}.get(e.satisfaction or 0, ""),
        ]
        for e in reversed(eps[-limit:])
    ]


def report(store: Store, day: date) -> dict:
    """The team part of the daily report: the conversations queued for a person that day, per operator."""
    since, until = period(1, day)
    return {"day": day.isoformat(), "operators": by_agent(episodes(store, since, until))}


def report_markdown(team: dict) -> str:
    lines = [
        f"Team on {team['day']} (conversations handed to a person that day, however late they were closed):",
        "",
        "| " + " | ".join(AGENT_COLUMNS) + " |",
        "|" + "---|" * len(AGENT_COLUMNS),
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in agent_table(team["operators"])]
    return "\n".join(lines) + "\n"


def conversation_times(store: Store, conversation_id: str) -> str:
    """One line for the conversation panel: how long the customer waited for a first reply and for the
    close, in the latest stretch with the team; "" when it never went to a person."""
    events = store.handoff_events(conversation_id)
    mine = _walk(conversation_id, [e for e in events if e["kind"] in EPISODE_EVENTS])
    if not mine:
        return ""
    ep = mine[-1]
    end = ep.end_at
    for t in store.history(conversation_id, limit=10_000):
        at = _utc(t["created_at"])
        if t["role"] == "agent" and at >= ep.start and (end is None or at <= end):
            ep.first_reply_at = at
            break
    parts = [("queued" if ep.queued else "taken over") + f" {ep.start:%Y-%m-%d %H:%M} UTC"]
    parts.append(
        f"first reply after {duration_words(ep.first_response_s)}"
        if ep.first_reply_at
        else "no reply from a person yet"
    )
    if ep.closed_at:
        parts.append(f"closed after {duration_words(ep.resolution_s)}")
    answer = store.satisfaction(conversation_id)
    if answer:
        said = "customer said " + ("good 👍" if answer["rating"] == 1 else "bad 👎")
        after_this = ep.closed_at is not None and _utc(answer["answered_at"]) >= ep.closed_at
        parts.append(said if after_this else said + " after an earlier close")
    return " · ".join(parts)
