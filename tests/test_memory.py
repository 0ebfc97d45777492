"""The answer memory: records (add, edit, approve, retire, refusals), matching with the real MiniLM
(a paraphrase gets the entry; another question and a minimal pair do not), the pipeline saying the
approved answer as written and cited, a reply rated down going back to review, the CLI's JSON, and
two replicas on one PostgreSQL serving the same entries."""

from __future__ import annotations

import json

import pytest

from assistant.errors import InputError
from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment, requires_models

BOTH_DATABASES = True  # the record tests run on SQLite and PostgreSQL


def test_records_add_edit_approve_retire_and_refuse_bad_input(store):
    first = store.add_memory("  How long does standard shipping take? ", "Standard shipping takes 4-6 days.",
                             "shipping.md", by="dana")
    review = store.add_memory("Where is my parcel?", "Let me check that for you.", status="review",
                              origin="operator_reply", by="sam", turn_id=None)
    assert store.memory_entry(first)["question"] == "How long does standard shipping take?"  # spaces tidied
    assert [e["id"] for e in store.memory_entries("approved")] == [first]
    before = store.memory_version()
    entry = store.update_memory(review, by="dana", status="approved", answer="Parcels are tracked at /track.")
    assert entry["approved_by"] == "dana" and entry["answer"] == "Parcels are tracked at /track."
    assert store.memory_version() != before  # replicas see the change
    store.update_memory(first, by="dana", status="retired")
    assert [e["id"] for e in store.memory_entries("approved")] == [review]
    with pytest.raises(InputError, match="question is empty"):
        store.add_memory("  ", "an answer")
    with pytest.raises(InputError, match="at most"):
        store.add_memory("q?", "x" * 5000)
    with pytest.raises(InputError, match="no answer-memory entry 999"):
        store.update_memory(999, status="retired")
    with pytest.raises(InputError, match="status must be"):
        store.update_memory(first, status="live")


def test_a_reply_from_the_memory_rated_down_goes_back_to_review(store):
    def served(entry):
        cid = store.new_conversation()
        store.add_turn(cid, "user", "is standard shipping free")
        return store.add_turn(cid, "assistant", "Yes, over $50. [1]",
                              passages=[{"id": f"memory:{entry}", "text": "Yes, over $50.", "heading": "approved answer",
                                         "source": "our support team", "score": 0.9}])

    entry = store.add_memory("Is standard shipping free?", "Yes, over $50.", by="dana")
    reply = served(entry)
    store.rate(reply, 1, actor="customer-a")
    store.rate(reply, -1, actor="customer-b")
    store.rate(reply, -1, actor="customer-c")
    assert store.memory_entry(entry)["status"] == "approved"  # two customers who disliked it are not enough
    store.rate(served(entry), -1, actor="customer-d")
    after = store.memory_entry(entry)
    assert after["status"] == "review" and "rated down on turn" in after["note"] and after["downvotes"] == 3
    assert store.update_memory(entry, by="dana", status="approved")["downvotes"] == 0  # looked at: counted anew
    other = store.add_memory("Do you ship to Canada?", "Yes, in 5-8 days.", by="dana")
    store.add_feedback(served(other), -1, source="operator", actor="sam")
    assert store.memory_entry(other)["status"] == "review"  # an operator's thumbs-down: at once


@requires_models
def test_a_paraphrase_gets_the_entry_other_questions_do_not(store, minilm):
    from assistant.memory.match import AnswerMemory

    store.add_memory("How long does standard shipping take?", "Standard shipping takes 4-6 business days.")
    memory = AnswerMemory(store, lambda: minilm, 0.70, check_every=0)
    hit = memory.lookup("how many days is standard delivery?")
    assert hit is not None and hit.passage().id.startswith("memory:") and hit.score >= 0.70
    assert memory.lookup("Do you ship to Canada?") is None  # another question
    assert memory.lookup("How long does express shipping take?") is None  # a minimal pair: another service


@requires_models
def test_the_pipeline_says_the_approved_answer_as_written_and_cited(store, cfg, minilm):
    from assistant.turn.pipeline import Assistant

    retriever = FakeRetriever()
    retriever.embedder = minilm
    entry = store.add_memory("Can I return a swimsuit?", "Swimsuits can be returned unworn with the tag on, "
                             "within 14 days.", "returns.md", by="dana")
    gen = FakeGenerator(["Returns are free within 30 days [1]."] * 5)
    a = Assistant(cfg, gen, store, retriever, FakeSentiment())
    r = a.respond(None, "can i send back a swimsuit i never wore?")
    assert r.reply.startswith("Swimsuits can be returned unworn with the tag on, within 14 days. [1]")
    assert r.grounding == "answer memory" and r.passages[0].id == f"memory:{entry}"
    assert not gen.calls  # the model did not rewrite the team's answer
    assert store.memory_entry(entry)["uses"] == 1
    other = a.respond(None, "How long do refunds take?")
    assert other.grounding != "answer memory" and "Swimsuits" not in other.reply  # other questions unchanged


