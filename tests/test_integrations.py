"""Chatwoot agent-bot webhook against recorded payloads (answers incoming messages through
Chatwoot's API, hands over with status "open", never talks over a person), and the embeddable
chat widget in a shop's page."""

import dataclasses
import json
import threading
import time

import pytest
from fastapi.testclient import TestClient

from assistant.web.integrations.chatwoot import conversation_id
from assistant.turn.pipeline import Assistant
from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment, ROOT, free_port

PAYLOADS = ROOT / "tests" / "fixtures" / "chatwoot"


class Recorder:
    """Stands in for Chatwoot's API: records each call, answers 200 (or `status`)."""

    def __init__(self, status=200):
        self.calls, self.status = [], status

    def post(self, url, json=None, headers=None):
        self.calls.append((url, json, headers))
        return type("Response", (), {"status_code": self.status, "text": "{}"})()


def payload(name):
    return json.loads((PAYLOADS / f"{name}.json").read_text())


@pytest.fixture
def webhook(cfg, store):
    from assistant.web.http_api import build_api

    cfg.chatwoot = dataclasses.replace(cfg.chatwoot, url="https://chat.example.com", bot_token="bot-token-1",
                                       webhook_secret="s3cret-path")
    a = Assistant(cfg, FakeGenerator(["Returns of shoes are free within 30 days [1]."] * 5), store, FakeRetriever(),
                  FakeSentiment())
    http = Recorder()
    return TestClient(build_api(a, cfg, integration_clients={"chatwoot": http})), http, store, a


def test_chatwoot_answers_hands_over_and_stays_quiet(webhook):
    client, http, store, _ = webhook
    assert client.post("/integrations/chatwoot/wrong", json=payload("message_created_incoming")).status_code == 404
    first = client.post("/integrations/chatwoot/s3cret-path", json=payload("message_created_incoming")).json()
    cid = conversation_id("s3cret-path", 1, 1093)
    assert first["conversation_id"] == cid and first["replied"] and "handed_over" not in first
    url, body, headers = http.calls[0]
    assert url == "https://chat.example.com/api/v1/accounts/1/conversations/1093/messages"
    assert headers == {"api_access_token": "bot-token-1"} and body["message_type"] == "outgoing"
    assert "[1]" in body["content"] and "Sources: [1] Returns" in body["content"]
    for name in ("message_created_outgoing", "message_created_open", "conversation_status_changed"):
        assert "ignored" in client.post("/integrations/chatwoot/s3cret-path", json=payload(name)).json(), name
    assert len(http.calls) == 1  # nothing sent for the bot's own message, a person's conversation, a status event
    handed = client.post("/integrations/chatwoot/s3cret-path", json=payload("message_created_human_request")).json()
    assert handed["handed_over"] and http.calls[-1] == (
        "https://chat.example.com/api/v1/accounts/1/conversations/1093/toggle_status", {"status": "open"},
        {"api_access_token": "bot-token-1"})
    assert [t["role"] for t in store.history(cid)] == ["user", "assistant", "user", "assistant"]
    # Chatwoot's contact names the customer for the console (the recorded payload's sender).
    meta = store.conversation_meta(cid)
    assert meta["customer_name"] == "Kim Lee" and meta["customer_email"] == "kim@example.com"


def test_chatwoot_errors_are_reported_not_swallowed(webhook):
    client, http, _, _ = webhook
    http.status = 401
    r = client.post("/integrations/chatwoot/s3cret-path", json=payload("message_created_incoming"))
    assert r.status_code == 502 and "Chatwoot" in r.json()["detail"]


def test_a_chatwoot_message_takes_its_place_in_line(webhook):
    client, http, store, assistant = webhook
    line = assistant.admission
    cid = conversation_id("s3cret-path", 1, 1093)
    held = [line.enter() for _ in range(line.active_limit)]  # every slot taken by other customers' turns
    try:
        line.waiting_limit = 0  # and no room to wait: refused at once, told so in Chatwoot, nothing stored
        r = client.post("/integrations/chatwoot/s3cret-path", json=payload("message_created_incoming")).json()
        assert r["busy"] and http.calls[-1][1]["content"].startswith("We're very busy")
        assert not store.conversation_exists(cid)
        line.waiting_limit = 5  # room to wait: answered once a slot frees
        threading.Timer(1.0, line.leave, [held.pop()]).start()
        t0 = time.monotonic()
        r = client.post("/integrations/chatwoot/s3cret-path", json=payload("message_created_incoming")).json()
        assert r["replied"] and time.monotonic() - t0 >= 0.9
        assert [t["role"] for t in store.history(cid)] == ["user", "assistant"]
    finally:
        for t in held:
            line.leave(t)


def test_a_chatwoot_message_delivered_again_is_one_turn_and_bad_payloads_are_refused(webhook):
    client, http, store, _ = webhook
    cid = conversation_id("s3cret-path", 1, 1093)
    for _ in range(3):  # Chatwoot delivers again when an answer was slow
        client.post("/integrations/chatwoot/s3cret-path", json=payload("message_created_incoming"))
    assert [t["role"] for t in store.history(cid)] == ["user", "assistant"] and len(http.calls) == 1
    for field, value in (("conversation", {"id": "1093/../../admin", "status": "pending"}),
                         ("conversation", {"id": [1], "status": "pending"}), ("account", {"id": -4}),
                         ("content", {"text": "hi"}), ("id", "x")):
        bad = {**payload("message_created_incoming"), field: value}
        r = client.post("/integrations/chatwoot/s3cret-path", json=bad)
        assert r.status_code == 422, (field, value, r.text)
    assert len(http.calls) == 1  # no URL was built from any of them
    # The id is keyed with the server's secret: the source alone does not tell which one it is.
    assert conversation_id("another-secret", 1, 1093) != cid


@pytest.mark.browser
def test_widget_opens_the_chat_in_a_shop_page(cfg, store, chromium_path, tmp_path):
    import uvicorn
    from playwright.sync_api import expect, sync_playwright

    import app

    a = Assistant(cfg, FakeGenerator(["Returns are free within 30 days [1]."]), store, FakeRetriever(), FakeSentiment())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app.build_app(a, cfg), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.1)
    shop = tmp_path / "shop.html"
    shop.write_text(f'<html><body><h1>Northwind shoes</h1><script src="http://127.0.0.1:{port}/widget.js" defer>'
                    f'</script></body></html>')
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path, headless=True,
                                        args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.goto(shop.as_uri())
            page.locator("#loopdesk-widget-button").click()
            chat = page.frame_locator("#loopdesk-widget-frame").locator("#chat")
            expect(chat).to_contain_text("Northwind Goods assistant", timeout=30_000)
            browser.close()
    finally:
        server.should_exit = True
