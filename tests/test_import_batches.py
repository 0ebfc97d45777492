"""A big transcript import never holds the write lock long: it writes in short batches, each its own
transaction, while customer turns keep being logged (measured on SQLite, where one writer at a time
holds the database); and it is still all-or-nothing as readers see it: an import that is loading is
in no list, count or export, a failure half way leaves no row, and the rows of a crashed import are
deleted at the next import."""

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from assistant.errors import StoreError
from assistant.store.store import Store
from finetune.transcripts import import_transcripts

BOTH_DATABASES = True  # the tests with the `store` fixture run on SQLite and on PostgreSQL


def big_csv(path, n: int, tag: str = ""):
    path.write_text(
        "instruction,response,intent\n"
        + "".join(f"where is parcel {tag}{i}?,Parcel {tag}{i} ships in {i % 7 + 1} days.,track\n" for i in range(n))
    )
    return path


def raw(store, table: str) -> int:
    with store.engine.connect() as c:
        return c.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar()


def seen(store) -> dict:
    """What readers see: counts, the console's lists, the export's walk."""
    return {
        "imported": store.counts()["imported"],
        "conversations": store.counts()["conversations"],
        "listed": store.conversation_page(limit=5)[1],
        "replies": store.reply_count(),
        "exported": sum(1 for _ in store.exchanges()),
    }


def test_a_big_import_lets_customer_turns_through_and_is_seen_whole_or_not_at_all(cfg, tmp_path):
    path = big_csv(tmp_path / "big.csv", 10_000)  # 20,000 turns
    importer, app = Store(cfg.store_url), Store(cfg.store_url)  # as the CLI and the app: two stores, one file
    cid = app.new_conversation()
    outcome: dict = {}

    def run():
        try:
            outcome["report"] = import_transcripts(importer, path)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    started = time.monotonic()
    thread.start()
    latencies, views, partial = [], [], 0
    while thread.is_alive():
        t0 = time.monotonic()
        app.add_turn(cid, "user", f"still there? {len(latencies)}")
        latencies.append(time.monotonic() - t0)
        imported_rows = raw(app, "imports")  # what is in the database already, seen or not
        view = seen(app) if len(latencies) % 10 == 0 else None
        if view is not None and thread.is_alive():
            views.append(view)
            if 0 < imported_rows < 10_000:
                partial += 1
        time.sleep(0.02)
    thread.join()
    took = time.monotonic() - started
    assert "error" not in outcome, outcome
    assert outcome["report"]["imported"] == 10_000
    # The importer wrote while the customer turns went in, and none of them waited long.
    assert max(latencies) < 1.5, f"a customer turn waited {max(latencies):.2f}s (import took {took:.1f}s)"
    assert len(latencies) >= 20, (len(latencies), took)
    # Readers saw nothing of the import while it loaded (rows were there: `partial` times), then all of it.
    assert partial >= 1 and views
    for v in views:
        assert v["imported"] in (0, 10_000) and v["listed"] in (1, 10_001), v
        assert (v["imported"], v["replies"], v["exported"]) in ((0, 0, 0), (10_000, 10_000, 10_000)), v
    after = seen(app)
    assert after == {
        "imported": 10_000,
        "conversations": 10_001,
        "listed": 10_001,
        "replies": 10_000,
        "exported": 10_000,
    }
    assert raw(app, "import_runs") == 1 and len(app.history(cid, limit=10_000)) == len(latencies)
    print(f"\nimport of 20,000 turns: {took:.1f}s; {len(latencies)} customer turns, slowest {max(latencies):.3f}s")


def test_a_failure_half_way_leaves_no_row_and_the_file_imports_again(store, tmp_path, monkeypatch):
    path = big_csv(tmp_path / "f.csv", 1_000)
    real, batches = Store._import_batch, []

    def failing(self, c, run, chunk, source_file):
        batches.append(len(chunk))
        if len(batches) == 3:
            raise RuntimeError("disk full")
        return real(self, c, run, chunk, source_file)

    monkeypatch.setattr(Store, "_import_batch", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        import_transcripts(store, path)
    assert len(batches) == 3  # two batches had been written when it failed
    for table in ("conversations", "turns", "imports", "import_runs"):
        assert raw(store, table) == 0, table
    monkeypatch.setattr(Store, "_import_batch", real)
    assert import_transcripts(store, path)["imported"] == 1_000  # no key left behind blocks a re-import
    assert import_transcripts(store, path)["imported"] == 0  # and importing twice still adds nothing


def test_a_crashed_import_is_unseen_and_cleaned_at_the_next_one(store, tmp_path):
    store.import_exchanges([("k-old", "hello", "hi there", None)], "old.csv")
    rows = [(f"k{i}", f"question {i}", f"answer {i}", None) for i in range(300)]
    # A process that died half way: a `loading` run with a batch written, silent since.
    long_ago = datetime.now(timezone.utc) - timedelta(minutes=5)
    with store.engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO import_runs (id, source_file, state, rows, started_at, updated_at) "
                "VALUES ('dead', 'x.csv', 'loading', 0, :t, :t)"
            ),
            {"t": long_ago},
        )
        store._import_batch(c, "dead", rows[:150], "x.csv")
        c.execute(sa.text("UPDATE import_runs SET updated_at = :t"), {"t": long_ago})
    assert raw(store, "conversations") == 151
    assert seen(store) == {"imported": 1, "conversations": 1, "listed": 1, "replies": 1, "exported": 1}

    assert store.import_exchanges(rows, "x.csv") == 300  # the dead run's keys did not block its rows
    assert raw(store, "conversations") == 301 and raw(store, "import_runs") == 2
    assert seen(store)["imported"] == 301

    # A run that is loading right now (another process) is not cleaned under its feet: one at a time.
    with store.engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO import_runs (id, source_file, state, rows, started_at, updated_at) "
                "VALUES ('live', 'y.csv', 'loading', 0, :t, :t)"
            ),
            {"t": datetime.now(timezone.utc)},
        )
    with pytest.raises(StoreError, match=r"another import \(y.csv\) is loading now"):
        store.import_exchanges([("k-new", "a", "b", None)], "z.csv")
