"""The customer page's character counter follows text pasted from the clipboard (Ctrl+V in headless
Chromium, clipboard permission granted), not only typed text."""

from __future__ import annotations

import pytest

from tests.conftest import BROWSER_ARGS, FakeGenerator, FakeRetriever, FakeSentiment, serve_in_thread

pytestmark = pytest.mark.browser


@pytest.fixture
def served(cfg, store):
    import app
    from assistant.turn.pipeline import Assistant

    a = Assistant(cfg, FakeGenerator(["ok [1]."] * 5), store, FakeRetriever(), FakeSentiment())
    for url in serve_in_thread(app.build_app(a, cfg)):
        yield url


def test_the_counter_follows_pasted_text(served, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.rstrip("/"))
        page = context.new_page()
        page.goto(served)
        box = page.locator("#message textarea")
        expect(box).to_be_visible(timeout=60_000)
        page.evaluate("navigator.clipboard.writeText('x'.repeat(5000))")
        box.click()
        page.keyboard.press("Control+V")
        expect(box).to_have_value("x" * 5000, timeout=10_000)
        expect(page.locator("#counter")).to_contain_text("5,000 / 4,000", timeout=10_000)
        browser.close()
