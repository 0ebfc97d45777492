"""Every screen at desktop (1366x900) and phone (390x844) width in headless Chromium: the customer page
(greeting, an answer, waiting for a person) and each console tab with a conversation open. Each must fit
its width (no sideways scrolling of the page; wide tables scroll inside themselves).

    .venv/bin/python -m pytest -q tests/test_screens_browser.py
    SCREENSHOT_DIR=docs .venv/bin/python -m pytest -q tests/test_screens_browser.py   # writes docs/screen-*.png
"""

import os

import pytest

from tests.conftest import BROWSER_ARGS, FakeGenerator, FakeRetriever, FakeSentiment, open_tab, serve_in_thread, sign_in

pytestmark = pytest.mark.browser
SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
TABS = ["Queue", "Conversations", "Replies", "Numbers", "Memory", "Saved replies", "Gaps", "Learning", "Operators", "Settings"]
OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture
def served(cfg, store):
    import app
    from assistant.store.accounts import create_operator
    from assistant.turn.pipeline import Assistant

    a = Assistant(cfg, FakeGenerator(["Returns of shirts are free within 30 days [1]."] * 50), store,
                  FakeRetriever(), FakeSentiment())
    create_operator(store, "dana", "dana-password", role="admin")
    for url in serve_in_thread(app.build_app(a, cfg)):
        yield url, store


def test_every_screen_fits_desktop_and_phone(served, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    url, store = served
    shots = os.environ.get("SCREENSHOT_DIR")
    overflow: dict[str, int] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
        me = browser.new_context(viewport=SIZES["desktop"]).new_page()
        me.goto(url)
        box, chat = me.locator("#message textarea"), me.locator("#chat")
        expect(box).to_be_visible(timeout=30_000)
        box.fill("How do I return a shirt?")
        box.press("Enter")
        expect(chat).to_contain_text("Sources:", timeout=30_000)
        box.fill("I want to talk to a real person")
        box.press("Enter")
        expect(me.locator("#who")).to_contain_text("Waiting for the", timeout=30_000)
        for size, viewport in SIZES.items():
            me.set_viewport_size(viewport)
            me.wait_for_timeout(500)
            overflow[f"customer {size}"] = me.evaluate(OVERFLOW)
            if shots:
                me.screenshot(path=f"{shots}/screen-customer-{size}.png")

        op = browser.new_context(viewport=SIZES["desktop"]).new_page()
        sign_in(op, url, "dana", "dana-password")
        expect(op.locator("#op-queue")).to_contain_text("human requested", timeout=30_000)
        op.locator("#op-queue [role=gridcell]").first.click()
        expect(op.locator("#op-conv-header")).to_contain_text("Conversation", timeout=30_000)
        for size, viewport in SIZES.items():
            op.set_viewport_size(viewport)
            for tab in TABS:
                open_tab(op, tab)
                op.wait_for_timeout(700)  # the tab's tables load
                overflow[f"console {tab} {size}"] = op.evaluate(OVERFLOW)
                if shots:
                    name = tab.lower().replace(" ", "-")
                    op.screenshot(path=f"{shots}/screen-console-{name}-{size}.png")
        browser.close()
    assert {k: v for k, v in overflow.items() if v > 1} == {}
