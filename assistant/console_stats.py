"""Per-day numbers for the console charts, the alert banner and the daily report.

Everything counts turns, not events: a reply rated twice counts once, with its latest rating.

    day -> replies, customer_turns, up, down, up_share, down_share, escalation_rate,
           negative_share (customer turns tagged negative), p50_latency_ms

`alerts()` compares today's negative share and escalation rate with the average of the 7 days
before: an alert when today is at least `factor` times that average and `min_points` above it,
with at least `min_turns` turns today (a single angry message on a quiet day is not an alarm).
`loopdesk report daily --json` prints `report(store, day)`.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone

from assistant.store import Store

FIELDS = [
    "day",
    "replies",
    "customer_turns",
    "up",
    "down",
    "up_share",
    "down_share",
    "escalation_rate",
    "negative_share",
    "p50_latency_ms",
]


def _day(value: datetime) -> str:
    return value.date().isoformat()


def daily(store: Store, days: int = 14, today: date | None = None) -> list[dict]:
    """One row per day for the last `days` days (oldest first), zeros for quiet days."""
    today = today or datetime.now(timezone.utc).date()
    start = datetime.combine(today - timedelta(days=days - 1), time(), timezone.utc)
    end = datetime.combine(today + timedelta(days=1), time(), timezone.utc)
    acc: dict[str, dict] = defaultdict(
        lambda: {"replies": 0, "customer": 0, "up": 0, "down": 0, "esc": 0, "neg": 0, "latency": []}
    )
    for t in store.turn_stats(start, end):
        d = acc[_day(t["created_at"])]
        if t["role"] == "user":
            d["customer"] += 1
            d["neg"] += t["sentiment"] == "negative"
        elif t["role"] == "assistant":
            d["replies"] += 1
            d["up"] += t["rating"] == 1
            d["down"] += t["rating"] == -1
            d["esc"] += t["escalation"] is not None
            if t["latency_ms"] is not None:
                d["latency"].append(t["latency_ms"])
    rows = []
    for i in range(days):
        key = (today - timedelta(days=days - 1 - i)).isoformat()
        d = acc.get(key) or acc[key]
        n, c = d["replies"], d["customer"]
        rows.append(
            {
                "day": key,
                "replies": n,
                "customer_turns": c,
                "up": d["up"],
                "down": d["down"],
                "up_share": _share(d["up"], n),
                "down_share": _share(d["down"], n),
                "escalation_rate": _share(d["esc"], n),
                "negative_share": _share(d["neg"], c),
                "p50_latency_ms": round(statistics.median(d["latency"]), 1) if d["latency"] else None,
            }
        )
    return rows


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def alerts(rows: list[dict], factor: float = 1.5, min_points: float = 0.10, min_turns: int = 10) -> list[str]:
    """Messages for today's (the last row's) rates that stand well above the 7 days before."""
    if len(rows) < 2:
        return []
    today, week = rows[-1], rows[-8:-1]
    out = []
    for key, name, count in (
        ("negative_share", "negative-sentiment share", "customer_turns"),
        ("escalation_rate", "escalation rate", "replies"),
    ):
        if today[key] is None or today[count] < min_turns:
            continue
        past = [r[key] for r in week if r[key] is not None]
        average = sum(past) / len(past) if past else 0.0
        if today[key] >= factor * average and today[key] - average >= min_points:
            out.append(
                f"Today's {name} is {today[key]:.0%} ({today[count]} turns), against {average:.0%} "
                f"on average over the 7 days before."
            )
    return out


def report(store: Store, day: date | None = None) -> dict:
    """The daily report: the day's numbers, the 7 days before for comparison, and alerts."""
    day = day or datetime.now(timezone.utc).date()
    rows = daily(store, 8, today=day)
    return {"day": day.isoformat(), "today": rows[-1], "previous_7_days": rows[:-1], "alerts": alerts(rows)}


def report_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, FIELDS)
    writer.writeheader()
    writer.writerows({k: r[k] for k in FIELDS} for r in rows)
    return out.getvalue()


def report_markdown(rows: list[dict]) -> str:
    def cell(key, value):
        if value is None:
            return ""
        return f"{value:.0%}" if key.endswith(("share", "rate")) else str(value)

    lines = ["| " + " | ".join(FIELDS) + " |", "|" + "---|" * len(FIELDS)]
    lines += ["| " + " | ".join(cell(k, r[k]) for k in FIELDS) + " |" for r in rows]
    return "\n".join(lines) + "\n"
