"""The HTTP API: per-client keys (only a hash stored), 401 without one, /v1/chat as JSON and as
server-sent events, /v1/feedback, a rate limit per key, OpenAPI docs at /docs."""

import dataclasses
import json
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from assistant.web.http_api import create_api_key, hash_key
from assistant.turn.pipeline import Assistant
from tests.conftest import ROOT, FakeGenerator, FakeRetriever, FakeSentiment

BOTH_DATABASES = True  # each test with the `store` fixture runs on SQLite and on PostgreSQL


def make_api(cfg, store, per_minute=60):
    from assistant.web.http_api import build_api

    cfg.api = dataclasses.replace(cfg.api, requests_per_minute=per_minute)
    a = Assistant(cfg, FakeGenerator(["Returns are free within 30 days [1]."] * 20), store, FakeRetriever(),
                  FakeSentiment())
    key = create_api_key(store, "shop-site")
    return TestClient(build_api(a, cfg)), {"Authorization": f"Bearer {key}"}, store


@pytest.fixture
def api(cfg, store):
    return make_api(cfg, store)


def test_keys_are_required_and_only_hashed(api):
    client, auth, store = api
    key = auth["Authorization"][7:]
    assert client.post("/v1/chat", json={"message": "hi"}).status_code == 401
    assert client.post("/v1/chat", json={"message": "hi"}, headers={"X-API-Key": "ld_wrong"}).status_code == 401
    assert store.api_key_name(hash_key(key)) == "shop-site"
    with store.engine.connect() as c:
        assert key not in json.dumps([tuple(r) for r in c.exec_driver_sql("select * from api_keys")], default=str)


def test_chat_json_stream_and_feedback(api):
    client, auth, store = api
    first = client.post("/v1/chat", json={"message": "How do returns work for shoes?"}, headers=auth)
    assert first.status_code == 200
    body = first.json()
    assert {"reply", "conversation_id", "turn_id", "language", "sentiment", "entities", "sources", "action",
            "latency_ms", "model", "adapter"} <= set(body) and "[1]" in body["reply"]
    same = client.post("/v1/chat", json={"message": "And for sandals?", "conversation_id": body["conversation_id"]},
                       headers=auth).json()
    assert same["conversation_id"] == body["conversation_id"]
    assert [t["role"] for t in store.history(body["conversation_id"])] == ["user", "assistant"] * 2
    assert client.post("/v1/chat", json={"message": "x", "conversation_id": "nope"}, headers=auth).status_code == 422
    unknown = "00000000-0000-4000-8000-000000000000"  # well formed, but no conversation of this key
    assert client.post("/v1/chat", json={"message": "x", "conversation_id": unknown}, headers=auth).status_code == 404
    with client.stream("POST", "/v1/chat", json={"message": "How do refunds reach my card?", "stream": True},
                       headers=auth) as r:
        text = "".join(r.iter_text())
    events = [block.split("\n")[0].removeprefix("event: ") for block in text.strip().split("\n\n")]
    assert events[-1] == "done" and set(events[:-1]) <= {"token", "replace"} and len(events) >= 2
    done = json.loads(text.strip().split("\n\n")[-1].split("data: ", 1)[1])
    assert done["turn_id"] and done["reply"]
    ok = client.post("/v1/feedback", json={"turn_id": body["turn_id"], "rating": 1}, headers=auth)
    assert ok.status_code == 200 and store.feedback_for(body["turn_id"])[-1]["actor"] == "api:shop-site"
    assert client.post("/v1/feedback", json={"turn_id": body["turn_id"] - 1, "rating": 1},
                       headers=auth).status_code == 404  # a customer turn
    assert client.post("/v1/feedback", json={"turn_id": body["turn_id"], "rating": 5}, headers=auth).status_code == 422


def test_rate_limit_per_key(cfg, store):
    client, auth, store = make_api(cfg, store, per_minute=6)
    codes = [client.post("/v1/feedback", json={"turn_id": 999, "rating": 1}, headers=auth).status_code
             for _ in range(8)]
    assert codes[:6] == [404] * 6 and codes[6] == 429  # 6 per minute, then refused
    other = {"X-API-Key": create_api_key(store, "help-desk")}
    assert client.post("/v1/feedback", json={"turn_id": 999, "rating": 1}, headers=other).status_code == 404


def test_openapi_docs(api):
    client, _, _ = api
    page = client.get("/docs")
    assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text
    assert "cdn." not in page.text and "https://" not in page.text  # nothing from the network: works offline
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/chat", "/v1/feedback"} <= set(paths) and "/metrics" not in paths


def test_api_key_cli(cfg, tmp_path):
    env = {"LOOPDESK_STORE_URL": f"sqlite:///{tmp_path / 'k.db'}", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "assistant.cli.main", "api-key", "create", "Shop-Site", "--json"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    data = json.loads(out.stdout)
    assert out.returncode == 0 and data["name"] == "shop-site" and data["key"].startswith("ld_")


def test_a_client_names_its_customer_and_the_console_shows_them(api):
    """`customer` on the first chat of a conversation is kept with it (cleaned; an address that is not one is
    dropped); a later chat cannot rename the customer; the queue and saved replies use the name."""
    from assistant.turn.customer_info import customer_label
    from assistant.web.console.team import customer_name

    client, auth, store = api
    body = {"message": "Hello", "customer": {"name": "Ada\x00 Lovelace\n", "email": "ada@example.com"}}
    first = client.post("/v1/chat", json=body, headers=auth).json()
    cid = first["conversation_id"]
    meta = store.conversation_meta(cid)
    assert meta["customer_name"] == "Ada Lovelace" and meta["customer_email"] == "ada@example.com"
    assert meta["api_key"] == "shop-site"  # a client cannot pass another key's name through `customer`
    again = {"message": "Thanks", "conversation_id": cid, "customer": {"name": "Someone Else"}}
    assert client.post("/v1/chat", json=again, headers=auth).status_code == 200
    assert customer_name(store, cid) == "Ada Lovelace"
    assert customer_label(cid, store.conversation_meta(cid), None) == "Ada Lovelace · ada@example.com"
    odd = client.post("/v1/chat", json={"message": "Hi", "customer": {"email": "not an address"}}, headers=auth)
    assert store.conversation_meta(odd.json()["conversation_id"]) == {"api_key": "shop-site"}
    long_name = client.post("/v1/chat", json={"message": "Hi", "customer": {"name": "x" * 300}}, headers=auth)
    assert store.conversation_meta(long_name.json()["conversation_id"])["customer_name"] == "x" * 80  # cut, kept
    too_long = {"message": "Hi", "customer": {"name": "x" * 1001}}
    assert client.post("/v1/chat", json=too_long, headers=auth).status_code == 422
