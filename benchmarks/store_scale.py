"""The operator console's queries on a big store: 1M turns on a real PostgreSQL server.

    python benchmarks/store_scale.py [--turns 1000000] [--url postgresql+psycopg://...]

Without --url a throwaway server is started (Debian's postgresql, as in the tests). The store is
filled with COPY (half customer messages, half replies, ~5% rated, ~3% escalated, dates over 90
days), then each query runs 5 times and the median is reported: the console's first page of
conversations (by last activity), the first page of replies, a text search ("refund") over replies,
a filtered page (bad ratings), the daily numbers of the last 14 days, and the first export page.
Prints a table and writes benchmarks/results/store_scale.json.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ("order parcel refund return shoes jacket card delivery warranty size exchange late broken account "
         "password invoice store voucher tracking label").split()


def fill(store, n_turns: int, seed: int = 7) -> float:
    """COPY n_turns turns (pairs) into the store's tables; returns seconds."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        conv, turn, fb = io.StringIO(), io.StringIO(), io.StringIO()
        turn_id = 0
        for _ in range(n_turns // 2):
            cid = str(uuid.uuid4())
            when = now - timedelta(minutes=rng.randrange(90 * 24 * 60))
            conv.write(f"{cid}\t{when.isoformat()}\tchat\t{{}}\t{when.isoformat()}\n")
            question = " ".join(rng.choice(WORDS) for _ in range(8))
            turn_id += 1
            turn.write(f"{turn_id}\t{cid}\tuser\thow do I {question}?\t{when.isoformat()}\t"
                       f"{'negative' if rng.random() < 0.2 else 'neutral'}\t\\N\t\\N\t\\N\n")
            turn_id += 1
            escalated = "human_requested" if rng.random() < 0.03 else "\\N"
            turn.write(f"{turn_id}\t{cid}\tassistant\tHere is how: {question} [1].\t{when.isoformat()}\t\\N\t"
                       f"{rng.randint(300, 6000)}\t{escalated}\t{turn_id - 1}\n")
            if rng.random() < 0.05:
                fb.write(f"{turn_id}\t{rng.choice((1, -1))}\tcustomer\t{when.isoformat()}\n")
        with cur.copy("COPY conversations (id, created_at, source, meta, last_activity_at) FROM STDIN") as cp:
            cp.write(conv.getvalue())
        with cur.copy("COPY turns (id, conversation_id, role, text, created_at, sentiment, latency_ms, escalation, "
                      "reply_to) FROM STDIN") as cp:
            cp.write(turn.getvalue())
        with cur.copy("COPY feedback (turn_id, rating, source, created_at) FROM STDIN") as cp:
            cp.write(fb.getvalue())
        cur.execute("SELECT setval(pg_get_serial_sequence('turns', 'id'), (SELECT max(id) FROM turns))")
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - t0


def timed(fn, repeat: int = 5) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 1), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=1_000_000)
    ap.add_argument("--url", default=None, help="An empty PostgreSQL database (default: start a throwaway server).")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/store_scale.json"))
    args = ap.parse_args()
    from assistant.web.console import stats as console_stats
    from assistant.web.console import operator as op
    from assistant.store.store import Store

    server = None
    if args.url is None:
        from tests.postgres_server import Server

        server = Server()
        args.url = server.new_database()
    try:
        store = Store(args.url)
        fill_s = fill(store, args.turns)
        rows = {}
        rows["conversations: first page (25, by last activity)"] = timed(lambda: op.conversations(store))
        rows["replies: first page (50, newest)"] = timed(lambda: op.replies(store))
        rows['replies: text search "refund", first page'] = timed(lambda: op.replies(store, text="refund"))
        rows["replies: rated bad, first page"] = timed(lambda: op.replies(store, rating="bad"))
        rows["daily numbers, last 14 days"] = timed(lambda: console_stats.daily(store, 14), repeat=3)
        rows["export: first page of exchanges (1000)"] = timed(lambda: sum(1 for _, e in zip(range(1000),
                                                                                             store.exchanges())))
        totals = {k: (v[1][1] if isinstance(v[1], tuple) else None) for k, v in rows.items()}  # capped at 10,001
        print(f"{args.turns:,} turns on PostgreSQL (filled by COPY in {fill_s:.0f} s); median of 5 runs")
        print(f"{'query':<52}{'ms':>10}{'matches':>12}")
        for k, (ms, _) in rows.items():
            print(f"{k:<52}{ms:>10}{'' if totals[k] is None else totals[k]:>12}")
        result = {"turns": args.turns, "database": "postgresql", "fill_seconds": round(fill_s, 1),
                  "median_ms": {k: v[0] for k, v in rows.items()}, "matches": totals}
        Path(args.out).write_text(json.dumps(result, indent=1))
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