def test_the_cli_adds_lists_and_retires(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from assistant.cli.main import app

    for k in [k for k in __import__("os").environ if k.startswith("LOOPDESK_")]:
        monkeypatch.delenv(k)
    args = ["--set", f"store.url=sqlite:///{tmp_path / 'cli.db'}"]
    run = CliRunner().invoke
    out = run(app, [*args, "memory", "add", "--question", "Do you price match?", "--answer", "Yes, within 7 days.",
                    "--source", "pricing.md", "--json"])
    assert out.exit_code == 0, out.output
    entry = json.loads(out.output)["id"]
    listed = json.loads(run(app, [*args, "memory", "list", "--json"]).output)["entries"]
    assert listed[0]["id"] == entry and listed[0]["status"] == "approved" and listed[0]["source"] == "pricing.md"
    retired = json.loads(run(app, [*args, "memory", "retire", str(entry), "--json"]).output)
    assert retired["status"] == "retired"
    bad = run(app, [*args, "memory", "retire", "4242", "--json"])
    assert bad.exit_code == 2 and "no answer-memory entry 4242" in bad.output


@requires_models
def test_two_replicas_on_one_postgres_serve_the_same_entries(postgres_server, minilm):
    from assistant.memory.match import AnswerMemory
    from assistant.store.store import Store

    url = postgres_server.new_database()
    one, two = Store(url), Store(url)
    memory_one = AnswerMemory(one, lambda: minilm, 0.70, check_every=0)
    memory_two = AnswerMemory(two, lambda: minilm, 0.70, check_every=0)
    assert memory_two.lookup("Is gift wrapping free?") is None
    entry = one.add_memory("Is gift wrapping free?", "Gift wrapping costs $4 per item.")
    hit = memory_two.lookup("is gift wrap free of charge?")
    assert hit is not None and hit.entry["id"] == entry  # added on one replica, served by the other
    two.update_memory(entry, by="sam", status="retired")
    assert memory_one.lookup("is gift wrap free of charge?") is None  # retired on the other: gone here too


def test_erasure_removes_the_memory_entries_made_from_a_conversation(store):
    cid = store.new_conversation()
    store.add_turn(cid, "user", "I'm Kim, kim@example.com: can I return opened headphones?")
    reply = store.add_turn(cid, "assistant", "Yes.")
    kept = store.add_memory("Can I return opened headphones?", "Opened headphones can be returned within 14 days.")
    made = store.add_memory("I'm Kim, kim@example.com: can I return opened headphones?", "Within 14 days.",
                            origin="correction", turn_id=reply)
    assert store.erase_conversations([cid])["answer_memory"] == 1
    assert [e["id"] for e in store.memory_entries()] == [kept] and made != kept


@requires_models
def test_a_follow_up_is_stored_and_matched_with_the_message_it_leans_on(store, cfg, minilm):
    from assistant.turn.pipeline import Assistant
    from assistant.web.console import operator as op

    import dataclasses

    retriever = FakeRetriever()
    retriever.embedder = minilm
    cfg.memory = dataclasses.replace(cfg.memory, check_seconds=0)  # see a new entry at once (replicas: 2 s)
    a = Assistant(cfg, FakeGenerator(["Shipping takes a while [1]."] * 10), store, retriever, FakeSentiment())
    first = a.respond(None, "Do you ship to Canada?")
    follow = a.respond(first.conversation_id, "how long does it take?")
    op.rate(store, follow.turn_id, False, "Parcels to Canada arrive in 5-8 business days.", operator="dana")
    entry = store.memory_entries("approved")[0]
    assert entry["question"] == "Do you ship to Canada? how long does it take?"
    other = a.respond(a.respond(None, "How do refunds work?").conversation_id, "how long does it take?")
    assert "Canada" not in other.reply  # the same words about refunds: not the shipping answer
    again = a.respond(a.respond(None, "do you ship to canada?").conversation_id, "how long would it take?")
    assert again.reply.startswith("Parcels to Canada arrive in 5-8 business days.")
