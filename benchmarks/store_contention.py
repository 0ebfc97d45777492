"""Turn latency when the database is busy, side by side in one run: table + JSON.

    python benchmarks/store_contention.py [--import-mb 50] [--turns 20]

Three scenarios on one SQLite file, each with `--turns` customer turns through the real pipeline
(`Assistant.respond`: sanitizing, inbox, handoff check, history, storing both turns, spool):
- `idle`: nothing else touches the database;
- `locked`: another process holds SQLite's write lock (BEGIN EXCLUSIVE) for the whole scenario;
- `import`: `loopdesk finetune import` of a generated `--import-mb` CSV runs in another process; turns
  are sent every 0.25 s until it exits (only turns while it runs are counted).
The generator, retriever and sentiment tagger are the tests' fakes: what is measured is what the store
adds to a turn, not the model (see benchmarks/turn_latency.py for that). Target (issue: hardening round
two): p95 <= 5 s while locked and during a 50 MB import. Writes `benchmarks/results/store_contention.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def assistant(db: Path, home: Path):
    from assistant.config import load_config
    from assistant.store.inbox import Inbox
    from assistant.store.spool import Spool
    from assistant.store.store import Store
    from assistant.turn.pipeline import Assistant
    from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment

    cfg = load_config(env={"LOOPDESK_STORE_URL": f"sqlite:///{db}", "LOOPDESK_HOME": str(home)})
    return Assistant(
        cfg,
        FakeGenerator(["Returns are free within 30 days [1]."]),
        Store(cfg.store_url, cfg.store.retries),  # the app's retry budget
        FakeRetriever(),
        FakeSentiment(),
        spool=Spool(cfg.spool_path),
        inbox=Inbox.for_this_process(cfg.inbox_dir),
    )


def timed_turn(a, i: int) -> float:
    t0 = time.perf_counter()
    a.respond(None, f"Where is my order {1000 + i}? It has not arrived yet.")
    return time.perf_counter() - t0


def summary(seconds: list[float]) -> dict:
    s = sorted(seconds)
    return {
        "turns": len(s),
        "p50_s": round(statistics.median(s), 3),
        "p95_s": round(s[min(len(s) - 1, int(0.95 * len(s)))], 3),
        "max_s": round(s[-1], 3),
    }


def write_csv(path: Path, megabytes: float) -> int:
    rng = random.Random(7)
    words = "order parcel refund return shoes shirt delivery card invoice warranty broken late address".split()
    rows = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write("request,response\n")
        while fh.tell() < megabytes * 1024 * 1024:
            q = " ".join(rng.choice(words) for _ in range(30)) + f" {rows}"
            r = " ".join(rng.choice(words) for _ in range(60)) + f" {rows}"
            fh.write(f'"{q}","{r}"\n')
            rows += 1
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--import-mb", type=float, default=50.0)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "store_contention.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loopdesk-contention-"))
    db, home = work / "store.sqlite", work / "home"
    a = assistant(db, home)
    results = {}

    results["idle"] = summary([timed_turn(a, i) for i in range(args.turns)])

    holder = sqlite3.connect(db)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        results["locked"] = summary([timed_turn(a, i) for i in range(args.turns)])
    finally:
        holder.rollback()
        holder.close()
    a._db_down_until = 0.0  # the database is back: the next turn tries it again
    a.respond(None, "the lock is gone")  # replays the spool before the import scenario

    csv = work / "big.csv"
    rows = write_csv(csv, args.import_mb)
    env = {**os.environ, "LOOPDESK_STORE_URL": f"sqlite:///{db}", "LOOPDESK_HOME": str(home)}
    loopdesk = Path(sys.executable).with_name("loopdesk")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(loopdesk), "finetune", "import", str(csv), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    during, i = [], 0
    while proc.poll() is None:
        during.append(timed_turn(a, i))
        i += 1
        time.sleep(0.25)
    out, err = proc.communicate()
    import_s = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"the import failed ({proc.returncode}): {err[-2000:]}")
    report = json.loads(out)
    results["import"] = {
        **summary(during),
        "import_mb": args.import_mb,
        "rows": rows,
        "imported": report.get("imported"),
        "import_s": round(import_s, 1),
    }

    print(f"{'scenario':10} {'turns':>6} {'p50 s':>7} {'p95 s':>7} {'max s':>7}  note")
    for name, r in results.items():
        note = f"{r['imported']} rows ({r['import_mb']:g} MB) in {r['import_s']} s" if name == "import" else ""
        print(f"{name:10} {r['turns']:>6} {r['p50_s']:>7} {r['p95_s']:>7} {r['max_s']:>7}  {note}")
    ratio = {k: round(results[k]["p95_s"] / max(results["idle"]["p95_s"], 1e-3), 1) for k in ("locked", "import")}
    print(f"p95 vs idle: locked {ratio['locked']}x, import {ratio['import']}x (target: p95 <= 5 s)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"results": results, "p95_ratio_to_idle": ratio}, indent=1) + "\n")


if __name__ == "__main__":
    main()
