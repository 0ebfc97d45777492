"""Human handoff end to end without a browser: queue, silence, take-over, replies, hand-back, close,
e-mail when nobody is online, and each step recorded with who and when."""

import threading

import pytest

from assistant.errors import InputError
from assistant.turn.handoff import Handoff, valid_email
from assistant.turn.pipeline import Assistant
from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment

BOTH_DATABASES = True  # each test with the `store` fixture runs on SQLite and on PostgreSQL


def assistant(cfg, store, replies=("Returns are free within 30 days [1].",) * 10):
    return Assistant(cfg, FakeGenerator(list(replies)), store, FakeRetriever(), FakeSentiment())


def test_request_queue_take_reply_hand_back(cfg, store):
    a = assistant(cfg, store)
    store.add_operator("dana", "x")
    store.touch_operator("dana")  # Dana has the console open
    first = a.respond(None, "How do returns work for shoes?")
    cid = first.conversation_id
    asked = a.respond(cid, "I want to talk to a real person")
    assert asked.decision.reason == "human_requested"
    assert "number 1 in line" in asked.reply and "a few minutes" not in asked.reply  # default wait: about 5 minutes
    assert "about 5 minutes" in asked.reply
    queue = store.handoff_queue()
    assert [(q["conversation_id"], q["state"], q["reason"]) for q in queue] == [(cid, "queued", "human_requested")]
    assert queue[0]["last_message"] == "I want to talk to a real person"

    calls = len(a.generator.calls)
    held = a.respond(cid, "hello? anyone there?")
    assert held.decision.action == "hold" and held.reply == "" and len(a.generator.calls) == calls
    assert store.history(cid)[-1]["text"] == "hello? anyone there?"  # kept, not answered

    h = Handoff(store)
    h.take(cid, "dana")
    with pytest.raises(InputError, match="dana has taken"):
        h.take(cid, "sam")
    with pytest.raises(InputError, match="take the conversation"):
        h.reply(cid, "sam", "Hi!")
    shown = store.history(cid)[-1]["id"]
    h.reply(cid, "dana", "Hi, I'm Dana. Let me check your order.")
    new = store.turns_after(cid, shown)
    assert [(t["role"], t["text"], t["notes"]["operator"]) for t in new] == [
        ("agent", "Hi, I'm Dana. Let me check your order.", "dana")]
    assert a.respond(cid, "thanks Dana").decision.action == "hold"
    assert Handoff(store).status(cid).operator == "dana"

    h.hand_back(cid, "dana")
    back = a.respond(cid, "How long do refunds take?")
    assert back.decision.action == "answer" and "[1]" in back.reply and back.turn_id is not None
    h.close(cid, "dana")
    events = store.handoff_events(cid)
    assert [(e["kind"], e["actor"]) for e in events] == [("requested", "customer"), ("taken", "dana"),
                                                          ("handed_back", "dana"), ("closed", "dana")]
    assert all(e["created_at"] is not None for e in events)


def test_accepted_offer_hands_over_and_refusal_does_not(cfg, store):
    a = assistant(cfg, store)
    one = a.respond(None, "This is terrible, my parcel is late")
    two = a.respond(one.conversation_id, "I am furious, still nothing arrived")
    assert two.decision.reason == "negative_streak" and "human agent" in two.reply
    no = a.respond(two.conversation_id, "no thanks")
    assert no.decision.reason == "offer_declined" and store.handoff(two.conversation_id) is None

    three = a.respond(None, "This is terrible, my parcel is late")
    four = a.respond(three.conversation_id, "I am furious, still nothing arrived")
    assert four.decision.reason == "negative_streak"
    yes = a.respond(four.conversation_id, "yes, a human")
    assert yes.decision.reason == "offer_accepted" and yes.decision.escalated
    assert store.handoff(four.conversation_id)["state"] == "queued"


def test_nobody_online_customer_leaves_an_email(cfg, store):
    a = assistant(cfg, store)
    r = a.respond(None, "connect me to an agent")
    assert "No one from the Northwind Goods team is online" in r.reply
    h = Handoff(store)
    status = h.status(r.conversation_id)
    assert status.state == "queued" and not status.online
    for bad in ["", "dana", "dana@", "@example.com", "a b@example.com", "x@example", "x" * 250 + "@example.com"]:
        with pytest.raises(InputError, match="e-mail"):
            h.leave_email(r.conversation_id, bad)
    h.leave_email(r.conversation_id, " kim.lee+orders@example.co.uk ")
    assert store.handoff_queue()[0]["contact_email"] == "kim.lee+orders@example.co.uk"
    assert store.handoff_events(r.conversation_id)[-1]["kind"] == "email_left"


