"""Per-day numbers for the console charts, the alert banner and the daily report.

Everything counts turns, not events: a reply rated twice counts once, with its latest rating.

    day -> replies, customer_turns, up, down, up_share, down_share, escalation_rate,
           negative_share (customer turns tagged negative), p50_latency_ms,
           satisfaction_answers, satisfied_share ("How did we do?" answered that day, the share "good")

`alerts()` compares today's negative share and escalation rate with the average of the 7 days
before: an alert when today is at least `factor` times that average and `min_points` above it,
with at least `min_turns` turns today (a single angry message on a quiet day is not an alarm).
`loopdesk report daily --json` prints `report(store, day)`.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta, timezone

from assistant.store.store import Store

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
    "satisfaction_answers",
    "satisfied_share",
]
# The console table's headers for FIELDS, in a team lead's words (the CSV and JSON keep the field names).
HEADERS = [
    "day",
    "replies",
    "customer messages",
    "thumbs up",
    "thumbs down",
    "up share",
    "down share",
    "escalated",
    "negative",
    "median reply (ms)",
    "“How did we do?” answers",
    "satisfied",
]
HEADER_WIDTHS: list[str | int] = [
    "110px",
    "80px",
    "105px",
    "80px",
    "85px",
    "75px",
    "80px",
    "95px",
    "90px",
    "110px",
    "145px",
    "95px",
]


def daily(store: Store, days: int = 14, today: date | None = None) -> list[dict]:
    """One row per day for the last `days` days (oldest first), zeros for quiet days."""
    today = today or datetime.now(timezone.utc).date()
    start = datetime.combine(today - timedelta(days=days - 1), time(), timezone.utc)
    end = datetime.combine(today + timedelta(days=1), time(), timezone.utc)
    counted = {r["day"]: r for r in store.daily_stats(start, end)}
    rows = []
    for i in range(days):
        key = (today - timedelta(days=days - 1 - i)).isoformat()
        d = counted.get(key) or {}
        n, c = int(d.get("replies") or 0), int(d.get("customer_turns") or 0)
        up, down = int(d.get("up") or 0), int(d.get("down") or 0)
        p50 = d.get("p50_latency_ms")
        rows.append(
            {
                "day": key,
                "replies": n,
                "customer_turns": c,
                "up": up,
                "down": down,
                "up_share": _share(up, n),
                "down_share": _share(down, n),
                "escalation_rate": _share(int(d.get("escalations") or 0), n),
                "negative_share": _share(int(d.get("negative") or 0), c),
                "p50_latency_ms": None if p50 is None else round(float(p50), 1),
                "satisfaction_answers": int(d.get("satisfaction_answers") or 0),
                "satisfied_share": _share(int(d.get("satisfied") or 0), int(d.get("satisfaction_answers") or 0)),
            }
        )
    return rows


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def alerts(
    rows: list[dict], factor: float = 1.5, min_points: float = 0.10, min_turns: int = 10, min_days: int = 3
) -> list[str]:
    """Messages for today's (the last row's) rates that stand well above the 7 days before. No
    baseline, no alert: the week before needs `min_days` days with turns and `min_turns` turns in all
    (a first day compared with "0% on average" of empty days says nothing)."""
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
        days = [r for r in week if r[key] is not None and r[count]]
        if len(days) < min_days or sum(r[count] for r in days) < min_turns:
            continue
        past = [r[key] for r in days]
        average = sum(past) / len(past)
        if today[key] >= factor * average and today[key] - average >= min_points:
            out.append(
                f"Today's {name} is {today[key]:.0%} ({today[count]} turns), against {average:.0%} "
                f"on average over the 7 days before."
            )
    return out


def report(store: Store, day: date | None = None) -> dict:
    """The daily report: the day's numbers, the 7 days before for comparison, alerts, and the team's
    numbers (`team_stats.report`: per operator, the conversations handed to a person that day)."""
    from assistant.web.console import team_stats

    day = day or datetime.now(timezone.utc).date()
    rows = daily(store, 8, today=day)
    return {
        "day": day.isoformat(),
        "today": rows[-1],
        "previous_7_days": rows[:-1],
        "alerts": alerts(rows),
        "team": team_stats.report(store, day),
    }


def report_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, FIELDS)
    writer.writeheader()
    writer.writerows({k: r[k] for k in FIELDS} for r in rows)
    return out.getvalue()


def shown(key: str, value) -> str:
    """A number as a person reads it: shares and rates in whole percent, the median time in whole ms."""
    if value is None:
        return ""
    if key.endswith(("share", "rate")):
        return f"{value:.0%}"
    return f"{value:.0f}" if key == "p50_latency_ms" else str(value)


def report_markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(FIELDS) + " |", "|" + "---|" * len(FIELDS)]
    lines += ["| " + " | ".join(shown(k, r[k]) for k in FIELDS) + " |" for r in rows]
    return "\n".join(lines) + "\n"
