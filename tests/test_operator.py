"""Operator area: filters, ratings, corrections, labels, daily counts, and the page in Chromium."""

import os
import socket
import time

import pytest

from assistant import operator as op
from assistant.errors import InputError
from assistant.pipeline import Assistant
from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment


def seeded(cfg, store):
    a = Assistant(cfg, FakeGenerator(["Returns are free [1]."]), store, FakeRetriever(), FakeSentiment())
    r1 = a.respond(None, "How do returns work for shoes?")
    r2 = a.respond(None, "This is terrible, where is my refund?")
    r3 = a.respond(None, "I want to talk to a human")
    return a, r1, r2, r3


def test_browse_filters_and_actions(cfg, store):
    _, r1, r2, r3 = seeded(cfg, store)
    assert len(op.browse(store)) == 3
    op.rate(store, r1.turn_id, True)
    op.rate(store, r2.turn_id, False, "Refunds reach your card 3-5 business days after approval.")
    assert [r["turn_id"] for r in op.browse(store, feedback_filter="good")] == [r1.turn_id]
    bad = op.browse(store, feedback_filter="bad")
    assert bad[0]["turn_id"] == r2.turn_id and bad[0]["correction"].startswith("Refunds reach")
    assert [r["turn_id"] for r in op.browse(store, feedback_filter="none")] == [r3.turn_id]
    assert [r["turn_id"] for r in op.browse(store, sentiment="negative")] == [r2.turn_id]
    assert [r["turn_id"] for r in op.browse(store, escalated="yes")] == [r3.turn_id]
    assert [r["turn_id"] for r in op.browse(store, text="WORK FOR SHOES")] == [r1.turn_id]
    assert op.browse(store, adapter="v9") == [] and len(op.browse(store, adapter="none")) == 3
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert len(op.browse(store, since=today, until=today)) == 3 and op.browse(store, until="2000-01-01") == []
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        op.browse(store, since="yesterday")
    with pytest.raises(InputError, match="not an assistant reply"):
        op.rate(store, r1.turn_id - 1, True)
    day = op.daily_counts(store)[today]
    assert day == {"good": 1, "bad": 1, "escalations": 1}


def test_labels_attach_to_the_customer_turn(cfg, store):
    _, r1, _, _ = seeded(cfg, store)
    user_turn = op.customer_turn_of(store, r1.turn_id)
    assert store.turn(user_turn)["role"] == "user"
    store.add_label(user_turn, "sentiment", "positive")
    store.add_label(user_turn, "sentiment", "neutral")
    store.add_label(user_turn, "ner", [{"type": "MISC", "text": "shoes"}])
    labels = store.labels_for("sentiment")
    assert len(labels) == 1 and labels[0]["value"] == "neutral"  # the latest label wins
    assert store.labels_for("ner")[0]["value"][0]["text"] == "shoes"


def test_token_check():
    assert op.token_ok("s3cret", "s3cret")
    assert not op.token_ok("nope", "s3cret") and not op.token_ok("", "") and not op.token_ok(None, "x")


@pytest.mark.browser
def test_operator_page_in_the_browser(cfg, store, chromium_path):
    import dataclasses

    from playwright.sync_api import expect, sync_playwright

    import app

    a, r1, r2, _ = seeded(cfg, store)
    cfg.app = dataclasses.replace(cfg.app, operator_token="op-token-123")
    demo = app.build_ui(a, cfg)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path, headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                              "--disable-component-update", "--disable-sync", "--disable-quic"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.locator("#message textarea")).to_be_visible(timeout=30_000)
            assert page.locator("#op-token").count() == 0  # the customer page has no operator controls
            page.goto(f"http://127.0.0.1:{port}/operator")
            page.locator("#op-token input").fill("wrong")
            page.locator("#op-unlock").click()
            expect(page.locator("#op-message")).to_contain_text("Wrong operator token", timeout=30_000)
            expect(page.locator("#op-search")).to_be_hidden()
            page.locator("#op-token input").fill("op-token-123")
            page.locator("#op-unlock").click()
            expect(page.locator("#op-search")).to_be_visible(timeout=30_000)
            page.locator("#op-search").click()
            expect(page.locator("#op-table")).to_contain_text("where is my refund", timeout=30_000)
            page.locator("#op-turn input").fill(str(r2.turn_id))
            page.locator("#op-correction textarea").fill("Card refunds take 3-5 business days.")
            page.locator("#op-save-correction").click()
            expect(page.locator("#op-message")).to_contain_text("with a correction", timeout=30_000)
            browser.close()
    finally:
        demo.close()
    fb = store.feedback_for(r2.turn_id)
    assert fb[-1]["rating"] == -1 and fb[-1]["correction"] == "Card refunds take 3-5 business days."
    assert fb[-1]["source"] == "operator"


def test_operator_labels_become_tagger_examples(cfg, store):
    from finetune.store_labels import entity_tags, ner_examples, sentiment_examples

    _, r1, r2, _ = seeded(cfg, store)
    u1, u2 = op.customer_turn_of(store, r1.turn_id), op.customer_turn_of(store, r2.turn_id)
    store.add_label(u1, "sentiment", "neutral")
    store.add_label(u2, "ner", [{"type": "MISC", "text": "refund"}, {"type": "ORG", "text": "Nowhere Inc"}])
    assert sentiment_examples(store) == [("How do returns work for shoes?", 1)]
    examples, problems = ner_examples(store)
    words, tags = examples[0]
    assert dict(zip(words, tags))["refund"] == "B-MISC" and tags.count("O") == len(tags) - 1
    assert problems == [f"turn {u2}: span 'Nowhere Inc' not found in the message"]
    words, tags, _ = entity_tags("Call Acme Corp, please.", [{"type": "ORG", "text": "Acme Corp"}])
    assert list(zip(words, tags))[:4] == [("Call", "O"), ("Acme", "B-ORG"), ("Corp", "I-ORG"), (",", "O")]
