"""Conversation store: migrations from an empty database, writes, feedback, locked-database retries."""

import contextlib
import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

from assistant.store import migrations
from assistant.errors import StoreError
from assistant.store.store import Store

BOTH_DATABASES = True  # each test with the `store` fixture runs on SQLite and on PostgreSQL


def test_migrations_from_empty_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    s = Store(url)
    assert migrations.applied(s.engine) == [n for n, _, _ in migrations.MIGRATIONS]
    names = set(sa.inspect(s.engine).get_table_names())
    assert {"conversations", "turns", "feedback", "schema_migrations"} <= names
    assert migrations.migrate(s.engine) == []  # idempotent
    assert Store(url).counts()["turns"] == 0


def test_upgrade_from_version_3_backfills_last_activity(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'v3.db'}"
    engine = sa.create_engine(url)
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:3])
    migrations.migrate(engine)
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO conversations (id, created_at, source) VALUES ('c1', '2026-01-01 10:00:00', 'chat')"))
        c.execute(sa.text("INSERT INTO turns (conversation_id, role, text, created_at) "
                          "VALUES ('c1', 'user', 'hi', '2026-01-02 09:30:00')"))
    monkeypatch.undo()
    store = Store(url)
    assert migrations.applied(store.engine) == [n for n, _, _ in migrations.MIGRATIONS]
    rows, total = store.conversation_page()
    assert total == 1 and str(rows[0]["last_activity_at"]).startswith("2026-01-02 09:30")
    assert store.handoff("c1") is None and store.operator_names() == []


def test_wal_mode(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'w.db'}")
    with s.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_turns_and_feedback_roundtrip(store):
    cid = store.new_conversation()
    u = store.add_turn(cid, "user", "hello", language="en", sentiment="neutral", entities=[{"type": "EMAIL"}])
    a = store.add_turn(cid, "assistant", "hi!", passages=[{"id": "a#0", "score": 0.5}], model_id="m",
                       adapter_id="v1", latency_ms=12.5, escalation=None)
    hist = store.history(cid)
    assert [t["role"] for t in hist] == ["user", "assistant"]
    assert hist[0]["entities"] == [{"type": "EMAIL"}] and hist[1]["passages"][0]["id"] == "a#0"
    fid = store.add_feedback(a, 1)
    assert store.feedback_for(a)[0]["id"] == fid and store.feedback_for(a)[0]["rating"] == 1
    assert store.counts() == {"conversations": 1, "turns": 2, "feedback": 1, "escalations": 0, "imported": 0}
    assert u < a


def test_feedback_validation(store):
    with pytest.raises(StoreError, match="no turn"):
        store.add_feedback(999, 1)
    cid = store.new_conversation()
    t = store.add_turn(cid, "assistant", "x")
    with pytest.raises(StoreError, match="rating"):
        store.add_feedback(t, 5)
    with pytest.raises(StoreError, match="unknown turn fields"):
        store.add_turn(cid, "user", "x", colour="red")


@contextlib.contextmanager
def locked(path, seconds):
    """Another connection holds an EXCLUSIVE lock on the database for `seconds`."""
    ready = threading.Event()

    def hold():
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        ready.set()
        time.sleep(seconds)
        con.execute("COMMIT")
        con.close()

    t = threading.Thread(target=hold)
    t.start()
    ready.wait()
    try:
        yield
    finally:
        t.join()


def test_locked_database_write_is_retried_not_lost(tmp_path):
    path = tmp_path / "locked.db"
    s = Store(f"sqlite:///{path}", retries=10, busy_timeout_ms=50)
    cid = s.new_conversation()
    with locked(str(path), 0.8):
        start = time.perf_counter()
        turn = s.add_turn(cid, "user", "written while locked")
    assert time.perf_counter() - start > 0.3  # it really waited for the lock
    assert s.turn(turn)["text"] == "written while locked"


def test_locked_database_fails_loudly_after_retries(tmp_path):
    path = tmp_path / "locked2.db"
    s = Store(f"sqlite:///{path}", retries=2, busy_timeout_ms=10)
    cid = s.new_conversation()
    with locked(str(path), 1.0), pytest.raises(StoreError, match="after 2 attempt"):
        s.add_turn(cid, "user", "x")


def test_exchanges_are_read_in_pages(store):
    ids = []
    for i in range(5):
        cid = store.new_conversation("chat", {"intent": f"i{i}"})
        store.add_turn(cid, "user", f"question {i}")
        ids.append(store.add_turn(cid, "assistant", f"answer {i}"))
        store.add_feedback(ids[-1], 1)
    store.add_turn(store.new_conversation(), "assistant", "a greeting with no question before it")
    paged = list(store.exchanges(batch=2))
    assert [e["turn"]["id"] for e in paged] == ids == [e["turn"]["id"] for e in store.exchanges()]
    assert [e["user_turn"]["text"] for e in paged] == [f"question {i}" for i in range(5)]
    assert paged[3]["intent"] == "i3" and paged[3]["feedback"][0]["rating"] == 1
