"""The customer's page queues a message typed while a reply is being written: it is shown as queued
at once, answered after the current one, in the order typed, and never dropped."""

from assistant.turn.pipeline import Assistant
from assistant.web.chat_session import ChatSession
from assistant.web.customer_page import chat_value
from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment


def session_for(cfg, store) -> ChatSession:
    a = Assistant(cfg, FakeGenerator(["Returns are free within 30 days [1]."]), store, FakeRetriever(),
                  FakeSentiment())
    return ChatSession(a, "Hello!")


def test_a_message_typed_during_a_reply_is_shown_queued_then_answered_in_order(cfg, store):
    session = session_for(cfg, store)
    assert session.submit("How do I return a shirt?")
    answering = session.drain()
    next(answering)  # the first reply has started
    assert session.submit("And how long do refunds take?")
    shown = [m["content"] for m in chat_value(session)]
    assert "pending-note" in shown[-1] and "And how long do refunds take?" in shown[-1]
    assert not any("pending-note" in c for c in shown[:-1])
    assert list(session.drain()) == []  # a second drain while one runs does nothing (one writer)
    list(answering)
    roles = [m.role for m in session.messages]
    users = [m.content for m in session.messages if m.role == "user"]
    assert roles == ["assistant", "user", "assistant", "user", "assistant"]
    assert users == ["How do I return a shirt?", "And how long do refunds take?"]
    assert not any("pending-note" in m["content"] for m in chat_value(session))


def test_messages_sent_a_moment_apart_are_answered_in_the_order_typed(cfg, store):
    """Two messages can reach the server in either order; the browser's clock orders them."""
    session = session_for(cfg, store)
    assert session.submit("second question", sent_at=2.0)
    assert session.submit("first question", sent_at=1.0)
    assert not session.submit("   ")  # empty: not queued
    list(session.drain())
    assert [m.content for m in session.messages if m.role == "user"] == ["first question", "second question"]
