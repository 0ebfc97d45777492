"""Many customers at once, in headless Chromium: with every turn slot taken, a customer's message is
answered in its turn while the chat says their place in line — nobody waits without a word."""

import dataclasses
import os
import threading
import time

import pytest

from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment, serve_in_thread

pytestmark = pytest.mark.browser
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic"]


class GatedGenerator(FakeGenerator):
    """The first reply waits until the test opens the gate: one slow turn holding the only slot."""

    def __init__(self):
        super().__init__(["Returns of shirts are free within 30 days [1]."])
        self.gate = threading.Event()
        self.first = True

    def stream(self, messages, max_new_tokens=None):
        if self.first:
            self.first = False
            self.gate.wait(60)
        yield from super().stream(messages, max_new_tokens)


@pytest.fixture
def served_one_slot(cfg, store):
    import app
    from assistant.turn.pipeline import Assistant

    cfg.app = dataclasses.replace(cfg.app, concurrent_turns=1, max_waiting=5)
    gen = GatedGenerator()
    a = Assistant(cfg, gen, store, FakeRetriever(), FakeSentiment())
    for url in serve_in_thread(app.build_app(a, cfg)):
        yield url, gen, a
        gen.gate.set()


def test_second_customer_is_told_their_place_then_answered(served_one_slot, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    url, gen, assistant = served_one_slot
    shots = os.environ.get("SCREENSHOT_DIR")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=ARGS)
        first = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        second = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
        for page in (first, second):
            page.goto(url)
            expect(page.locator("#message textarea")).to_be_visible(timeout=30_000)
        first.locator("#message textarea").fill("How do I return a shirt?")
        first.locator("#message textarea").press("Enter")
        deadline = time.time() + 30
        while assistant.admission.load()["running"] < 1 and time.time() < deadline:
            time.sleep(0.1)
        second.locator("#message textarea").fill("Do you ship to Canada?")
        second.locator("#message textarea").press("Enter")
        expect(second.locator("#chat")).to_contain_text("you are number 1 in line", timeout=30_000)
        if shots:
            second.screenshot(path=f"{shots}/customer-in-line-phone.png", full_page=True)
        gen.gate.set()  # the slow turn ends: the first customer is answered, then the second
        expect(first.locator("#chat")).to_contain_text("Sources:", timeout=30_000)
        expect(second.locator("#chat")).to_contain_text("Sources:", timeout=30_000)
        expect(second.locator("#chat")).not_to_contain_text("in line")
        assert assistant.admission.load() == {"running": 0, "waiting": 0, "refused": 0}
        browser.close()
