"""The real app (`python app.py`, bundled models) in headless Chromium, as a customer uses it:
greeting, a grounded answer whose citation opens its section, a second message typed while the
first reply streams (delivered, stored once), thumbs only on answers, no internals on the page,
and the page at phone size."""

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, free_port, requires_models

pytestmark = [pytest.mark.slow, pytest.mark.browser, requires_models]

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic"]
INTERNALS = ["sentiment", "negative", "neutral", "adapter", "grounded-v", "SmolLM", "escalation", "Operator",
             "Use via API", "Settings", "latency"]


def wait_for(url: str, proc, timeout: float = 240) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"app exited early:\n{proc.stdout.read()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise AssertionError("app did not start in time")


@pytest.fixture
def app_server(tmp_path, real_index_dir):
    port = free_port()
    db = tmp_path / "browser.db"
    env = dict(os.environ, LOOPDESK_STORE_URL=f"sqlite:///{db}", LOOPDESK_RETRIEVAL_INDEX_DIR=str(real_index_dir),
               LOOPDESK_GENERATION_MAX_NEW_TOKENS="64", HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/", proc)
        yield f"http://127.0.0.1:{port}/", db
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_customer_page_end_to_end(app_server, chromium_path, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from assistant.store.store import Store

    url, db = app_server
    shots = os.environ.get("SCREENSHOT_DIR")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(url)
        box = page.locator("#message textarea")
        chat = page.locator("#chat")
        expect(box).to_be_visible(timeout=60_000)
        expect(chat).to_contain_text("Northwind Goods assistant")  # the configured greeting
        assert page.title() == "Northwind Goods support"
        box.fill("How do I return a shirt that does not fit?")
        box.press("Enter")
        # Typed at once, while the first is being answered: shown as queued, then answered, never dropped.
        # (Waiting for the first reply to start left a race: a quick reply finished before the second was
        # typed, and CI saw no "queued". The queue's order itself is tested in test_chat_queue.py.)
        box.fill("And how long do refunds take?")
        box.press("Enter")
        page.wait_for_function(
            "Array.from(document.querySelectorAll('#chat .pending-note')).some(n => (n.closest('.message-row')"
            " || n.parentElement).innerText.includes('how long do refunds take'))", polling="raf", timeout=30_000)
        expect(chat.locator(".pending-note")).to_have_count(0, timeout=300_000)
        expect(chat).to_contain_text("And how long do refunds take?")
        expect(chat).to_contain_text("Sources:", timeout=60_000)
        # Both answers are complete when each has its cited sources under it.
        page.wait_for_function("(document.querySelector('#chat').innerText.match(/Sources:/g) || []).length >= 2",
                               timeout=300_000)
        expect(chat).to_contain_text("Returns › How to return an item that does not fit", timeout=60_000)
        if shots:
            page.screenshot(path=f"{shots}/customer-desktop.png", full_page=True)
        text = page.locator("body").inner_text()
        for word in INTERNALS:
            assert word.lower() not in text.lower(), word
        # Thumbs: the greeting has none; an answer has them, and a visible thanks follows.
        rows = page.locator("#chat .message-row.bot-row")
        assert not page.locator("#chat .message-buttons-left").first.get_by_label("Like", exact=True).is_visible()
        page.get_by_label("Like", exact=True).last.click()
        expect(page.locator("#status")).to_contain_text("Thanks", timeout=30_000)
        assert rows.count() >= 3
        # A citation opens its section, rendered (the link target is the /kb route).
        href = chat.locator("a[href*='/kb/']").first.get_attribute("href")
        section = browser.new_page()
        section.goto(href if href.startswith("http") else url.rstrip("/") + href)
        expect(section.locator("h1")).to_contain_text("Returns")
        section.goto(url.rstrip("/") + "/kb/shipping.md%230")
        expect(section.locator("table th").first).to_have_text("option")  # a markdown table is a table
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.goto(url)
        expect(phone.locator("#message textarea")).to_be_visible(timeout=60_000)
        if shots:
            phone.screenshot(path=f"{shots}/customer-phone.png", full_page=True)
        browser.close()
    store = Store(f"sqlite:///{db}")
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        roles = [r[0] for r in conn.execute(sa.text("select role from turns order by id"))]
        rated = conn.execute(sa.text("select f.rating, t.role from feedback f join turns t on t.id = f.turn_id")).all()
    assert roles == ["user", "assistant", "user", "assistant"]  # each message once, each answered once
    assert [tuple(r) for r in rated] == [(1, "assistant")]
