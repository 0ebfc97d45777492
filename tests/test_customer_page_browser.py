"""The customer page's words, text and cited pages in headless Chromium (fake generator, real pages):

- a conversation in French turns the page French: status line, buttons, box, counter, a person's name;
- a French browser gets the page in French before the first message, and Gradio's own (translated)
  labels do not bring back the thumbs on the greeting or the hidden "clear" button;
- bold text in a message is drawn with the page's font, not a larger fallback (Chromium's own account
  of the fonts it used, over the DevTools protocol);
- a citation opens the cited help page with its title (first heading, not the file name) and a
  "Back to the chat" link that returns to the chat.

    .venv/bin/pytest -q tests/test_customer_page_browser.py
    SCREENSHOT_DIR=docs .venv/bin/pytest -q tests/test_customer_page_browser.py
      # docs/customer-french-{desktop,phone}.png, docs/cited-page-{desktop,phone}.png
"""

from __future__ import annotations

import os

import pytest

from assistant.types import Passage
from tests.conftest import BROWSER_ARGS, FAKE_KB, FakeGenerator, FakeRetriever, FakeSentiment, serve_in_thread

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
REFUNDS = Passage(
    "refunds.md#0",
    FAKE_KB + "\n\n- Credit and debit cards: 3-5 business days.\n- PayPal: 1 business day.",
    "refunds.md",
    "When will I get my money back?",
    0.9,
    "Refunds",
)


@pytest.fixture
def served(cfg, store):
    import app
    from assistant.turn.pipeline import Assistant

    a = Assistant(
        cfg,
        FakeGenerator(["Returns of shirts are free within 30 days [1]."] * 50),
        store,
        FakeRetriever([REFUNDS]),
        FakeSentiment(),
    )
    for url in serve_in_thread(app.build_app(a, cfg)):
        yield url, a


