"""The console's layout in headless Chromium (fake models, one in-process app): at 1366x900 the open
conversation sits beside the Queue, Replies and Conversations lists, its header in the first screen; the
Numbers tab takes the full width; at 390x844 the conversation comes below the list; the page never
scrolls sideways at either width (`assistant/web/console/layout.py`).

    .venv/bin/python -m pytest -q tests/test_console_layout_browser.py
    SCREENSHOT_DIR=docs .venv/bin/python -m pytest -q tests/test_console_layout_browser.py   # also screenshots
"""

import os

import pytest

from tests.conftest import BROWSER_ARGS, FakeGenerator, FakeRetriever, FakeSentiment, serve_in_thread, sign_in

pytestmark = pytest.mark.browser
DESKTOP, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}
ASK = "Can I talk to a real person please? My parcel never arrived and the tracking page says nothing"
TOLERANCE = 4  # px: borders and rounding between two neighbouring blocks


@pytest.fixture
def served(cfg, store):
    import app
    from assistant.store.accounts import create_operator
    from assistant.turn.pipeline import Assistant

    a = Assistant(
        cfg,
        FakeGenerator(["Returns of shirts are free within 30 days [1]."] * 50),
        store,
        FakeRetriever(),
        FakeSentiment(),
    )
    create_operator(store, "dana", "dana-password", "admin")
    for url in serve_in_thread(app.build_app(a, cfg)):
        yield url, a


def page_box(page, selector: str) -> dict:
    """The element's box in page coordinates (bounding_box is relative to the viewport)."""
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not shown"
    scroll = page.evaluate("[window.scrollX, window.scrollY]")
    return {**box, "x": box["x"] + scroll[0], "y": box["y"] + scroll[1]}


def no_sideways_scroll(page) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page is {width} px wide in a {inner} px window"


def open_from(page, table: str, text: str) -> None:
    from playwright.sync_api import expect

    page.locator(f"{table} [role=gridcell]", has_text=text).first.click()
    expect(page.locator("#op-conv-header")).to_contain_text("Conversation", timeout=30_000)
    expect(page.locator("#op-transcript")).to_contain_text("real person", timeout=30_000)


def test_conversation_beside_the_lists_on_a_desktop_below_on_a_phone(served, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    url, assistant = served
    assistant.respond(None, "Where is my parcel?")
    cid = assistant.respond(None, ASK).conversation_id  # no one online: it waits in the queue
    shots = os.environ.get("SCREENSHOT_DIR")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
        op = browser.new_context(viewport=DESKTOP).new_page()
        sign_in(op, url, "dana", "dana-password")
        expect(op.locator("#op-queue")).to_contain_text("real person", timeout=30_000)
        no_sideways_scroll(op)

        # The queue: the conversation opens beside it, its header within the first screen.
        open_from(op, "#op-queue", "real person")
        queue, header = page_box(op, "#op-queue"), page_box(op, "#op-conv-header")
        assert header["x"] > queue["x"] + queue["width"] - TOLERANCE, (queue, header)
        assert header["y"] < DESKTOP["height"], header
        assert header["y"] < queue["y"] + queue["height"], (queue, header)  # beside it, not under it
        no_sideways_scroll(op)
        # Every column is still there: the table scrolls sideways inside itself (the id is the last one).
        expect(op.locator("#op-queue")).to_contain_text(cid)
        if shots:
            op.wait_for_timeout(1000)  # the open's loading shade has gone
            op.screenshot(path=f"{shots}/console-layout-desktop.png")

        # The replies list opens a reply's conversation beside it too (its own column order).
        op.get_by_role("tab", name="Replies", exact=True).click()
        op.locator("#op-reply-search").click()
        expect(op.locator("#op-replies")).to_contain_text("No one from", timeout=30_000)
        open_from(op, "#op-replies", "No one from")
        expect(op.locator("#op-conv-header")).to_contain_text(cid)
        expect(op.locator("#op-selected")).to_contain_text("Selected turn", timeout=30_000)
        replies, header = page_box(op, "#op-replies"), page_box(op, "#op-conv-header")
        assert header["x"] > replies["x"] + replies["width"] - TOLERANCE, (replies, header)
        no_sideways_scroll(op)

        # Numbers is not a list: it takes the full width and the conversation steps aside.
        op.get_by_role("tab", name="Numbers", exact=True).click()
        expect(op.locator("#op-conversation")).to_be_hidden()
        numbers = page_box(op, "#op-numbers")
        assert numbers["width"] > 0.9 * page_box(op, "#op-area")["width"], numbers
        no_sideways_scroll(op)
        op.get_by_role("tab", name="Conversations", exact=True).click()
        expect(op.locator("#op-conv-header")).to_be_visible()  # back beside the list, still open
        op.locator("#op-conv-search").click()
        expect(op.locator("#op-conversations")).to_contain_text(cid, timeout=30_000)
        conversations, header = page_box(op, "#op-conversations"), page_box(op, "#op-conv-header")
        assert header["x"] > conversations["x"] + conversations["width"] - TOLERANCE, (conversations, header)
        no_sideways_scroll(op)

        # A phone: everything stacks, the conversation under the list; nothing wider than the screen.
        phone = browser.new_context(viewport=PHONE, is_mobile=True).new_page()
        sign_in(phone, url, "dana", "dana-password")
        expect(phone.locator("#op-queue")).to_contain_text("real person", timeout=30_000)
        no_sideways_scroll(phone)
        open_from(phone, "#op-queue", "real person")
        queue, header = page_box(phone, "#op-queue"), page_box(phone, "#op-conv-header")
        assert header["y"] >= queue["y"] + queue["height"] - TOLERANCE, (queue, header)
        no_sideways_scroll(phone)
        if shots:
            phone.wait_for_timeout(1000)
            phone.locator("#op-queue").evaluate("e => e.scrollIntoView({block: 'start'})")  # list, then conversation
            phone.screenshot(path=f"{shots}/console-layout-phone.png")
        browser.close()
