"""Handoff and console in headless Chromium, two browser contexts on one in-process app (fake
generator, real pages): the customer asks for a person, an operator takes the conversation and
replies, the customer sees it without a reload, the assistant stays silent until handed back;
an accepted offer; the console's numbers count turns, not rating events."""

import os
import time

import pytest

from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment, serve_in_thread

pytestmark = pytest.mark.browser
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic"]
# Every page runs under the app's Content-Security-Policy (assistant/web/guards.py): anything it blocks
# is collected here and must stay empty, or the policy broke a part of Gradio.
RECORD_CSP = ("window.__csp = []; document.addEventListener('securitypolicyviolation', "
              "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")


def csp_context(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.add_init_script(RECORD_CSP)
    return context


@pytest.fixture
def served(cfg, store):
    import app
    from assistant.store.accounts import create_operator
    from assistant.turn.pipeline import Assistant

    a = Assistant(cfg, FakeGenerator(["Returns of shirts are free within 30 days [1]."] * 50), store,
                  FakeRetriever(), FakeSentiment())
    create_operator(store, "dana", "dana-password")
    for url in serve_in_thread(app.build_app(a, cfg)):
        yield url, store


def roles(store, cid):
    return [t["role"] for t in store.history(cid, limit=100)]


def test_handoff_between_customer_and_operator(served, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    url, store = served
    shots = os.environ.get("SCREENSHOT_DIR")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=ARGS)
        op = csp_context(browser).new_page()
        op.goto(url + "operator")
        assert "frame-ancestors 'none'" in op.request.get(url + "operator").headers["content-security-policy"]
        op.locator("#op-name textarea").fill("dana")
        op.locator("#op-password input").fill("wrong-password")
        op.locator("#op-signin").click()
        expect(op.locator("#op-message")).to_contain_text("wrong name or password", timeout=30_000)
        op.locator("#op-password input").fill("dana-password")
        op.locator("#op-signin").click()
        expect(op.locator("#op-me")).to_contain_text("dana", timeout=30_000)
        # No secret in the browser's storage or the page, nothing of the console in the API description.
        storage = op.evaluate("() => JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")
        assert "dana-password" not in storage and "dana-password" not in op.content()
        info = op.request.get(url + "gradio_api/info").text()
        assert "signin" not in info and "do_" not in info and "password" not in info.lower()

        me = csp_context(browser).new_page()
        me.goto(url)
        box, chat = me.locator("#message textarea"), me.locator("#chat")
        expect(box).to_be_visible(timeout=30_000)
        box.fill("How do I return a shirt?")
        box.press("Enter")
        expect(chat).to_contain_text("Sources:", timeout=30_000)
        box.fill("I want to talk to a real person")
        box.press("Enter")
        expect(chat).to_contain_text("number 1 in line", timeout=30_000)  # Dana is online
        expect(me.locator("#who")).to_contain_text("Waiting for a person", timeout=30_000)
        cid = store.handoff_queue()[0]["conversation_id"]
        if shots:
            me.screenshot(path=f"{shots}/customer-queued.png", full_page=True)

        expect(op.locator("#op-queue")).to_contain_text("real person", timeout=30_000)  # refreshes by itself
        if shots:
            op.screenshot(path=f"{shots}/console-queue.png", full_page=True)
        op.locator("#op-queue [role=gridcell]", has_text="real person").first.click()
        expect(op.locator("#op-transcript")).to_contain_text("How do I return a shirt?", timeout=30_000)
        expect(op.locator("#op-transcript")).to_contain_text("language en")  # per-turn insights
        op.locator("#op-take").click()
        expect(op.locator("#op-message")).to_contain_text("taken", timeout=30_000)
        op.locator("#op-reply textarea").fill("Hi, I'm Dana. Which order is it?")
        op.locator("#op-send").click()
        expect(chat).to_contain_text("Hi, I'm Dana. Which order is it?", timeout=30_000)  # no reload
        expect(me.locator("#who")).to_contain_text("Dana from the Northwind Goods team is answering")

        replies_before = roles(store, cid).count("assistant")
        box.fill("It's order 1234")
        box.press("Enter")
        expect(op.locator("#op-transcript")).to_contain_text("It's order 1234", timeout=30_000)
        assert roles(store, cid).count("assistant") == replies_before  # the assistant stayed silent
        if shots:
            op.screenshot(path=f"{shots}/console-conversation.png", full_page=True)
            me.screenshot(path=f"{shots}/customer-with-operator.png", full_page=True)

        op.locator("#op-hand-back").click()
        expect(op.locator("#op-message")).to_contain_text("Handed back", timeout=30_000)
        # What the customer wrote while Dana had it is answered now, and shows up without a new message.
        deadline = time.time() + 30
        while roles(store, cid).count("assistant") == replies_before and time.time() < deadline:
            time.sleep(0.3)
        assert roles(store, cid).count("assistant") == replies_before + 1
        deadline = time.time() + 30  # the page polls: the answer appears without the customer sending anything
        while chat.inner_text().count("Sources:") < 2 and time.time() < deadline:
            time.sleep(0.3)
        assert chat.inner_text().count("Sources:") == 2  # the first answer, and this one
        box.fill("How long do refunds take?")
        box.press("Enter")
        expect(me.locator("#who")).to_contain_text("chatting with the Northwind Goods assistant", timeout=30_000)
        deadline = time.time() + 30
        while roles(store, cid).count("assistant") == replies_before + 1 and time.time() < deadline:
            time.sleep(0.3)
        assert roles(store, cid).count("assistant") == replies_before + 2  # answering again
        events = [(e["kind"], e["actor"]) for e in store.handoff_events(cid)]
        assert events == [("requested", "customer"), ("taken", "dana"), ("handed_back", "dana")]

        # Rate the first reply bad three times from the console: one bad turn in the numbers.
        op.locator("#op-turns [role=gridcell][data-col='1']", has_text="assistant").first.click()
        expect(op.locator("#op-selected")).to_contain_text("Selected turn", timeout=30_000)
        for _ in range(3):
            op.locator("#op-bad").click()
            expect(op.locator("#op-message")).to_contain_text("marked bad", timeout=30_000)
        op.get_by_role("tab", name="Numbers").click()
        op.get_by_label("7").check()
        numbers = op.locator("#op-numbers")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        expect(numbers).to_contain_text(today, timeout=30_000)
        replies = sum(1 for t in store.history(cid, limit=100) if t["role"] == "assistant")
        expect(numbers.locator("[role=row]", has_text=today).first).to_contain_text(f"{today}\t{replies}",
                                                                                     timeout=30_000)
        row = numbers.locator("[role=row]", has_text=today).first.inner_text().split()
        assert row[1:5] == [str(replies), "4", "0", "1"], row  # replies, customer turns, thumbs up, thumbs down
        if shots:
            op.screenshot(path=f"{shots}/console-numbers.png", full_page=True)
        assert op.evaluate("window.__csp") == [] and me.evaluate("window.__csp") == []
        browser.close()


def test_accepted_offer_in_the_browser(served, cfg, chromium_path):
    import dataclasses

    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import free_port

    # The shop sends e-mail (nothing is sent in this test): only then is the customer asked for an address.
    cfg.email = dataclasses.replace(cfg.email, smtp_host="127.0.0.1", smtp_port=free_port(), starttls=False)
    url, store = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=ARGS)
        page = browser.new_page()
        page.goto(url)
        box, chat = page.locator("#message textarea"), page.locator("#chat")
        expect(box).to_be_visible(timeout=30_000)
        for text in ("This is terrible, my parcel is late", "I am furious, still nothing arrived"):
            box.fill(text)
            box.press("Enter")
            page.wait_for_timeout(300)
        expect(chat).to_contain_text("Would you like me to connect you", timeout=30_000)
        box.fill("yes please")
        box.press("Enter")
        expect(chat).to_contain_text("No one from the Northwind Goods team is online", timeout=30_000)
        expect(page.locator("#email-row")).to_be_visible()
        page.locator("#email textarea").fill("not-an-address")
        page.locator("#email-send").click()
        expect(page.locator("#status")).to_contain_text("does not look like an e-mail", timeout=30_000)
        page.locator("#email textarea").fill("kim@example.com")
        page.locator("#email-send").click()
        expect(page.locator("#status")).to_contain_text("we'll reply to kim@example.com", timeout=30_000)
        browser.close()
    queued = store.handoff_queue()
    assert [(q["reason"], q["contact_email"]) for q in queued] == [("offer_accepted", "kim@example.com")]
