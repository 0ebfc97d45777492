"""The console's team tools in headless Chromium, a customer and an operator in two browser contexts on one
in-process app (fake generator, real pages): an admin saves a reply with variables, takes a customer's
conversation, fills the reply from it and sends it; adds an internal note the customer never sees; tags
the conversation and finds it by the tag; closes it; the customer answers "How did we do?" with one
click; the Numbers tab counts the conversation for the operator, with its first-response time.

    .venv/bin/python -m pytest -q tests/test_team_panel_browser.py
    SCREENSHOT_DIR=docs .venv/bin/python -m pytest -q tests/test_team_panel_browser.py   # also the screenshots
"""

import os
import time

import pytest

from tests.conftest import BROWSER_ARGS, FakeGenerator, FakeRetriever, FakeSentiment, serve_in_thread, sign_in

pytestmark = pytest.mark.browser
DESKTOP, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}
SECRET = "Refund fraud flagged on this card last month, check with finance before any refund"


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
    create_operator(store, "dana", "dana-password", role="admin")
    for url in serve_in_thread(app.build_app(a, cfg)):
        yield url, store


def wait_for(check, seconds=30.0):
    deadline = time.time() + seconds
    while not check():
        assert time.time() < deadline, "timed out"
        time.sleep(0.3)


def test_saved_reply_note_tag_close_and_satisfaction(served, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    url, store = served
    shots = os.environ.get("SCREENSHOT_DIR")
    # The owner renamed the shop in Settings: {business_name} is the name customers see now, not the config's.
    store.put_setting("business_name", "Northwind Outlet", by="dana")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
        op = browser.new_context(viewport=DESKTOP).new_page()
        sign_in(op, url, "dana", "dana-password")

        # An admin keeps the saved replies; a variable the console does not know is refused with the reason.
        op.get_by_role("tab", name="Saved replies").click()
        op.locator("#op-saved-name input").fill("Greeting")
        op.locator("#op-saved-text textarea").fill("Hi {customer_name}, I'm {order_number}.")
        op.locator("#op-saved-save").click()
        expect(op.locator("#op-saved-message")).to_contain_text("unknown variable {order_number}", timeout=30_000)
        op.locator("#op-saved-text textarea").fill(
            "Hi {customer_name}, I'm {operator_name} from the {business_name} team. Let me check that for you."
        )
        op.locator("#op-saved-save").click()
        expect(op.locator("#op-saved-message")).to_contain_text("Saved reply “Greeting” added", timeout=30_000)
        expect(op.locator("#op-saved-replies")).to_contain_text("Let me check that for you")

        me = browser.new_context(viewport=DESKTOP).new_page()
        me.goto(url)
        box, chat = me.locator("#message textarea"), me.locator("#chat")
        expect(box).to_be_visible(timeout=30_000)
        box.fill("How do I return a shirt?")
        box.press("Enter")
        expect(chat).to_contain_text("Sources:", timeout=30_000)
        box.fill("I want to talk to a real person")
        box.press("Enter")
        expect(me.locator("#who")).to_contain_text("Waiting for a person", timeout=30_000)
        cid = store.handoff_queue()[0]["conversation_id"]

        op.get_by_role("tab", name="Queue").click()
        op.locator("#op-queue [role=gridcell]", has_text="real person").first.click()
        expect(op.locator("#op-transcript")).to_contain_text("How do I return a shirt?", timeout=30_000)
        op.locator("#op-take").click()
        expect(op.locator("#op-message")).to_contain_text("taken", timeout=30_000)

        # An internal note first: if the customer's page could ever show it, it would by the time the reply
        # written after it arrives.
        op.locator("#op-note textarea").fill(SECRET)
        op.locator("#op-add-note").click()
        expect(op.locator("#op-message")).to_contain_text("Internal note added", timeout=30_000)
        expect(op.locator("#op-transcript")).to_contain_text("Internal note by Dana")
        expect(op.locator("#op-transcript")).to_contain_text(SECRET)

        # The saved reply fills the box with the variables filled in; the operator sends it.
        op.locator("#op-saved-reply input").click()
        op.get_by_role("option", name="Greeting").click()
        filled = "Hi there, I'm Dana from the Northwind Outlet team. Let me check that for you."
        expect(op.locator("#op-reply textarea")).to_have_value(filled, timeout=30_000)
        expect(op.locator("#op-message")).to_contain_text("No name is known for this customer")
        op.locator("#op-send").click()
        expect(chat).to_contain_text("I'm Dana from the Northwind Outlet team", timeout=30_000)
        expect(op.locator("#op-times")).to_contain_text("first reply after", timeout=30_000)

        op.locator("#op-tag input, #op-tag textarea").first.fill("Refund request")
        op.locator("#op-add-tag").click()
        expect(op.locator("#op-tags")).to_contain_text("refund-request", timeout=30_000)
        if shots:
            op.locator("#op-note-row").scroll_into_view_if_needed()
            op.screenshot(path=f"{shots}/console-team-panel-desktop.png", full_page=True)
            op.set_viewport_size(PHONE)  # from the note in the transcript down to the panel under the reply box
            op.get_by_text("Internal note by Dana").evaluate("e => e.scrollIntoView({block: 'start'})")
            op.screenshot(path=f"{shots}/console-team-panel-phone.png")
            op.set_viewport_size(DESKTOP)

        op.locator("#op-close").click()
        expect(op.locator("#op-message")).to_contain_text("Closed", timeout=30_000)
        expect(op.locator("#op-times")).to_contain_text("closed after", timeout=30_000)

        # The customer is asked once, with one click, and never saw the note.
        question = me.locator("#csat")
        expect(question).to_be_visible(timeout=30_000)
        expect(question).to_contain_text("How did we do?")
        assert SECRET not in me.content() and "Refund fraud" not in chat.inner_text()
        if shots:
            me.screenshot(path=f"{shots}/customer-satisfaction-desktop.png")
            me.set_viewport_size(PHONE)
            question.scroll_into_view_if_needed()
            me.screenshot(path=f"{shots}/customer-satisfaction-phone.png")
            me.set_viewport_size(DESKTOP)
        me.locator("#csat-good").click()
        expect(me.locator("#csat-thanks")).to_contain_text("Thanks for telling us", timeout=30_000)
        expect(question).to_be_hidden()
        wait_for(lambda: store.satisfaction(cid) is not None)
        assert (store.satisfaction(cid)["rating"], store.satisfaction(cid)["operator"]) == (1, "dana")
        me.wait_for_timeout(2500)  # a poll later the question stays answered
        expect(question).to_be_hidden()

        # The tag finds the conversation again.
        op.get_by_role("tab", name="Conversations").click()
        op.locator("#op-conv-tag input").click()
        op.get_by_role("option", name="refund-request").click()
        op.locator("#op-conv-search").click()
        conversations = op.locator("#op-conversations")
        expect(conversations).to_contain_text(cid, timeout=30_000)
        expect(conversations).to_contain_text("refund-request")
        assert conversations.locator("[role=row]").count() == 2  # the header and this one conversation

        # The Numbers tab counts it for Dana, with the first-response time and the customer's answer.
        op.get_by_role("tab", name="Numbers").click()
        agents = op.locator("#op-agent-numbers")
        expect(agents).to_contain_text("dana", timeout=30_000)
        cells = agents.locator("[role=row]", has_text="dana").first.inner_text().split("\n")
        row = [c.strip() for c in cells if c.strip()]
        assert row[:2] == ["dana", "1"] and row[4] == "1 of 1 good (100%)", row
        assert row[2].endswith(("second", "seconds", "minute", "minutes")), row  # the median first response
        handled = op.locator("#op-handoff-times")
        expect(handled).to_contain_text(cid)
        expect(handled.locator("[role=row]", has_text=cid)).to_contain_text("good")
        if shots:
            agents.scroll_into_view_if_needed()
            op.screenshot(path=f"{shots}/console-team-numbers-desktop.png", full_page=True)
        browser.close()
    assert SECRET not in str(store.history(cid, limit=1000))
