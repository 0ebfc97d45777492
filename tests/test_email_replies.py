"""Promises about e-mail are kept: with SMTP configured, an operator's reply to a customer who left an
address is really sent (received here by a local SMTP server, aiosmtpd) and recorded; a server that
refuses is recorded as a failure while the reply stays in the chat; without SMTP no customer is told to
expect e-mail."""

from __future__ import annotations

import dataclasses
import time

import pytest

from assistant.turn.handoff import Handoff
from assistant.turn.mailer import Mailer
from assistant.turn.pipeline import Assistant
from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment, free_port


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Keep(Message):
        def handle_message(self, message):
            received.append(message)

    port = free_port()
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, received
    controller.stop()


def queued_offline(cfg, store, mailer=None):
    handoff = Handoff(store, mailer=mailer)
    a = Assistant(cfg, FakeGenerator(), store, FakeRetriever(), FakeSentiment(), handoff=handoff)
    first = a.respond(None, "My parcel never arrived")
    asked = a.respond(first.conversation_id, "I want to talk to a real person")  # nobody is online
    return a, handoff, first.conversation_id, asked


def with_smtp(cfg, port):
    return dataclasses.replace(
        cfg, email=dataclasses.replace(cfg.email, smtp_host="127.0.0.1", smtp_port=port, starttls=False,
                                       from_address="support@northwind.example")
    )


def wait_for(check, seconds=10.0):
    deadline = time.time() + seconds
    while not check() and time.time() < deadline:
        time.sleep(0.05)
    return check()


def test_without_smtp_nobody_is_told_to_expect_email(cfg, store):
    _, _, _, asked = queued_offline(cfg, store)
    assert "e-mail" not in asked.reply and "answer here" in asked.reply


def test_an_operator_reply_is_emailed_to_the_customer(cfg, store, smtp_server):
    port, received = smtp_server
    cfg = with_smtp(cfg, port)
    a, handoff, cid, asked = queued_offline(cfg, store, Mailer(cfg.email, cfg.app.business_name))
    assert "Leave your e-mail address" in asked.reply
    handoff.leave_email(cid, "kim@example.com")
    store.add_operator("dana", "x")
    handoff.take(cid, "dana")
    handoff.reply(cid, "dana", "Hi Kim, your parcel was reshipped today with tracking number 12345.")
    assert wait_for(lambda: len(received) == 1)
    mail = received[0]
    assert mail["To"] == "kim@example.com" and mail["From"] == "support@northwind.example"
    assert "reshipped today" in mail.get_payload() and "Dana, Northwind Goods team" in mail.get_payload()
    assert wait_for(lambda: any(e["kind"] == "emailed" for e in store.handoff_events(cid)))


def test_a_refusing_smtp_server_is_recorded_and_the_reply_kept(cfg, store):
    cfg = with_smtp(cfg, free_port())  # nothing listens there
    a, handoff, cid, _ = queued_offline(cfg, store, Mailer(cfg.email, cfg.app.business_name))
    handoff.leave_email(cid, "kim@example.com")
    store.add_operator("dana", "x")
    handoff.take(cid, "dana")
    turn = handoff.reply(cid, "dana", "Hi Kim, your parcel was reshipped today.")
    assert turn and store.history(cid)[-1]["text"] == "Hi Kim, your parcel was reshipped today."
    assert wait_for(lambda: any(e["kind"] == "email_failed" for e in store.handoff_events(cid)))
    failed = [e for e in store.handoff_events(cid) if e["kind"] == "email_failed"][0]
    assert "127.0.0.1" in failed["detail"]["why"]


def test_an_api_client_receives_a_persons_reply_by_polling_and_by_email(cfg, store, smtp_server):
    """The HTTP API keeps the same promises: a client that asked for a person polls the conversation's
    messages and gets the operator's reply (role agent), can leave an e-mail address where SMTP is set
    up, and that reply is e-mailed; another key sees none of it."""
    from fastapi.testclient import TestClient

    from assistant.web.http_api import build_api, create_api_key

    port, received = smtp_server
    cfg = with_smtp(cfg, port)
    handoff = Handoff(store, mailer=Mailer(cfg.email, cfg.app.business_name))
    a = Assistant(cfg, FakeGenerator(), store, FakeRetriever(), FakeSentiment(), handoff=handoff)
    client = TestClient(build_api(a, cfg), raise_server_exceptions=False)
    shop = {"X-API-Key": create_api_key(store, "shop")}
    other = {"X-API-Key": create_api_key(store, "other")}
    first = client.post("/v1/chat", json={"message": "I want to talk to a real person"}, headers=shop).json()
    cid = first["conversation_id"]
    seen = client.get(f"/v1/conversations/{cid}/messages", headers=shop).json()
    assert seen["answered_by"] == "queued" and [m["role"] for m in seen["messages"]] == ["user", "assistant"]
    last = seen["messages"][-1]["turn_id"]
    assert client.post(f"/v1/conversations/{cid}/email", json={"email": "nope"}, headers=shop).status_code == 422
    saved = client.post(f"/v1/conversations/{cid}/email", json={"email": "kim@example.com"}, headers=shop)
    assert saved.status_code == 200 and saved.json() == {"email": "kim@example.com"}
    assert client.get(f"/v1/conversations/{cid}/messages", headers=other).status_code == 404
    assert client.post(f"/v1/conversations/{cid}/email", json={"email": "x@example.com"},
                       headers=other).status_code == 404

    store.add_operator("dana", "x")
    handoff.take(cid, "dana")
    handoff.reply(cid, "dana", "Hi, I'm Dana. Which order is it about?")
    new = client.get(f"/v1/conversations/{cid}/messages", params={"after": last}, headers=shop).json()
    assert new["answered_by"] == "person:dana"
    assert new["messages"] == [{**new["messages"][0], "role": "agent", "operator": "dana",
                                "text": "Hi, I'm Dana. Which order is it about?"}]
    assert wait_for(lambda: len(received) == 1) and received[0]["To"] == "kim@example.com"


def test_the_api_refuses_an_address_where_no_email_is_sent(cfg, store):
    from fastapi.testclient import TestClient

    from assistant.web.http_api import build_api, create_api_key

    a = Assistant(cfg, FakeGenerator(), store, FakeRetriever(), FakeSentiment())
    client = TestClient(build_api(a, cfg), raise_server_exceptions=False)
    shop = {"X-API-Key": create_api_key(store, "shop")}
    cid = client.post("/v1/chat", json={"message": "I want to talk to a real person"}, headers=shop).json()[
        "conversation_id"]
    r = client.post(f"/v1/conversations/{cid}/email", json={"email": "kim@example.com"}, headers=shop)
    assert r.status_code == 409 and "poll" in r.json()["detail"]
