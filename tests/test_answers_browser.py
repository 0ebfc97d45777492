"""Answers as a customer reads them, in headless Chromium on the real app (bundled models, demo KB):
a table row answered as a cited sentence (no "column: value" dump), a follow-up that changes topic
answered on the new topic, and a question the help pages do not answer declined with an offer of a
person and without quoting anything. Screenshots at 1366 px and phone width go to $SCREENSHOT_DIR
when set (docs/answers-{desktop,phone}-prose.png after the first answer, docs/answers-{desktop,phone}.png
at the end)."""

from __future__ import annotations

import os

import pytest

from tests.conftest import requires_models
from tests.test_browser import ARGS, app_server  # noqa: F401  (the fixture: the real app on a free port)

pytestmark = [pytest.mark.slow, pytest.mark.browser, requires_models]


def _ask(page, text: str, answers_before: int) -> str:
    """Send `text`, wait until its answer is complete (its "Sources:" or a decline), return that answer."""
    box = page.locator("#message textarea")
    box.fill(text)
    box.press("Enter")
    page.wait_for_function(
        f"document.querySelectorAll('#chat .message-row.bot-row').length > {answers_before}", timeout=120_000
    )
    page.wait_for_function(
        "(() => { const rows = document.querySelectorAll('#chat .message-row.bot-row');"
        " const t = rows[rows.length - 1].innerText;"
        " return /Sources:|human agent|person/.test(t) && !document.querySelector('#chat .pending-note'); })()",
        timeout=300_000,
    )
    return page.locator("#chat .message-row.bot-row").last.inner_text()


def test_prose_answer_topic_change_and_decline(app_server, chromium_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    url, _ = app_server
    shots = os.environ.get("SCREENSHOT_DIR")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=ARGS)
        for name, viewport in (("desktop", {"width": 1366, "height": 900}), ("phone", {"width": 390, "height": 844})):
            page = browser.new_page(viewport=viewport)
            page.goto(url)
            expect(page.locator("#message textarea")).to_be_visible(timeout=60_000)
            # The greeting first (it says "person": counted before it renders, it would pass for an answer).
            expect(page.locator("#chat .message-row.bot-row").first).to_be_visible(timeout=60_000)
            n = page.locator("#chat .message-row.bot-row").count()  # the greeting
            price = _ask(page, "how much is express shipping?", n)
            assert "12.99" in price and "Sources:" in price, price
            assert "option:" not in price and "price:" not in price  # a sentence, not a table row
            assert "Standard" not in price and "Next day" not in price  # only the row asked about
            if shots:
                page.screenshot(path=f"{shots}/answers-{name}-prose.png", full_page=True)
            change = _ask(page, "thanks! different thing: can I pay with PayPal?", n + 1)
            assert "PayPal" in change and "12.99" not in change, change
            assert "Payments" in change.split("Sources:")[-1]  # cited where the answer comes from
            declined = _ask(page, "What is the name of your CEO?", n + 2)
            assert "couldn't find" in declined and "human agent" in declined, declined
            assert "CEO" not in declined and "Sources:" not in declined  # nothing quoted
            if shots:
                page.screenshot(path=f"{shots}/answers-{name}.png", full_page=True)
            page.close()
        browser.close()
