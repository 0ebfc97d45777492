"""For on-call: /healthz, /readyz (generator, index, writable database) and /metrics (Prometheus
text with turns, latency, escalations, queue depth and the live adapter)."""

import sqlite3

from fastapi.testclient import TestClient

from assistant.turn.pipeline import Assistant
from assistant.store.store import Store
from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment


def client(cfg, store, retriever=FakeRetriever()):
    import app

    a = Assistant(cfg, FakeGenerator(["Returns are free within 30 days [1]."] * 5), store, retriever, FakeSentiment(),
                  retriever_problem=None if retriever else "no index at /nowhere")
    return a, TestClient(app.build_app(a, cfg))


def test_health_ready_and_metrics(cfg, store):
    a, c = client(cfg, store)
    assert c.get("/healthz").json() == {"status": "ok"}
    ready = c.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"generator": "ok", "index": "ok", "database": "ok"}
    assert ready.json()["load"] == {"running": 0, "waiting": 0, "refused": 0} and ready.json()["engine"]
    a.respond(None, "How do returns work?")
    a.respond(None, "I want to talk to a human")
    text = c.get("/metrics").text
    assert 'loopdesk_turns_total{action="answer"}' in text and 'loopdesk_turns_total{action="escalate"}' in text
    assert 'loopdesk_escalations_total{reason="human_requested"}' in text
    assert "loopdesk_queue_depth 1.0" in text and 'loopdesk_live_adapter_info{version="none"} 1.0' in text
    assert "loopdesk_turn_latency_seconds_bucket" in text and "loopdesk_first_token_seconds_count" in text
    assert "loopdesk_spool_records 0.0" in text


def test_json_log_lines(capsys):
    import json
    import logging

    from assistant.logs import setup_logging

    setup_logging("json")
    try:
        logging.getLogger("loopdesk.test").warning("spooled %d turn(s)", 2)
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert json.loads(line) | {"asctime": None} == {"asctime": None, "level": "WARNING", "logger": "loopdesk.test",
                                                         "message": "spooled 2 turn(s)"}
    finally:
        setup_logging("text", "WARNING")


def test_not_ready_without_index_or_writable_database(cfg, tmp_path):
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    store = Store(url, retries=1, busy_timeout_ms=100)
    _, c = client(cfg, store, retriever=None)
    body = c.get("/readyz")
    assert body.status_code == 503 and body.json()["checks"]["index"] == "no index at /nowhere"
    holder = sqlite3.connect(tmp_path / "locked.db")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        checks = c.get("/readyz").json()["checks"]
        assert checks["database"].startswith("not writable") and "locked" in checks["database"]
    finally:
        holder.rollback()
        holder.close()


class LateGenerator(FakeGenerator):
    """A model whose first sentence is always estimated too late (as after a calibration timed on a busy
    machine): every turn it could write is answered from the evidence."""

    def first_text_eta(self, messages, tokens):
        return 99.0


def test_turns_falling_back_for_time_on_an_idle_machine_are_said(cfg, store):
    from assistant.web.console.page import health_problems

    a = Assistant(cfg, LateGenerator(["Returns are free within 30 days [1]."]), store, FakeRetriever(),
                  FakeSentiment())
    c = TestClient(__import__("app").build_app(a, cfg))
    assert c.get("/readyz").json()["model_time"]["problem"] is None
    groundings = [a.respond(None, "How long do refunds take to reach my card?").grounding for _ in range(6)]
    assert all(g.startswith("fallback: busy") for g in groundings), groundings
    ready = c.get("/readyz").json()
    assert ready["ready"] and ready["model_time"]["idle_turns"] == 6 and ready["model_time"]["idle_busy_share"] == 1.0
    assert "lack of time on 6 of the last 6 turns" in ready["model_time"]["problem"]
    assert any("lack of time" in p for p in health_problems(a))  # the console's banner
    text = c.get("/metrics").text
    assert "loopdesk_model_busy_share 1.0" in text and "loopdesk_busy_fallbacks_total" in text


def test_busy_fallbacks_under_load_are_not_a_problem():
    from assistant.turn.busy_watch import BusyWatch

    watch = BusyWatch()
    for _ in range(20):
        watch.record("fallback: busy, a first sentence would take 6 s", running=8)  # many customers at once
    watch.record("generated", running=1)
    watch.record("extractive", running=1)  # not the model's to write: not counted
    assert watch.stats() == {"turns": 21, "busy_share": 0.952, "idle_turns": 1, "idle_busy_share": 0.0}
    assert watch.problem() is None