def test_email_validation():
    assert valid_email("a@b.co") and valid_email("first.last@sub.example.org")
    assert not valid_email("a@b") and not valid_email("a@@b.com") and not valid_email("a@-b.com")


def test_two_operators_racing_for_one_conversation(cfg, store):
    a = assistant(cfg, store)
    cid = a.respond(None, "I want to speak to a human").conversation_id
    wins, errors = [], []

    def take(name):
        try:
            Handoff(store).take(cid, name)
            wins.append(name)
        except InputError as exc:
            errors.append(str(exc))
    threads = [threading.Thread(target=take, args=(n,)) for n in ("dana", "sam", "lee", "kim")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(errors) == 3
    assert store.handoff(cid)["operator"] == wins[0]


def test_foreign_language_is_handed_over_in_that_language(cfg, store):
    r = assistant(cfg, store).respond(None, "Bonjour, je voudrais retourner mes chaussures, elles sont trop petites")
    assert r.decision.reason == "unsupported_language"
    assert "anglais" in r.reply and "Personne de l'équipe Northwind Goods" in r.reply
    assert r.tags.entities == [] and any("entities not tagged" in n for n in r.tags.notes)


def test_hand_back_answers_what_the_customer_wrote_meanwhile(cfg, store):
    """A message sent while a person held the conversation is answered when it is handed back, and
    the customer's page shows that answer when it polls (without sending anything new)."""
    from assistant.web.chat_session import ChatSession

    a = assistant(cfg, store)
    store.add_operator("dana", "x")
    store.touch_operator("dana")
    page = ChatSession(a, "Hello!")
    for text in ("How do returns work for shoes?", "I want to talk to a real person"):
        page.submit(text)
        list(page.drain())
    cid = page.conversation_id
    h = Handoff(store)
    h.take(cid, "dana")
    h.reply(cid, "dana", "Hi, I'm Dana.")
    page.submit("Actually, how long do refunds take?")
    list(page.drain())  # held: no reply
    assert a.answer_held(cid) is None  # nothing is answered while a person has it
    h.hand_back(cid, "dana")
    result = a.answer_held(cid)
    assert result is not None and "3-5 business days" in result.reply and result.turn_id  # the refund question
    last_two = store.history(cid)[-2:]
    assert [t["role"] for t in last_two] == ["user", "assistant"]
    assert last_two[1]["reply_to"] == last_two[0]["id"]
    assert page.poll()
    shown = [m.content for m in page.messages if m.role == "assistant"]
    assert any("Dana" in m for m in shown) and "3-5 business days" in shown[-1]
    assert page.messages[-1].rateable and page.messages[-1].turn_id == result.turn_id
    assert a.answer_held(cid) is None  # answered once: nothing waits now


def test_the_queue_tells_customers_apart_and_closes_abandoned_items(cfg, store):
    """Two customers typing the same request differ by channel, first message and e-mail; a queued
    item whose customer went silent past handoff.abandon_minutes is closed, with a record."""
    from datetime import datetime, timedelta, timezone

    a = assistant(cfg, store)
    first = a.respond(a.start_conversation("chat"), "My parcel never arrived")
    a.respond(first.conversation_id, "Can I talk to a real person please?")
    other = a.start_conversation("api:shop", {"api_key": "shop"})
    a.respond(other, "I was charged twice")
    a.respond(other, "Can I talk to a real person please?")
    Handoff(store).leave_email(other, "kim@example.com")
    queue = {q["conversation_id"]: q for q in store.handoff_queue()}
    assert queue[first.conversation_id]["first_message"] == "My parcel never arrived"
    assert queue[other]["first_message"] == "I was charged twice" and queue[other]["source"] == "api:shop"
    assert queue[other]["contact_email"] == "kim@example.com"
    h = Handoff(store)
    assert h.close_abandoned(60) == []  # both wrote just now
    later = datetime.now(timezone.utc) + timedelta(minutes=61)
    assert sorted(h.close_abandoned(60, now=later)) == sorted([first.conversation_id, other])
    assert store.handoff_queue() == []
    assert [(e["kind"], e["actor"]) for e in store.handoff_events(other)][-1] == ("abandoned", "system")
    assert h.close_abandoned(0, now=later) == []  # 0 keeps them
