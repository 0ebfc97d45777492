"""Fault suite: what bad luck does to a turn. The database locked past the retry budget or
read-only (the message and the reply are spooled, answered, and replayed once, in order, when the
database is back), a replay cut half-way, a kill -9 mid-stream (the database intact, the customer's
message kept). Corrupt adapters and live.json: tests/test_placeholders_adapters.py; a missing index
picked up later: tests/test_pipeline.py; bad import files: tests/test_import_faults.py."""

import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from assistant.errors import StoreError
from assistant.turn.pipeline import Assistant
from assistant.store.spool import Spool
from assistant.store.store import Store
from tests.conftest import ROOT, FakeGenerator, FakeRetriever, FakeSentiment


def assistant(cfg, store, spool):
    return Assistant(cfg, FakeGenerator(["Returns are free within 30 days [1]."] * 10), store, FakeRetriever(),
                     FakeSentiment(), spool=spool)


def rows(path):
    with sqlite3.connect(path) as c:
        return c.execute("select role, text, spool_key is not null from turns order by id").fetchall()


def test_locked_past_the_retry_budget_spools_and_replays_once_in_order(cfg, tmp_path):
    path = tmp_path / "db.sqlite"
    store = Store(f"sqlite:///{path}", retries=2, busy_timeout_ms=20)
    spool = Spool(tmp_path / "spool.jsonl")
    a = assistant(cfg, store, spool)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock for a long time
    try:
        first = a.respond(None, "How do returns work for shoes?")
        second = a.respond(first.conversation_id, "And for sandals?")
    finally:
        holder.rollback()
        holder.close()
    assert first.reply and second.reply and first.turn_id is None  # answered, not stored yet
    assert any("local spool" in n for n in first.to_json()["notes"])
    assert [r["op"] for r in spool.records()] == ["conversation", "turn", "turn", "turn", "turn"]
    assert rows(path) == []
    third = a.respond(first.conversation_id, "Thanks!")  # the database is back: replay first
    assert spool.size() == 0 and third.turn_id is not None
    assert [(role, text) for role, text, _ in rows(path)] == [
        ("user", "How do returns work for shoes?"), ("assistant", first.reply),
        ("user", "And for sandals?"), ("assistant", second.reply), ("user", "Thanks!"), ("assistant", third.reply)]
    assert spool.replay(store) == 0 and len(rows(path)) == 6  # nothing written twice


def test_read_only_database_spools_then_replays(cfg, tmp_path):
    path = tmp_path / "ro.sqlite"
    Store(f"sqlite:///{path}")  # created and migrated
    read_only = Store(f"sqlite:///file:{path}?mode=ro&uri=true", retries=2)
    spool = Spool(tmp_path / "spool.jsonl")
    r = assistant(cfg, read_only, spool).respond(None, "Where is my parcel?")
    assert r.reply and spool.size() == 3 and rows(path) == []
    with pytest.raises(StoreError):
        read_only.add_turn(r.conversation_id, "user", "x")
    writable = Store(f"sqlite:///{path}")
    assert spool.replay(writable) == 3 and spool.size() == 0
    assert [role for role, _, spooled in rows(path) if spooled] == ["user", "assistant"]
    assert writable.history(r.conversation_id)[0]["text"] == "Where is my parcel?"


def test_a_replay_cut_half_way_writes_each_record_exactly_once(cfg, tmp_path, monkeypatch):
    path = tmp_path / "db.sqlite"
    store = Store(f"sqlite:///{path}")
    spool = Spool(tmp_path / "spool.jsonl")
    cid = spool.append({"op": "conversation", "id": "c-1", "source": "chat"})["id"]
    for i in range(4):
        spool.append({"op": "turn", "conversation_id": cid, "role": "user", "text": f"message {i}", "fields": {}})
    real, calls = store.apply_spooled, {"n": 0}

    def flaky(record):
        calls["n"] += 1
        if calls["n"] == 3:
            raise StoreError("database went away again")
        return real(record)
    monkeypatch.setattr(store, "apply_spooled", flaky)
    assert spool.replay(store) == 2 and spool.size() == 3  # stopped; the rest is kept
    monkeypatch.setattr(store, "apply_spooled", real)
    assert spool.replay(store) == 3 and spool.size() == 0
    assert [t for _, t, _ in rows(path)] == [f"message {i}" for i in range(4)]


KILLED_MID_STREAM = """
import sys, time
from assistant.config import load_config
from assistant.turn.pipeline import Assistant
from assistant.store.store import Store
from tests.conftest import FakeRetriever

class Slow:
    model_id, adapter_id, calls = "slow", None, 0
    def count_tokens(self, messages): return 10
    def stream(self, messages, max_new_tokens=None):
        Slow.calls += 1
        yield "Returns are free "
        print("STREAMING", flush=True)
        if Slow.calls == 2:
            time.sleep(60)  # killed here
        yield "within 30 days [1]."

cfg = load_config(env={"LOOPDESK_STORE_URL": sys.argv[1]})
a = Assistant(cfg, Slow(), Store(sys.argv[1]), FakeRetriever())
cid = a.start_conversation()
a.respond(cid, "How do returns work for shoes?")
for _ in a.respond_stream(cid, "When do refunds reach my card?"):
    pass
"""


def test_kill_9_mid_stream_keeps_the_database_and_the_message(tmp_path):
    path = tmp_path / "kill.sqlite"
    url = f"sqlite:///{path}"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_MID_STREAM, url], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    seen = 0
    while time.time() < deadline and seen < 2:  # the second turn is streaming
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen += "STREAMING" in line
    assert seen == 2, "the second turn never streamed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    with sqlite3.connect(path) as c:
        assert c.execute("pragma integrity_check").fetchone()[0] == "ok"
        texts = [t for (t,) in c.execute("select text from turns order by id")]
    assert texts[0] == "How do returns work for shoes?" and texts[-1] == "When do refunds reach my card?"
    assert len(texts) == 3  # the first exchange, and the message of the turn that was killed
