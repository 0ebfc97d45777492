"""Abuse of the HTTP API, as an attacker with one key would try it (issue: hardening, round two):
a fault in any request path gives its place in line back, odd ids are refused with 4xx before they
reach the database, a key reaches only the conversations it started, a rating is one per turn and
key, and a revoked key stops working."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from assistant.turn.pipeline import Assistant
from assistant.web.http_api import build_api, create_api_key
from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment

BOTH_DATABASES = True


@pytest.fixture
def api(cfg, store):
    cfg.api = dataclasses.replace(cfg.api, requests_per_minute=10_000)
    a = Assistant(cfg, FakeGenerator(["Returns are free within 30 days [1]."] * 50), store, FakeRetriever(),
                  FakeSentiment())
    keys = {name: {"Authorization": f"Bearer {create_api_key(store, name)}"} for name in ("shop", "intruder")}
    return TestClient(build_api(a, cfg), raise_server_exceptions=False), keys, store, a


def test_a_fault_in_the_lookup_gives_the_place_in_line_back(api, monkeypatch):
    client, keys, store, a = api
    first = client.post("/v1/chat", json={"message": "How do I return a shirt?"}, headers=keys["shop"]).json()

    def broken(cid):
        raise RuntimeError("a driver error nobody expected")

    monkeypatch.setattr(store, "conversation_owner", broken)
    slots = a.cfg.app.concurrent_turns + a.cfg.app.max_waiting
    for _ in range(slots + 5):  # more than every place in line: none may leak
        r = client.post("/v1/chat", json={"message": "hi", "conversation_id": first["conversation_id"]},
                        headers=keys["shop"])
        assert r.status_code == 500
    assert a.admission.load()["running"] == 0 and a.admission.load()["waiting"] == 0
    monkeypatch.undo()
    again = client.post("/v1/chat", json={"message": "Still there?"}, headers=keys["shop"])
    assert again.status_code == 200


@pytest.mark.parametrize("cid", ["\\ud800", "abc\\u0000def", "../../etc/passwd", "x" * 5000, "1 OR 1=1"])
def test_odd_conversation_ids_are_refused_before_the_database(api, cid):
    """Sent as JSON text: a lone surrogate or a NUL escaped in JSON is what a hostile client sends."""
    client, keys, store, a = api
    body = '{"message": "hi", "conversation_id": "%s"}' % cid
    r = client.post("/v1/chat", content=body, headers={**keys["shop"], "Content-Type": "application/json"})
    assert r.status_code == 422
    assert a.admission.load()["running"] == 0


@pytest.mark.parametrize("turn_id", [2**63, -1, 0, 10**30])
def test_odd_turn_ids_are_refused(api, turn_id):
    client, keys, store, a = api
    r = client.post("/v1/feedback", json={"turn_id": turn_id, "rating": 1}, headers=keys["shop"])
    assert r.status_code == 422


def test_a_key_reaches_only_its_own_conversations_and_rates_once(api):
    client, keys, store, a = api
    mine = client.post("/v1/chat", json={"message": "How do I return a shirt?"}, headers=keys["shop"]).json()
    cid, turn = mine["conversation_id"], mine["turn_id"]
    other = client.post("/v1/chat", json={"message": "I want to talk to a real person", "conversation_id": cid},
                        headers=keys["intruder"])
    assert other.status_code == 404 and len(store.history(cid)) == 2  # nothing was added to it
    rated = client.post("/v1/feedback", json={"turn_id": turn, "rating": -1}, headers=keys["intruder"])
    assert rated.status_code == 404
    chat_page = a.start_conversation("chat")  # the web page's and Chatwoot's conversations have no key
    assert client.post("/v1/chat", json={"message": "hi", "conversation_id": chat_page},
                       headers=keys["shop"]).status_code == 404
    for rating in (1, -1, -1):
        assert client.post("/v1/feedback", json={"turn_id": turn, "rating": rating},
                           headers=keys["shop"]).status_code == 200
    rows = store.feedback_for(turn)
    assert len(rows) == 1 and rows[0]["rating"] == -1  # the last word of this key, once
    assert client.post("/v1/chat", json={"message": "and shoes?", "conversation_id": cid},
                       headers=keys["shop"]).status_code == 200


def test_a_revoked_key_stops_working(api):
    client, keys, store, a = api
    assert client.post("/v1/chat", json={"message": "hi"}, headers=keys["intruder"]).status_code == 200
    assert store.revoke_api_key("intruder") and not store.revoke_api_key("intruder")
    assert client.post("/v1/chat", json={"message": "hi"}, headers=keys["intruder"]).status_code == 401
    assert "intruder" not in store.api_key_names()


def test_a_refused_request_does_not_echo_what_it_sent(api):
    client, keys, store, a = api
    secret = "4111 1111 1111 1111 \x00 kim@example.com"
    r = client.post("/v1/chat", json={"message": "hi", "conversation_id": secret}, headers=keys["shop"])
    assert r.status_code == 422 and "4111" not in r.text and "kim@" not in r.text
    assert r.json()["detail"][0]["where"] == "body.conversation_id"


def test_a_huge_body_is_refused_before_it_is_read(api):
    client, keys, store, a = api
    r = client.post("/v1/chat", content=b'{"message": "' + b"x" * 600_000 + b'"}',
                    headers={**keys["shop"], "Content-Type": "application/json"})
    assert r.status_code == 413 and "x" * 100 not in r.text
    assert store.counts()["turns"] == 0


def test_metrics_answer_with_the_database_down(api, monkeypatch):
    client, keys, store, a = api

    def down(*args, **kwargs):
        from assistant.errors import StoreError

        raise StoreError("database is locked")

    monkeypatch.setattr(store, "handoff_queue", down)
    r = client.get("/metrics")
    assert r.status_code == 200 and "loopdesk_database_up 0.0" in r.text
    monkeypatch.undo()
    assert "loopdesk_database_up 1.0" in client.get("/metrics").text


def test_a_refused_request_is_not_logged_with_its_input(api, caplog):
    client, keys, store, a = api
    with caplog.at_level("DEBUG"):
        r = client.post("/v1/chat", json={"message": ["4111 1111 1111 1111", "cvv 123"], "stream": "yes"},
                        headers=keys["shop"])
    assert r.status_code == 422
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "4111" not in logged and "cvv" not in logged and "4111" not in r.text


def test_a_streamed_body_over_the_limit_is_cut_off(api):
    """No Content-Length (chunked): counted while it arrives, refused once past the limit."""
    client, keys, store, a = api

    def chunks():
        yield b'{"message": "'
        for _ in range(100):
            yield b"x" * 10_000
        yield b'"}'

    r = client.post("/v1/chat", content=chunks(), headers={**keys["shop"], "Content-Type": "application/json"})
    assert r.status_code == 413 and store.counts()["turns"] == 0
    assert a.admission.load()["running"] == 0


def test_a_page_request_over_its_limit_is_refused(api):
    """The chat page's Gradio calls: a 50 MB 'message' is refused before Gradio reads it."""
    client, keys, store, a = api
    big = b'{"data": ["' + b"x" * (a.cfg.app.max_request_kb * 1024 + 10) + b'"]}'
    r = client.post("/gradio_api/queue/join", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_every_response_carries_a_content_security_policy(api):
    client, keys, store, a = api
    page = client.get("/healthz").headers["content-security-policy"]
    assert "connect-src 'self'" in page and "object-src 'none'" in page
    assert "frame-ancestors" not in page  # app.embed_origins = ["*"]: the widget's chat is framed by any shop
    docs = client.get("/docs").headers["content-security-policy"]
    assert "frame-ancestors 'none'" in docs  # the API docs (and the console) are never framed
    assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"
    a.cfg.app = dataclasses.replace(a.cfg.app, embed_origins=["https://shop.example.com"])
    only = TestClient(build_api(a, a.cfg)).get("/healthz").headers["content-security-policy"]
    assert "frame-ancestors https://shop.example.com" in only


def test_per_key_and_per_end_user_limits(cfg, store):
    cfg.api = dataclasses.replace(cfg.api, requests_per_minute=100, key_limits=["tiny=2"],
                                  end_user_requests_per_minute=3)
    a = Assistant(cfg, FakeGenerator(["Returns are free within 30 days [1]."]), store, FakeRetriever(),
                  FakeSentiment())
    client = TestClient(build_api(a, cfg), raise_server_exceptions=False)
    tiny = {"X-API-Key": create_api_key(store, "tiny")}
    shop = {"X-API-Key": create_api_key(store, "shop")}
    codes = [client.post("/v1/chat", json={"message": "hi"}, headers=tiny).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    kim = [client.post("/v1/chat", json={"message": "hi", "end_user": "kim"}, headers=shop).status_code
           for _ in range(4)]
    assert kim == [200, 200, 200, 429]
    r = client.post("/v1/chat", json={"message": "hi", "end_user": "lee"}, headers=shop)
    assert r.status_code == 200  # another customer behind the same key is not held back by kim


def test_the_api_keeps_answering_with_postgresql_down(cfg, tmp_path, monkeypatch):
    """A real PostgreSQL stopped under the app: keys verified lately still work, a new conversation and
    a conversation seen lately are answered and spooled, a rating says to retry (503, not 500), an
    unknown key cannot be checked (503); when the database is back the spool is written once."""
    from tests.postgres_server import Server, binaries

    if binaries() is None:
        pytest.skip("PostgreSQL not installed")
    from assistant.store.spool import Spool
    from assistant.store.store import Store

    server = Server()
    try:
        store = Store(server.new_database(), retries=1)
        spool = Spool(tmp_path / "spool.jsonl")
        cfg.api = dataclasses.replace(cfg.api, requests_per_minute=10_000)
        a = Assistant(cfg, FakeGenerator(["Returns are free within 30 days [1]."]), store, FakeRetriever(),
                      FakeSentiment(), spool=spool)
        client = TestClient(build_api(a, cfg), raise_server_exceptions=False)
        shop = {"X-API-Key": create_api_key(store, "shop")}
        first = client.post("/v1/chat", json={"message": "How do I return a shirt?"}, headers=shop).json()
        server.halt()
        again = client.post("/v1/chat", json={"message": "And shoes?", "conversation_id": first["conversation_id"]},
                            headers=shop)
        new = client.post("/v1/chat", json={"message": "Where is my parcel?"}, headers=shop)
        assert again.status_code == 200 and new.status_code == 200, (again.text, new.text)
        assert again.json()["reply"] and again.json()["turn_id"] is None and spool.size() >= 4  # answered, spooled
        rated = client.post("/v1/feedback", json={"turn_id": first["turn_id"], "rating": 1}, headers=shop)
        assert rated.status_code == 503 and rated.headers["retry-after"]
        stranger = client.post("/v1/chat", json={"message": "hi"}, headers={"X-API-Key": "ld_unknown"})
        assert stranger.status_code == 503
        assert client.get("/metrics").status_code == 200
        server.resume()
        monkeypatch.setattr("assistant.turn.pipeline.DB_PAUSE_S", 0.0)  # turns skip the database 5 s after a failure
        a._db_down_until = 0.0
        after = client.post("/v1/chat", json={"message": "Thanks", "conversation_id": first["conversation_id"]},
                            headers=shop)
        assert after.status_code == 200 and spool.size() == 0
        assert [t["text"] for t in store.history(first["conversation_id"], limit=20) if t["role"] == "user"] == [
            "How do I return a shirt?", "And shoes?", "Thanks"]
    finally:
        server.stop()
