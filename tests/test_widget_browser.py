"""The chat widget on a shop's page, in headless Chromium: a host page (a file in a temp dir) includes
`/widget.js` from the app (fake generator, real pages); at 1366x900 the button opens a 400x640 frame,
at 390x844 a full-screen one. In both the customer sends messages and gets replies while the header
(business name, who is answering, close) and the box with Send stay inside the frame and the screen;
the close button hides the frame, and a "close" message from another origin does not.

    .venv/bin/pytest -q tests/test_widget_browser.py
    SCREENSHOT_DIR=docs .venv/bin/pytest -q tests/test_widget_browser.py   # docs/widget-{desktop,phone}.png
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import BROWSER_ARGS, FakeGenerator, FakeRetriever, FakeSentiment, serve_in_thread

pytestmark = pytest.mark.browser

SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def shop(cfg, store, tmp_path):
    """The app on a free port, and a shop page that embeds its widget."""
    import app
    from assistant.turn.pipeline import Assistant

    a = Assistant(
        cfg,
        FakeGenerator(["Returns of shirts are free within 30 days [1]."] * 50),
        store,
        FakeRetriever(),
        FakeSentiment(),
    )
    for url in serve_in_thread(app.build_app(a, cfg)):
        page = tmp_path / "shop.html"
        page.write_text(
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Northwind shoes</title>'
            "</head><body><h1>Northwind shoes</h1><p>Our shoes.</p>"
            f'<script src="{url}widget.js" defer></script></body></html>'
        )
        yield url, page.as_uri()


def inside(box: dict, outer: dict, what: str) -> None:
    """`box` lies wholly inside `outer` (bounding boxes in the host page's pixels)."""
    assert box is not None, f"{what} is not rendered"
    assert box["x"] >= outer["x"] - 0.5 and box["y"] >= outer["y"] - 0.5, (what, box, outer)
    assert box["x"] + box["width"] <= outer["x"] + outer["width"] + 0.5, (what, box, outer)
    assert box["y"] + box["height"] <= outer["y"] + outer["height"] + 0.5, (what, box, outer)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_widget_opens_a_compact_chat_that_keeps_header_and_send_in_view(shop, chromium_path, size):
    from playwright.sync_api import expect, sync_playwright

    url, host = shop
    viewport = SIZES[size]
    shots = os.environ.get("SCREENSHOT_DIR")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
        context = browser.new_context(viewport=viewport, is_mobile=size == "phone", has_touch=size == "phone")
        page = context.new_page()
        page.goto(host)
        button = page.locator("#loopdesk-widget-button")
        expect(button).to_have_text("Chat with Northwind Goods", timeout=30_000)
        button.click()
        frame_el = page.locator("#loopdesk-widget-frame")
        expect(frame_el).to_be_visible()
        assert frame_el.get_attribute("src") == url + "?embed=1"
        chat = page.frame_locator("#loopdesk-widget-frame")
        box = chat.locator("#message textarea")
        expect(box).to_be_visible(timeout=30_000)
        expect(chat.locator("#chat")).to_contain_text("Northwind Goods assistant")

        frame = frame_el.bounding_box()
        if size == "desktop":  # a 400x640 panel at the bottom right
            assert round(frame["width"]) == 400 and round(frame["height"]) == 640, frame
            assert frame["x"] + frame["width"] <= viewport["width"] - 19
        else:  # the whole screen, and the launcher out of the way of Send
            assert round(frame["width"]) == 390 and round(frame["height"]) == 844, frame
            expect(button).to_be_hidden()
        screen = {"x": 0, "y": 0, **viewport}
        for n, question in enumerate(
            [
                "How do I return a shirt?",
                "And shoes that do not fit?",
                "How long do refunds take?",
                "Can I return sale items?",
            ]
        ):
            box.fill(question)
            chat.locator("#send").click()
            expect(chat.locator("#chat .message-row.bot-row")).to_have_count(n + 2, timeout=30_000)
            expect(chat.locator("#chat")).to_contain_text("Sources:", timeout=30_000)
        expect(chat.locator("#chat")).to_contain_text("Can I return sale items?")
        expect(chat.locator("#chat .pending-note")).to_have_count(0, timeout=30_000)
        # Four answers overflow the panel: the messages scroll, the header and the box stay put.
        scrolls = chat.locator("#chat .bubble-wrap").evaluate("e => e.scrollHeight > e.clientHeight")
        assert scrolls, "the chat should overflow and scroll inside the frame"
        for what in ("#brand", "#who", "#widget-close", "#message textarea", "#send"):
            element = chat.locator(what).bounding_box()
            inside(element, frame, what)
            inside(element, screen, what)
        expect(chat.locator("#who")).to_contain_text("You're chatting with the Northwind Goods assistant")
        if shots:
            page.screenshot(path=f"{shots}/widget-{size}.png")

        # Only the chat in our frame may close it: the same message from the shop page is ignored.
        page.evaluate("() => window.postMessage({loopdesk: 'close'}, '*')")
        page.wait_for_timeout(300)
        expect(frame_el).to_be_visible()
        chat.locator("#widget-close").click()
        expect(frame_el).to_be_hidden(timeout=10_000)
        expect(button).to_be_visible()
        assert button.get_attribute("aria-expanded") == "false"
        button.click()  # opens the same chat again, the conversation kept
        expect(frame_el).to_be_visible()
        expect(chat.locator("#chat")).to_contain_text("Can I return sale items?")
        browser.close()


def test_the_chat_page_outside_a_frame_has_no_close_button(shop, chromium_path):
    """`/` and `/?embed=1` opened in a tab: nothing to close (the button talks to a page around it)."""
    from playwright.sync_api import expect, sync_playwright

    url, _ = shop
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
        page = browser.new_page(viewport=SIZES["desktop"])
        for path in ("", "?embed=1"):
            page.goto(url + path)
            expect(page.locator("#message textarea")).to_be_visible(timeout=30_000)
            expect(page.locator("#widget-close")).to_be_hidden()
        browser.close()


def test_a_shop_names_its_signed_in_customer_and_the_queue_shows_them(shop, chromium_path, cfg, store):
    """The script tag's data-customer-name / data-customer-email reach the conversation: the operator's
    queue and the customer label say "Ada Lovelace · ada@example.com", not a visitor id."""
    from pathlib import Path
    from urllib.parse import urlparse

    from playwright.sync_api import expect, sync_playwright

    from assistant.turn.handoff import Handoff
    from assistant.web.console.queue_tab import QueueView

    url, host = shop
    named = Path(urlparse(host).path).with_name("account.html")
    named.write_text(
        Path(urlparse(host).path).read_text().replace(
            "widget.js\" defer>", "widget.js\" data-customer-name=\"Ada  Lovelace\" "
            "data-customer-email=\"ada@example.com\" defer>"
        )
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
        page = browser.new_context(viewport=SIZES["desktop"]).new_page()
        sent: list[str] = []
        page.context.on("request", lambda r: sent.append(r.url))  # bodies carry it to the app: that is the point
        page.goto(named.as_uri())
        page.locator("#loopdesk-widget-button").click()
        src = page.locator("#loopdesk-widget-frame").get_attribute("src")
        # In the fragment: no URL (Gradio's calls, access logs, Referer) carries who the customer is.
        assert src == url + "?embed=1#name=Ada++Lovelace&email=ada%40example.com", src
        chat = page.frame_locator("#loopdesk-widget-frame")
        box = chat.locator("#message textarea")
        expect(box).to_be_visible(timeout=30_000)
        box.fill("Can I talk to a real person please?")
        chat.locator("#send").click()
        expect(chat.locator("#who")).to_contain_text("line", timeout=30_000)
        browser.close()
    assert len(sent) > 5 and not [s for s in sent if "Lovelace" in s or "ada%40" in s], sent
    (item,) = store.handoff_queue()
    assert item["meta"]["customer_name"] == "Ada Lovelace" and item["meta"]["customer_email"] == "ada@example.com"
    table = QueueView(store, Handoff(store), 0).rows().data
    assert table["customer"].tolist() == ["Ada Lovelace · ada@example.com"]
