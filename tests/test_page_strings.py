"""The customer page's words in six languages (`assistant/web/page_strings.py`): a complete table, the
browser's language before the first message, the conversation's language after it (short messages do
not flip it), the session's own notes and labels in that language, the cited help page (its title,
"Back to the chat", in the conversation's language) and the widget script.

    .venv/bin/pytest -q tests/test_page_strings.py
"""

from __future__ import annotations

import dataclasses
import html
import string

import pytest
from fastapi.testclient import TestClient

from assistant.errors import StoreError
from assistant.turn.messages import LANGUAGES
from assistant.turn.pipeline import Assistant
from assistant.types import Passage
from assistant.web.chat_session import ChatSession
from assistant.web.chat_view import agent_message, link_citations, section_html
from assistant.web.page_strings import STRINGS, follow_language, language_from_header, number, page_text
from tests.conftest import FAKE_KB, FakeGenerator, FakeRetriever, FakeSentiment

REFUNDS = Passage("refunds.md#0", FAKE_KB, "refunds.md", "When will I get my money back?", 0.9, "Refunds")


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_page_string_has_all_six_languages_with_the_same_placeholders():
    for key, table in STRINGS.items():
        assert set(table) == set(LANGUAGES), key
        assert all(text.strip() for text in table.values()), key
        english = fields(table["en"])
        for lang, text in table.items():
            assert fields(text) == english, (key, lang, text)
    assert page_text("send", "fr") == "Envoyer" and page_text("send", "nl") == "Send"  # no Dutch: English
    assert number(4000, "en") == "4,000" and number(4000, "de") == "4.000" and number(999, "fr") == "999"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "fr"),
        ("en-US,en;q=0.9,de;q=0.8", "en"),
        ("nl-NL,nl;q=0.9,de;q=0.7", "de"),  # the first language the page has
        ("es;q=0.5, pt-BR", "pt"),  # weights, not order
        ("it, es", "it"),  # equal weights: the first listed
        ("zh-CN,zh;q=0.9", "en"),
        ("", "en"),
        (None, "en"),
        ("fr;q=abc, de;q=0, ;;;, \x00, es", "es"),  # malformed parts and q=0 are skipped
        ("x" * 5000, "en"),
    ],
)
def test_the_browser_language_is_read_from_accept_language(header, expected):
    assert language_from_header(header) == expected


def test_the_page_follows_the_language_the_customer_writes_in():
    assert follow_language("en", "fr", "Bonjour, comment retourner une chemise ?") == "fr"
    assert follow_language("fr", "en", "How do I return a shirt that does not fit?") == "en"
    assert follow_language("fr", "en", "merci") == "fr"  # too short to tell: the page stays French
    assert follow_language("fr", "en", "ok 123456 https://shop.example.com/orders/1") == "fr"
    assert follow_language("de", "nl", "Hoe kan ik een overhemd terugsturen dat niet past?") == "de"  # no strings
    assert follow_language("es", "unknown", "") == "es"


def french_assistant(cfg, store, **kw):
    cfg.policy = dataclasses.replace(cfg.policy, supported_languages=["en", "fr"])
    return Assistant(
        cfg,
        FakeGenerator(["Returns of shirts are free within 30 days [1]."] * 10),
        store,
        FakeRetriever(**kw),
        FakeSentiment(),
    )


def test_a_french_conversation_gets_french_labels_notes_and_links(cfg, store):
    from assistant.web.customer_page import chat_value, who_text

    def greeting(lang):
        return page_text("greeting", lang, business="Northwind Goods")

    session = ChatSession(french_assistant(cfg, store), greeting)
    assert session.language == "en" and "I'm the Northwind Goods assistant" in session.messages[0].content
    session.set_language("de")  # the browser's language, before the customer wrote
    assert session.messages[0].content.startswith("Hallo! Ich bin der Assistent von Northwind Goods")
    assert session.submit("Bonjour, comment puis-je retourner une chemise qui ne me va pas ?")
    assert "en attente" not in chat_value(session)[-1]["content"]  # German until read: "wartet"
    list(session.drain())
    assert session.language == "fr"
    answer = session.messages[-1].content
    assert "<small>Sources : [1]" in answer and "(/kb/returns.md%230?lang=fr)" in answer
    assert who_text(session, "Northwind Goods") == (
        "Vous discutez avec l'assistant de Northwind Goods. Demandez une personne à tout moment."
    )
    assert session.submit("merci")
    list(session.drain())
    assert session.language == "fr"  # one short word does not turn the page English

    def down(*args, **kwargs):
        raise StoreError("database is locked")

    session.assistant.respond_stream = down
    assert session.submit("Et pour des chaussures trop petites, comment faire ?")
    list(session.drain())
    assert session.messages[-1].content == page_text("apology", "fr")  # short, French, no internals
    assert "locked" not in session.messages[-1].content
    session.reset()
    assert session.language == "fr" and session.messages[0].content.startswith("Bonjour ! Je suis l'assistant")


