"""What the customer's chat shows: markdown and our citation links, never live markup from a
knowledge-base page or an operator's reply."""

from assistant.types import Passage
from assistant.web.chat_view import agent_message, link_citations, shown

EVIL = '<div style="position:fixed;inset:0;background:red">Sale!</div><img src=x onerror=alert(1)><a href="//e.vil">x</a>'


def test_a_reply_quoting_raw_html_shows_it_as_text_and_keeps_its_citation_link():
    p = Passage("returns.md#0", "Returns are free.", "returns.md", "Returns", 0.9, "Returns")
    out = link_citations(f"**Returns** are free {EVIL} [1]", [p])
    assert "<div" not in out and "<img" not in out and "<a href" not in out
    assert "&lt;div style=" in out and "**Returns**" in out  # markdown stays markdown
    assert "[[1]](/kb/returns.md%230)" in out and "<small>Sources:" in out  # our own markup only


def test_an_operator_reply_and_streamed_pieces_are_escaped_too():
    out = agent_message("dana", "Northwind Goods", EVIL)
    assert "<div" not in out and out.startswith("**Dana** · Northwind Goods team")
    assert shown("<script>alert(1)</script> costs < $5 & more") == "&lt;script&gt;alert(1)&lt;/script&gt; costs &lt; $5 &amp; more"


def test_the_page_keeps_at_most_what_it_reads_and_no_lone_surrogate(cfg, store):
    """A 200,000-character paste is not kept whole in the page's session, and a lone surrogate (it broke
    the page's stream when sent back) is shown replaced; both are answered."""
    import json

    from assistant.turn.pipeline import Assistant
    from assistant.web.chat_session import ChatSession
    from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment

    a = Assistant(cfg, FakeGenerator(["Returns are free within 30 days [1]."]), store, FakeRetriever(),
                  FakeSentiment())
    session = ChatSession(a, "Hello!")
    limit = cfg.policy.max_message_chars
    for text in ("How do I return shoes that do not fit? " * 5000, "where is my parcel \ud800?"):
        assert session.submit(text)
        list(session.drain())
    users = [m.content for m in session.messages if m.role == "user"]
    assert len(users[0]) == limit + 1 and users[0].endswith("…")  # what was read, marked as cut
    assert users[1] == "where is my parcel ??"
    json.dumps([m.content for m in session.messages]).encode("utf-8")  # the page can send it back
    assert sum(m.role == "assistant" and "[1]" in m.content for m in session.messages) == 2  # both answered
