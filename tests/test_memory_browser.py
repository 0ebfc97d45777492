"""A correction teaches at once, in headless Chromium with two browser contexts (real MiniLM for
matching, a fake generator that gets refunds wrong): a customer asks, the operator finds the reply
under Replies and saves a correction, and a second customer asking in other words gets the corrected
answer, cited as from the support team; the Memory tab lists the entry and can retire it, after which
the question goes back to the knowledge base. The operator also labels the turn "in the pages", and the
Learning tab's relevance round (a real `finetune relevance-round` job) refuses one reviewed question as
too little feedback, saying so. Screenshots go to $SCREENSHOT_DIR when set."""

from __future__ import annotations

import os

import pytest

from tests.conftest import BROWSER_ARGS, FakeGenerator, FakeRetriever, FakeSentiment, requires_models, serve_in_thread
from tests.conftest import sign_in

pytestmark = [pytest.mark.browser, requires_models]
CORRECT = "Card refunds reach your account 3-5 business days after the return arrives."


@pytest.fixture
def served(cfg, store, tmp_path, monkeypatch):
    import dataclasses

    import app
    from assistant.store.accounts import create_operator
    from assistant.turn.pipeline import Assistant
    from finetune.jobs import LearningLoop
    from index.embedder import SentenceEmbedder

    monkeypatch.setenv("LOOPDESK_STORE_URL", cfg.store_url)  # the console's background jobs read this store

    retriever = FakeRetriever()
    retriever.embedder = SentenceEmbedder(cfg.models.embedder, cfg.home)
    wrong = FakeGenerator(["Refunds take about a year [1]."] * 50)
    # Unchecked model replies, so the wrong one reaches the customer (the checked reader would catch it).
    cfg.generation = dataclasses.replace(cfg.generation, reader="model")
    a = Assistant(cfg, wrong, store, retriever, FakeSentiment())
    create_operator(store, "dana", "dana-password")
    for url in serve_in_thread(app.build_app(a, cfg, LearningLoop(cfg, tmp_path / "work"))):
        yield url, store


def ask(page, text: str) -> str:
    from playwright.sync_api import expect

    box = page.locator("#message textarea")
    expect(box).to_be_visible(timeout=60_000)
    n = page.locator("#chat .message-row.bot-row").count()
    box.fill(text)
    box.press("Enter")
    page.wait_for_function(f"document.querySelectorAll('#chat .message-row.bot-row').length > {n}", timeout=60_000)
    expect(page.locator("#chat .message-row.bot-row").last).not_to_contain_text("…", timeout=30_000)
    page.wait_for_timeout(1500)  # the stream ends
    return page.locator("#chat .message-row.bot-row").last.inner_text()


def test_a_correction_reaches_the_next_customer_who_asks_in_other_words(served, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    url, store = served
    shots = os.environ.get("SCREENSHOT_DIR")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
        first = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        first.goto(url)
        assert "a year" in ask(first, "How long do refunds to my card take?")

        op = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        sign_in(op, url, "dana", "dana-password")
        op.get_by_role("tab", name="Replies", exact=True).click()
        op.locator("#op-reply-search").click()
        op.locator("#op-replies [role=gridcell]", has_text="a year").first.click()
        expect(op.locator("#op-selected")).to_contain_text("Selected turn", timeout=30_000)
        op.locator("#op-correction textarea").fill(CORRECT)
        op.locator("#op-save-correction").click()
        expect(op.locator("#op-message")).to_contain_text("with a correction", timeout=30_000)
        # The same turn labelled for the relevance round: the pages do answer it.
        op.locator("#op-coverage input").click()
        op.get_by_role("option", name="in the pages", exact=True).click()
        op.locator("#op-save-coverage").click()
        expect(op.locator("#op-message")).to_contain_text("Saved the covered label", timeout=30_000)
        expect(op.locator("#op-transcript")).to_contain_text("label covered: in the pages")
        assert store.labels_for("covered")[0]["value"] is True

        second = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        second.goto(url)
        reply = ask(second, "when will i get my money back on my card after a refund?")
        assert CORRECT in reply and "support team" in reply, reply
        if shots:
            second.screenshot(path=f"{shots}/memory-customer-phone.png", full_page=True)

        op.get_by_role("tab", name="Memory").click()
        table = op.locator("#op-memory")
        expect(table).to_contain_text(CORRECT, timeout=30_000)
        expect(table).to_contain_text("served")
        if shots:
            op.screenshot(path=f"{shots}/memory-console-desktop.png", full_page=True)
        table.locator("[role=gridcell]", has_text="served").first.click()
        expect(op.locator("#op-memory-question textarea")).to_have_value("How long do refunds to my card take?",
                                                                         timeout=30_000)
        op.locator("#op-memory-retire").click()
        expect(op.locator("#op-memory-message")).to_contain_text("retired", timeout=30_000)
        assert store.memory_entries("approved") == []
        assert CORRECT not in ask(second, "when will i get my money back on my card after a refund?")

        # The Learning tab's relevance round: one reviewed question is too little, and it says so.
        op.get_by_role("tab", name="Learning").click()
        expect(op.locator("#op-relevance-status")).to_contain_text("the configured model", timeout=30_000)
        op.locator("#op-relevance-round").click()
        expect(op.locator("#op-learn-message")).to_contain_text("Relevance round started", timeout=30_000)
        expect(op.locator("#op-progress")).to_contain_text("too little feedback for a round", timeout=120_000)
        op.locator("#op-relevance-rollback").click()
        expect(op.locator("#op-learn-message")).to_contain_text("no promoted relevance model", timeout=30_000)
        if shots:
            op.screenshot(path=f"{shots}/relevance-round-desktop.png", full_page=True)
        browser.close()