def platform_fonts(page, selector: str) -> list[dict]:
    """The fonts Chromium drew the text of `selector`'s first match with (family, web font or not)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    assert node, selector
    return cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]


def test_a_french_conversation_turns_the_page_french(served, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    url, assistant = served
    shots = os.environ.get("SCREENSHOT_DIR")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
        pages = [
            browser.new_context(viewport=DESKTOP, locale="en-US").new_page(),
            browser.new_context(viewport=PHONE, locale="en-US", is_mobile=True).new_page(),
        ]
        for page in pages:
            page.goto(url)
            box = page.locator("#message textarea")
            expect(box).to_be_visible(timeout=30_000)
            expect(page.locator("#send")).to_have_text("Send")  # an English browser: English until they write
            box.fill("Bonjour, je voudrais retourner une chemise qui ne me va pas. Comment faire ?")
            box.press("Enter")
            # Only English is answered here: the French customer is handed to a person, and told so in French.
            expect(page.locator("#who")).to_contain_text(
                "En attente de l'équipe Northwind Goods — personne n'est en ligne pour le moment.", timeout=30_000
            )
            expect(page.locator("#send")).to_have_text("Envoyer")
            expect(page.locator("#new-conversation")).to_have_text("Nouvelle conversation")
            expect(box).to_have_attribute("placeholder", "Écrivez votre question et appuyez sur Entrée")
            expect(page.locator("#counter")).to_have_text("0 / 4\u202f000")
            assert page.evaluate("document.documentElement.lang") == "fr"
            box.fill("x" * 4001)
            expect(page.locator("#counter")).to_contain_text("seuls les 4\u202f000 premiers seront lus")
            box.fill("")
        # A person takes both conversations and answers: named in French, their reply under "équipe".
        for row in assistant.store.handoff_queue():
            assistant.handoff.take(row["conversation_id"], "dana")
            assistant.handoff.reply(
                row["conversation_id"], "dana", "Bonjour ! Quelle est la référence de la commande ?"
            )
        for page, name in zip(pages, ("desktop", "phone")):
            expect(page.locator("#who")).to_contain_text(
                "Dana, de l'équipe Northwind Goods, vous répond.", timeout=30_000
            )
            expect(page.locator("#chat")).to_contain_text("Dana · équipe Northwind Goods", timeout=30_000)
            text = page.locator("body").inner_text()
            for english in ("Send", "New conversation", "Waiting for", "is answering", "Type your question"):
                assert english not in text, english
            # Bold (the person's name) is drawn with the page's own font, like the words around it.
            for selector in ("#chat .bot-row strong", "#who strong"):
                fonts = platform_fonts(page, selector)
                assert fonts and all(f["isCustomFont"] for f in fonts), (selector, fonts)
                assert {f["familyName"] for f in fonts} == {
                    f["familyName"] for f in platform_fonts(page, "#chat .bot-row p")
                }, fonts
            if shots:
                page.screenshot(path=f"{shots}/customer-french-{name}.png")
        browser.close()


def test_a_french_browser_gets_a_french_page_before_the_first_message(served, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    url, _ = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
        page = browser.new_context(viewport=DESKTOP, locale="fr-FR").new_page()  # Accept-Language: fr-FR
        page.goto(url)
        expect(page.locator("#send")).to_have_text("Envoyer", timeout=30_000)
        expect(page.locator("#chat")).to_contain_text("Bonjour ! Je suis l'assistant de Northwind Goods.")
        expect(page.locator("#who")).to_contain_text("Vous discutez avec l'assistant de Northwind Goods.")
        expect(page.locator("#brand")).to_have_text("Assistance Northwind Goods")
        # Gradio labels its buttons in the browser's language ("J'aime"): the thumbs stay off the greeting,
        # and the chat's own "clear" button stays hidden, whatever the labels.
        greeting_buttons = page.locator("#chat .message-buttons-left").first.locator("button")
        expect(greeting_buttons.first).to_be_visible()
        assert [b.is_visible() for b in greeting_buttons.all()] == [True, False, False]
        assert not page.locator("#chat .top-panel button").first.is_visible()
        browser.close()


def test_a_citation_opens_the_help_page_with_its_title_and_a_way_back(served, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    url, _ = served
    shots = os.environ.get("SCREENSHOT_DIR")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
        for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page = browser.new_context(viewport=viewport).new_page()
            page.goto(url)
            box = page.locator("#message textarea")
            expect(box).to_be_visible(timeout=30_000)
            box.fill("When will I get my money back?")
            box.press("Enter")
            link = page.locator("#chat a[href*='/kb/']").first
            expect(link).to_be_visible(timeout=30_000)
            with page.expect_popup() as opened:  # citations open in a new tab
                link.click()
            help_page = opened.value
            expect(help_page.locator("h1")).to_have_text("Refunds")
            expect(help_page.locator("h2")).to_have_text("When will I get my money back?")
            assert "refunds.md" not in help_page.locator("body").inner_text()
            expect(help_page.locator("li")).to_have_count(2)  # the section's markdown, rendered
            assert help_page.title() == "Refunds › When will I get my money back? · Northwind Goods"
            back = help_page.locator("#back-to-chat")
            expect(back).to_have_text("← Back to the chat")
            box_ = back.bounding_box()
            assert box_ and 0 <= box_["y"] and box_["y"] + box_["height"] <= viewport["height"]
            if shots:
                help_page.screenshot(path=f"{shots}/cited-page-{name}.png")
            with help_page.expect_event("close", timeout=10_000):  # the citation's tab closes: back at the chat
                back.click()
            expect(page.locator("#chat")).to_contain_text("When will I get my money back?")
            # Reached another way (typed, bookmarked), the link leads to the chat.
            page.goto(url + "kb/refunds.md%230")
            page.locator("#back-to-chat").click()
            expect(page.locator("#message textarea")).to_be_visible(timeout=30_000)
            assert page.url == url
        browser.close()