def test_a_person_queued_and_answering_are_named_in_the_conversations_language(cfg, store):
    from assistant.web.customer_page import who_text

    a = Assistant(
        cfg, FakeGenerator(["Returns of shirts are free within 30 days [1]."]), store, FakeRetriever(), FakeSentiment()
    )  # English only: a French message is handed to a person
    session = ChatSession(a, "Hello!")
    assert session.submit("Bonjour, je voudrais parler à quelqu'un au sujet de ma commande.")
    list(session.drain())
    assert session.language == "fr"
    assert who_text(session, "Northwind Goods") == (
        "En attente de l'équipe Northwind Goods — personne n'est en ligne pour le moment."
    )
    a.handoff.take(session.conversation_id, "dana")
    a.handoff.reply(session.conversation_id, "dana", "Bonjour, quelle commande ?")
    assert session.poll()
    assert session.messages[-1].content.startswith("**Dana** · équipe Northwind Goods")
    assert who_text(session, "Northwind Goods") == "**Dana**, de l'équipe Northwind Goods, vous répond."
    assert agent_message("dana", "Northwind Goods", "Hi").startswith("**Dana** · Northwind Goods team")
    assert "<small>Sources: [1]" in link_citations("Free [1].", [REFUNDS])  # English stays as it was


def test_the_cited_page_shows_its_title_the_section_and_a_way_back():
    page = section_html([REFUNDS], "Northwind Goods")
    assert "<h1>Refunds</h1>" in page and '<h2 class="section">When will I get my money back?</h2>' in page
    assert "refunds.md" not in page  # the file name is not the customer's business
    assert '<a id="back-to-chat" href="/">← Back to the chat</a>' in page and '<html lang="en">' in page
    assert "<title>Refunds › When will I get my money back? · Northwind Goods</title>" in page
    untitled = Passage("faq/shipping-times.md#2", "Two days.", "faq/shipping-times.md", "Express", 0.9, "")
    assert "<h1>Shipping times</h1>" in section_html([untitled], "Northwind Goods")  # from the file name
    french = section_html([REFUNDS], "Northwind Goods", "fr", "/support/")
    assert '<html lang="fr">' in french and 'href="/support/">← Retour à la conversation</a>' in french


@pytest.fixture
def kb_client(cfg, store):
    from assistant.web.http_api import build_api

    return TestClient(build_api(french_assistant(cfg, store, passages=[REFUNDS]), cfg))


def test_the_kb_route_serves_the_cited_page_in_the_conversations_language(kb_client):
    r = kb_client.get("/kb/refunds.md%230")
    assert r.status_code == 200 and "<h1>Refunds</h1>" in r.text and "← Back to the chat" in r.text
    assert "refunds.md" not in r.text
    french = kb_client.get("/kb/refunds.md%230?lang=fr", headers={"Accept-Language": "de"})
    assert "Retour à la conversation" in french.text and "Pages d'aide Northwind Goods" in html.unescape(french.text)
    german = kb_client.get("/kb/refunds.md%230", headers={"Accept-Language": "de-CH,de;q=0.9"})
    assert "Zurück zum Chat" in german.text  # no ?lang (a link from an English page): the browser's
    assert "Back to the chat" in kb_client.get("/kb/refunds.md%230?lang=xx").text  # unknown: ignored
    gone = kb_client.get("/kb/old.md%230?lang=es")
    assert gone.status_code == 404 and "ya no está disponible" in gone.text and "Volver al chat" in gone.text
    assert kb_client.get("/kb/refunds.md%230?lang=" + "f" * 40).status_code == 422


def test_the_widget_script_opens_the_compact_page_and_listens_only_to_its_own_frame(kb_client):
    r = kb_client.get("/widget.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    js = r.text
    assert 'frame.src = origin + "/?embed=1" + (who.toString() ? "#" + who.toString() : "")' in js
    assert "event.origin !== origin || event.source !== frame.contentWindow" in js
    assert '"fr": "Discuter avec Northwind Goods"' in js and '"en": "Chat with Northwind Goods"' in js
