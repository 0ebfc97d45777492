"""A team working the handoff queue, in headless Chromium: three browser contexts (two customers, one
operator console) on one in-process app with fake models.

Two customers type the same "Can I talk to a real person please?"; the console raises a desktop
notification and a sound for each new item (a spy on `window.Notification`, notifications granted);
the operator tells the two apart in the queue (customer label: a visitor id, or the name the shop's page
gave as `#name=`; first message, channel), takes and
replies to each, and each customer sees only their own reply. A third request is assigned to Sam; the
second customer's conversation is transferred to Sam, who then sees his items first and highlighted
and answers. A stale item is closed as abandoned (its clock moved back); two items are closed at once;
the conversations list still opens a conversation with a click.

    .venv/bin/pytest -q tests/test_team_queue_browser.py
    SCREENSHOT_DIR=docs .venv/bin/pytest -q tests/test_team_queue_browser.py   # also the queue screenshots
"""

import os
import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from tests.conftest import BROWSER_ARGS, FakeGenerator, FakeRetriever, FakeSentiment, serve_in_thread, sign_in

pytestmark = pytest.mark.browser
ASK = "Can I talk to a real person please?"
# Wraps the Notification constructor (permission stays the browser's, granted by the test) and counts the
# oscillators the alert sound starts; records anything the Content-Security-Policy blocks.
SPIES = """
window.__notes = []; window.__beeps = 0; window.__csp = [];
const RealNotification = window.Notification;
window.Notification = class extends RealNotification {
  constructor(title, options) { window.__notes.push({title, body: (options || {}).body}); super(title, options); }
};
const createOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () { window.__beeps += 1; return createOscillator.call(this); };
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture
def served(cfg, store, monkeypatch):
    import app
    from assistant.store.accounts import create_operator
    from assistant.turn.pipeline import Assistant
    from assistant.web.console import queue_tab

    monkeypatch.setattr(queue_tab, "ABANDON_CHECK_S", 0.0)  # every refresh looks for abandoned items
    a = Assistant(cfg, FakeGenerator(["Returns of shirts are free within 30 days [1]."] * 50), store,
                  FakeRetriever(), FakeSentiment())
    create_operator(store, "dana", "dana-password", "admin")
    create_operator(store, "sam", "sam-password", "agent")
    for url in serve_in_thread(app.build_app(a, cfg)):
        yield url, store, a


def customer(browser, url, first: str, query: str = ""):
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.goto(url + query)
    box = page.locator("#message textarea")
    box.wait_for(timeout=30_000)
    for text in (first, ASK):
        box.fill(text)
        box.press("Enter")
        page.wait_for_timeout(300)
    return page


def wait(what, seconds=30):
    deadline = time.time() + seconds
    while not (value := what()) and time.time() < deadline:
        time.sleep(0.3)
    return value


def row(op, label: str):
    return op.locator("#op-queue [role=row]", has_text=label)


def select_items(op, *labels: str) -> None:
    for label in labels:
        op.locator("#op-queue-select label", has_text=label).click()


def choose_operator(op, name: str) -> None:
    op.locator("#op-assignee input").click()
    op.locator(f"[role=option][aria-label^='{name} (']").click()


def open_item(op, label: str) -> None:
    op.locator("#op-queue [role=gridcell]", has_text=label).first.click()
    from playwright.sync_api import expect

    expect(op.locator("#op-conv-header")).to_contain_text("Conversation", timeout=30_000)


def test_team_works_the_queue(served, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    url, store, assistant = served
    shots = os.environ.get("SCREENSHOT_DIR")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
        console = browser.new_context(viewport={"width": 1366, "height": 900})
        console.grant_permissions(["notifications"])
        console.add_init_script(SPIES)
        op = console.new_page()
        sign_in(op, url, "dana", "dana-password")
        expect(op.locator("#op-status input[value=online]")).to_be_checked()
        expect(op.locator("#op-team")).to_contain_text("dana (you) online", timeout=30_000)
        op.locator("#op-queue-alert button").click()  # the click that allows sound and notifications
        expect(op.locator("#op-queue-alert button")).to_have_text("Alerts on")
        assert op.evaluate("window.__beeps") == 1 and op.evaluate("window.__notes") == []  # a sample sound

        # Two customers ask for a person in the same words; each new item rings and notifies.
        kim = customer(browser, url, "My parcel never arrived")
        expect(kim.locator("#chat")).to_contain_text("number 1 in line", timeout=30_000)  # Dana is online
        kim_id = wait(lambda: [q["conversation_id"] for q in store.handoff_queue()])[0]
        assert wait(lambda: op.evaluate("window.__notes"))[0] == {
            "title": "A customer is waiting", "body": f"visitor {kim_id[:6]}: My parcel never arrived"}
        lee = customer(browser, url, "I was charged twice", "#name=Lee%20Chan")  # the shop's link named her
        expect(lee.locator("#chat")).to_contain_text("number 2 in line", timeout=30_000)
        lee_id = next(q["conversation_id"] for q in store.handoff_queue() if q["conversation_id"] != kim_id)
        notes = wait(lambda: op.evaluate("window.__notes")[1:])
        assert notes == [{"title": "A customer is waiting", "body": "Lee Chan: I was charged twice"}]
        assert op.evaluate("window.__beeps") == 3

        # Told apart: their own label, first message and channel in the queue.
        kim_label, lee_label = f"visitor {kim_id[:6]}", "Lee Chan"
        assert kim_label != lee_label
        for label, first in ((kim_label, "My parcel never arrived"), (lee_label, "I was charged twice")):
            expect(row(op, label)).to_contain_text(first, timeout=30_000)
            expect(row(op, label)).to_contain_text(ASK)
            expect(row(op, label)).to_contain_text("chat page")

        # Dana answers each; each customer sees only their own reply.
        for label, text in ((kim_label, "Hi, Dana here: which parcel is it?"),
                            (lee_label, "Hi, Dana here: I see the double charge.")):
            open_item(op, label)
            op.locator("#op-take").click()
            expect(op.locator("#op-message")).to_contain_text("taken", timeout=30_000)
            op.locator("#op-reply textarea").fill(text)
            op.locator("#op-send").click()
            expect(op.locator("#op-message")).to_contain_text("Sent.", timeout=30_000)
        expect(kim.locator("#chat")).to_contain_text("which parcel is it?", timeout=30_000)
        expect(lee.locator("#chat")).to_contain_text("I see the double charge.", timeout=30_000)
        assert "double charge" not in kim.locator("#chat").inner_text()
        assert "which parcel" not in lee.locator("#chat").inner_text()

        # A third request is assigned to Sam; Lee's conversation is transferred from Dana to Sam.
        max_id = assistant.respond(None, ASK).conversation_id
        max_label = f"visitor {max_id[:6]}"
        expect(op.locator("#op-queue-select")).to_contain_text(max_label, timeout=30_000)
        select_items(op, max_label, lee_label)
        choose_operator(op, "sam")
        op.locator("#op-assign").click()
        expect(op.locator("#op-message")).to_contain_text(f"Assigned to sam: {max_label}.", timeout=30_000)
        expect(op.locator("#op-message")).to_contain_text(f"Transferred to sam: {lee_label}.")
        expect(row(op, max_label)).to_contain_text("sam")
        expect(row(op, lee_label)).to_contain_text("sam")
        assert store.handoff(max_id)["assigned_to"] == "sam" and store.handoff(max_id)["state"] == "queued"
        assert (store.handoff(lee_id)["state"], store.handoff(lee_id)["operator"]) == ("human", "sam")
        moved = [(e["kind"], e["actor"], e["detail"]) for e in store.handoff_events(lee_id)][-1]
        assert moved == ("transferred", "dana", {"from": "dana", "to": "sam"})
        assert store.handoff_events(max_id)[-1]["kind"] == "assigned"
        expect(lee.locator("#who")).to_contain_text("Sam from the Northwind Goods team", timeout=30_000)
        expect(op.locator("#op-queue-select input:checked")).to_have_count(0)  # the selection is cleared

        # Sam signs in: his items come first, marked and highlighted; he answers Lee.
        sign_in(op, url, "sam", "sam-password")
        expect(row(op, lee_label)).to_contain_text("★ sam", timeout=30_000)
        rows = op.locator("#op-queue [role=row]")
        expect(rows.nth(1)).to_contain_text("★ sam")  # nth(0) is the header row
        expect(rows.nth(2)).to_contain_text("★ sam")
        expect(rows.nth(3)).to_contain_text(kim_label)
        first_cell = op.locator("#op-queue [role=gridcell]").first
        assert "rgb(254, 243, 199)" in first_cell.evaluate(
            "c => getComputedStyle(c).backgroundColor + getComputedStyle(c.closest('tr') || c).backgroundColor")
        if shots:
            op.wait_for_timeout(1500)  # the sign-in's follow-up loads have finished (nothing dimmed)
            op.screenshot(path=f"{shots}/console-queue-team-desktop.png")
            op.set_viewport_size({"width": 390, "height": 844})
            op.wait_for_timeout(500)
            op.screenshot(path=f"{shots}/console-queue-team-phone.png", full_page=True)
            op.set_viewport_size({"width": 1366, "height": 900})
        open_item(op, lee_label)
        op.locator("#op-reply textarea").fill("Sam here: the refund is on its way.")
        op.locator("#op-send").click()
        expect(lee.locator("#chat")).to_contain_text("Sam here: the refund is on its way.", timeout=30_000)
        assert "Sam here" not in kim.locator("#chat").inner_text()

        # Sam goes away: customers are no longer told someone is online (Dana's console is closed).
        op.locator("#op-status label", has_text="Away").click()
        expect(op.locator("#op-message")).to_contain_text("You are away", timeout=30_000)
        assert store.operator_account("sam")["status"] == "away"

        # The third customer went silent long ago (clock moved back): the next refresh closes the item.
        with store.engine.begin() as c:
            c.execute(sa.text("UPDATE conversations SET last_activity_at = :t WHERE id = :id"),
                      {"t": datetime.now(timezone.utc) - timedelta(hours=3), "id": max_id})
        expect(op.locator("#op-queue")).not_to_contain_text(max_label, timeout=30_000)
        assert [(e["kind"], e["actor"]) for e in store.handoff_events(max_id)][-1] == ("abandoned", "system")

        # Close the other two at once: Sam's closes (one `closed` event, by Sam); Dana's stays with Dana
        # (an agent does not close what a colleague is answering), said in the message line.
        select_items(op, kim_label, lee_label)
        op.locator("#op-close-selected").click()
        expect(op.locator("#op-message")).to_contain_text("Closed 1", timeout=30_000)
        expect(op.locator("#op-message")).to_contain_text("dana is answering it now")
        expect(op.locator("#op-queue")).not_to_contain_text(lee_label, timeout=30_000)
        assert [(e["kind"], e["actor"]) for e in store.handoff_events(lee_id)][-1] == ("closed", "sam")
        assert [h["conversation_id"] for h in store.handoff_queue()] == [kim_id]
        # The conversations list opens a conversation with a click too (its columns differ from the queue's).
        op.get_by_role("tab", name="Conversations").click()
        op.locator("#op-conv-search").click()
        op.locator("#op-conversations [role=gridcell]", has_text=kim_id).first.click()
        expect(op.locator("#op-conv-header")).to_contain_text(kim_id, timeout=30_000)
        assert op.evaluate("window.__csp") == []
        browser.close()
