"""The real page in headless Chromium: greeting, a grounded answer with its citation shown, thumbs-up stored."""

import os
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, requires_models

pytestmark = [pytest.mark.slow, pytest.mark.browser, requires_models]

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def test_chat_in_the_browser_and_thumbs_up(app_server, chromium_path, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from assistant.store import Store

    url, db = app_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=ARGS)
        page = browser.new_page()
        page.goto(url)
        box = page.locator("#message textarea")
        expect(box).to_be_visible(timeout=60_000)
        expect(page.locator("#chat")).to_contain_text("Northwind Goods assistant")  # the configured greeting
        box.fill("How do I return a shirt that does not fit?")
        box.press("Enter")
        chat = page.locator("#chat")
        # The steps of returns.md, cited, and the cited section named under the answer.
        expect(chat).to_contain_text("Return or exchange", timeout=180_000)
        expect(chat).to_contain_text("[1]")
        expect(chat).to_contain_text("Returns › How to return an item that does not fit")
        insights = page.locator("#insights")
        expect(insights).to_contain_text("Returns", timeout=120_000)
        expect(insights).to_contain_text("Language: en")
        expect(insights).to_contain_text("score 0.")
        page.screenshot(path=os.environ.get("LOOPDESK_SCREENSHOT", str(tmp_path / "chat.png")), full_page=True)
        page.get_by_label("Like").last.click()
        expect(page.locator("#status")).to_contain_text("Thanks", timeout=30_000)
        browser.close()
    store = Store(f"sqlite:///{db}")
    rows = store._read(__import__("sqlalchemy").text("select f.rating, t.role from feedback f join turns t on t.id = f.turn_id"))
    assert rows == [{"rating": 1, "role": "assistant"}]
