"""The turn pipeline with fakes: step order, bad input, failures that keep serving, logging."""

from assistant.errors import IndexUnavailableError
from assistant.turn.pipeline import FRIENDLY_ERROR, Assistant, Timer
from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment


class Recorder(Assistant):
    """Records the order in which the steps run."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.order = []

    def _wrap(name):
        def method(self, *a, **kw):
            self.order.append(name)
            return getattr(Assistant, name)(self, *a, **kw)
        return method

    tag = _wrap("tag")  # steps 1-3 (assistant.turn.tagging): their order is in the turn's timings
    retrieve = _wrap("retrieve")
    decide = _wrap("decide")
    prompt = _wrap("prompt")
    generate = _wrap("generate")
    log_user = _wrap("log_user")
    log_reply = _wrap("log_reply")


def test_steps_run_in_order_and_turns_are_logged(cfg, store):
    cfg.retrieval.fallback_units = 1  # the reply below carries the one best evidence sentence
    gen = FakeGenerator(["Returns of shirts, shoes and other items that do not fit are free within 30 days [1]."])
    a = Recorder(cfg, gen, store, FakeRetriever(), FakeSentiment())
    events = list(a.respond_stream(None, "How do I return a shirt that does not fit?"))
    assert a.order == ["tag", "retrieve", "decide", "prompt", "log_user", "generate", "log_reply"]
    tokens = [v for k, v in events if k == "token"]
    result = events[-1][1]
    assert tokens and "".join(tokens).strip() == result.reply.strip()
    assert result.reply.startswith("Returns of shirts, shoes and other items") and result.grounding == "generated"
    assert result.tags.language == "en" and result.tags.sentiment.label == "neutral"
    assert list(result.timings)[:3] == ["language", "sentiment", "entities"]
    assert [p.source for p in result.passages] == ["returns.md"]
    hist = store.history(result.conversation_id)
    assert [t["role"] for t in hist] == ["user", "assistant"]
    assert hist[1]["id"] == result.turn_id and hist[1]["passages"][0]["source"] == "returns.md"
    assert hist[1]["model_id"] == "fake/generator" and hist[1]["latency_ms"] > 0
    assert "[1] Returns" in gen.calls[0][0]["content"]


def test_empty_message_prompts_without_model_call(cfg, store):
    gen = FakeGenerator()
    result = Assistant(cfg, gen, store, FakeRetriever()).respond(None, "   \n ")
    assert gen.calls == [] and result.turn_id is None
    assert "type a question" in result.reply.lower()
    assert store.counts()["turns"] == 0


def test_huge_message_truncated_with_visible_note(cfg, store):
    gen = FakeGenerator()
    result = Assistant(cfg, gen, store, FakeRetriever()).respond(None, "where is my order? " * 1100)
    assert any("truncated" in n for n in result.to_json()["notes"])
    assert len(gen.calls[0][-1]["content"]) <= cfg.policy.max_message_chars + 2
    assert store.history(result.conversation_id)[0]["notes"]


def test_missing_index_declines_instead_of_guessing(cfg, store):
    gen = FakeGenerator()
    a = Assistant(cfg, gen, store, None, retriever_problem="no index at /x")
    result = a.respond(None, "How do refunds work for cards?")
    assert result.passages == [] and result.decision.action == "decline" and gen.calls == []
    assert "human agent" in result.reply and "Northwind Goods" in result.reply
    assert any("declined: no index at /x" in n or "no knowledge base" in n and "/x" in n for n in result.to_json()["notes"])


def test_an_index_built_later_is_picked_up_without_a_restart(cfg, store, monkeypatch):
    from assistant.errors import IndexUnavailableError

    built = {"ready": False}

    def open_index(_cfg):
        if not built["ready"]:
            raise IndexUnavailableError("no index at /x (run: loopdesk index build)")
        return FakeRetriever()
    clock = {"t": 1000.0}
    monkeypatch.setattr("assistant.turn.pipeline.time.monotonic", lambda: clock["t"])
    a = Assistant(cfg, FakeGenerator(["Returns are free within 30 days [1]."]), store, None,
                  retriever_problem="no index at /x", open_retriever=open_index)
    assert a.respond(None, "How do returns work?").decision.action == "decline"
    built["ready"] = True
    clock["t"] += 10
    assert a.respond(None, "How do returns work?").decision.action == "decline"  # retried at most every 30 s
    clock["t"] += 30
    later = a.respond(None, "How do returns work?")
    assert later.decision.action == "answer" and later.passages and a.retriever_problem is None


def test_corrupt_index_at_search_time(cfg, store):
    a = Assistant(cfg, FakeGenerator(), store, FakeRetriever(error=IndexUnavailableError("index is corrupt")))
    result = a.respond(None, "How do refunds work for cards?")
    assert result.passages == [] and any("corrupt" in n for n in result.to_json()["notes"])


def test_generator_failure_keeps_serving_and_logs(cfg, store):
    a = Assistant(cfg, FakeGenerator(fail=True), store, FakeRetriever())
    result = a.respond(None, "What is your warranty on headphones?")
    # The passages still answer: the customer gets them, cited; the cause goes to the notes.
    assert "2-year warranty" in result.reply and "[1]" in result.reply and "partial" not in result.reply
    assert result.grounding.startswith("fallback: generation failed")
    assert any("generation failed: model crashed" in n for n in result.to_json()["notes"])
    cfg.generation.reader = "model"  # the raw model path has nothing to fall back on
    raw = Assistant(cfg, FakeGenerator(fail=True), store, FakeRetriever()).respond(None, "What is your warranty on headphones?")
    assert FRIENDLY_ERROR in raw.reply
    stored = store.history(raw.conversation_id)[-1]["notes"]
    assert stored["problems"] == ["generation failed: RuntimeError: model crashed"]  # noted with the turn
    assert store.history(result.conversation_id)[-1]["notes"]["problems"][0].startswith("generation failed")
    cfg.generation.reader = "checked"
    hist = store.history(result.conversation_id)
    assert hist[0]["text"] == "What is your warranty on headphones?" and hist[1]["role"] == "assistant"
    ok = Assistant(cfg, FakeGenerator(["Headphones carry a 2-year warranty [1]."]), store,
                   FakeRetriever()).respond(result.conversation_id, "and for shoes?")
    assert "[1]" in ok.reply and len(store.history(result.conversation_id)) == 4


def test_low_scoring_passages_are_dropped(cfg, store):
    from assistant.types import Passage

    weak = [Passage("x#0", "unrelated", "x.md", "", 0.05)]
    result = Assistant(cfg, FakeGenerator(), store, FakeRetriever(weak)).respond(None, "How do returns work?")
    assert result.passages == []


def test_human_request_escalates_without_generation(cfg, store):
    gen = FakeGenerator()
    result = Assistant(cfg, gen, store, FakeRetriever()).respond(None, "I want to talk to a human agent now")
    assert gen.calls == [] and result.decision.reason == "human_requested"
    assert "No one from the Northwind Goods team is online" in result.reply  # no operator signed in
    assert store.counts()["escalations"] == 1
    assert store.handoff(result.conversation_id)["state"] == "queued"


def test_negative_streak_answers_then_offers_a_human(cfg, store):
    a = Assistant(cfg, FakeGenerator(["Sorry about that."]), store, FakeRetriever(), FakeSentiment())
    first = a.respond(None, "This is terrible, my parcel is late")
    assert first.decision.reason == ""
    second = a.respond(first.conversation_id, "I am furious, still nothing arrived")
    assert second.decision.reason == "negative_streak"
    assert "human agent" in second.reply
    assert store.history(second.conversation_id)[-1]["escalation"] == "negative_streak"


def test_history_reaches_the_prompt(cfg, store):
    gen = FakeGenerator(["First answer.", "Second answer."])
    a = Assistant(cfg, gen, store, FakeRetriever())
    first = a.respond(None, "Do you ship to Canada?")
    a.respond(first.conversation_id, "How long does it take?")
    second_prompt = gen.calls[1]
    assert [m["role"] for m in second_prompt] == ["system", "user", "assistant", "user"]
    assert second_prompt[1]["content"] == "Do you ship to Canada?"


def test_feedback_on_a_reply(cfg, store):
    result = Assistant(cfg, FakeGenerator(), store, FakeRetriever()).respond(None, "How do returns work?")
    store.add_feedback(result.turn_id, -1, comment="not helpful")
    assert store.feedback_for(result.turn_id)[0]["comment"] == "not helpful"


def test_chat_json_shape(cfg, store):
    data = Assistant(cfg, FakeGenerator(), store, FakeRetriever()).respond(None, "How do returns work?").to_json()
    for key in ("reply", "language", "sources", "latency_ms", "conversation_id"):
        assert key in data
    assert data["sources"][0]["source"] == "returns.md" and "score" in data["sources"][0]


def test_reply_streams_while_the_generator_is_still_producing(cfg, store):
    """Once the reply carries the evidence, each checked sentence reaches the caller before the
    generator is asked for the next one."""
    cfg.retrieval.fallback_units = 1
    produced = []

    class SlowGenerator(FakeGenerator):
        def stream(self, messages, max_new_tokens=None):
            # Sentences are checked before they are shown, so each one is the unit of streaming.
            for sentence in ["Items that do not fit are free to return within 30 days [1]. ", "Two. ", "Three. "]:
                produced.append(sentence)
                yield sentence

    events = list_when(Assistant(cfg, SlowGenerator(), store, FakeRetriever()), "How do returns work?", produced)
    seen_when = [n for kind, _, n in events if kind == "token"]
    assert seen_when[:3] == [1, 2, 3]
    assert events[-1][1].grounding == "generated"


def list_when(assistant, question, produced):
    """(kind, value, pieces produced by then) for each event of a turn."""
    return [(k, v, len(produced)) for k, v in assistant.respond_stream(None, question)]


def test_a_reply_that_strays_from_the_evidence_is_never_shown_and_stops_at_once(cfg, store):
    """A sentence that brings the reply no closer to the evidence ends it: the customer's first
    text is the evidence itself (not a wrong answer later withdrawn), and no more is decoded."""
    cfg.retrieval.fallback_units = 1
    produced = []

    class StrayGenerator(FakeGenerator):
        def stream(self, messages, max_new_tokens=None):
            stray = "Orders can be tracked under Orders in your account [1]. "
            for sentence in [stray, "Returns are free. ", "More. "]:
                produced.append(sentence)
                yield sentence

    assistant = Assistant(cfg, StrayGenerator(), store, FakeRetriever())
    events = list_when(assistant, "How long do I have to return shoes that do not fit?", produced)
    shown = [(k, v) for k, v, _ in events if k in ("token", "replace")]
    evidence = "Returns of shirts, shoes and other items that do not fit are free within 30 days. [1]"
    assert shown[0] == ("token", evidence)
    assert not any("tracked" in v for _, v in shown) and not any(k == "replace" for k, _ in shown)
    assert len(produced) == 1  # stopped after the stray sentence
    assert events[-1][1].grounding == "fallback: reply strays from the evidence"


def test_invented_number_is_never_shown_and_the_cited_passages_answer(cfg, store):
    gen = FakeGenerator(["International delivery takes 6-8 business days [1]. It is fast."])
    events = list(Assistant(cfg, gen, store, FakeRetriever()).respond_stream(None, "How long is delivery to Canada?"))
    assert not any(k == "token" and "6-8" in v for k, v in events)
    result = events[-1][1]
    assert "7-14 business days" in result.reply and "[1]" in result.reply and "6-8" not in result.reply
    assert result.grounding == "fallback: unsupported 6, 8"
    assert store.history(result.conversation_id)[1]["notes"]["grounding"] == result.grounding


def test_uncovered_question_is_declined_with_an_offer_of_a_human(cfg, store):
    """Nothing above retrieval.min_score: declined, nothing quoted, a person offered and counted."""
    gen = FakeGenerator()
    a = Assistant(cfg, gen, store, FakeRetriever(passages=[]))
    nothing = a.respond(None, "Do you have a loyalty points program?")
    assert nothing.decision.reason == "not_covered" and "[1]" not in nothing.reply and "loyalty" not in nothing.reply
    assert nothing.reply.startswith("I'm sorry, I couldn't find that in the Northwind Goods help pages")
    assert gen.calls == [] and store.counts()["escalations"] == 1


def test_follow_up_is_searched_with_the_previous_question(cfg, store):
    retriever = FakeRetriever()
    a = Assistant(cfg, FakeGenerator(["We ship to Canada and 40 other countries [1]."]), store, retriever)
    first = a.respond(None, "Do you ship to Canada?")
    a.respond(first.conversation_id, "and how long does it take?")
    # The follow-up is searched alone and with the earlier question; the pipeline keeps what answers better.
    assert retriever.queries == [
        "Do you ship to Canada?",
        "and how long does it take?",
        "Do you ship to Canada? and how long does it take?",
    ]


def test_business_name_reaches_prompt_and_canned_messages(cfg, store):
    cfg.app.business_name = "Example Bank"
    gen = FakeGenerator()
    a = Assistant(cfg, gen, store, FakeRetriever())
    a.respond(None, "How do refunds work?")
    assert "assistant for Example Bank" in gen.calls[0][0]["content"] and "Northwind" not in gen.calls[0][0]["content"]
    declining = Assistant(cfg, gen, store, FakeRetriever(passages=[]))
    assert "Example Bank help pages" in declining.respond(None, "Do you have a loyalty points program?").reply
    assert cfg.page_title == "Example Bank support" and "Example Bank assistant" in cfg.greeting


def test_quoted_answers_apologise_only_to_a_clearly_upset_customer(cfg, store):
    a = Assistant(cfg, FakeGenerator(["Nothing useful."]), store, FakeRetriever(), FakeSentiment())
    upset = a.respond(None, "This is terrible, where are my refunds to my card?")  # FakeSentiment: negative 0.9
    calm = a.respond(None, "How long do refunds to my card take?")
    assert upset.reply.startswith("I'm sorry about the trouble.") and "3-5 business days" in upset.reply
    assert not calm.reply.startswith("I'm sorry") and "3-5 business days" in calm.reply


def test_a_busy_model_gives_way_to_the_evidence_at_the_first_text_deadline(cfg, store):
    """The engine yields "" while a reply waits; past generation.first_text_seconds with nothing shown,
    the evidence answers and the model is stopped. Text already shown is never cut by the deadline."""
    import time

    cfg.retrieval.fallback_units = 1
    cfg.generation.first_text_seconds = 0.3
    closed = []

    class BusyGenerator(FakeGenerator):
        def stream(self, messages, max_new_tokens=None):
            try:
                while True:  # a reply still waiting for the engine
                    time.sleep(0.05)
                    yield ""
            finally:
                closed.append(True)

    t0 = time.perf_counter()
    result = Assistant(cfg, BusyGenerator(), store, FakeRetriever()).respond(None, "How long do I have to return shoes?")
    assert time.perf_counter() - t0 < 2.0 and closed == [True]
    assert result.reply.startswith("Returns of shirts, shoes") and "[1]" in result.reply
    assert result.grounding == "fallback: busy, no checked text within 0.3 s"

    class SlowAfterFirst(FakeGenerator):
        def stream(self, messages, max_new_tokens=None):
            yield "Items that do not fit are free to return within 30 days [1]. "
            time.sleep(0.5)  # past the deadline, but the reply is already being shown
            yield "Start a return under Orders. "

    shown = Assistant(cfg, SlowAfterFirst(), store, FakeRetriever()).respond(None, "How long do I have to return shoes?")
    assert shown.grounding == "generated" and shown.reply.endswith("Start a return under Orders.")
    cfg.generation.first_text_seconds = 1e-6  # the turn waited past it before the model was asked
    late = FakeGenerator()
    skipped = Assistant(cfg, late, store, FakeRetriever()).respond(None, "How long do I have to return shoes?")
    assert late.calls == [] and skipped.grounding == "fallback: busy, no model reply started within 1e-06 s"
    class Swamped(FakeGenerator):
        def first_text_eta(self, messages, tokens):
            return 9.5  # what the llama.cpp engine says when many prompts are ahead

    cfg.generation.first_text_seconds = 4.0
    swamped = Swamped()
    quoted = Assistant(cfg, swamped, store, FakeRetriever()).respond(None, "How long do I have to return shoes?")
    assert swamped.calls == [] and quoted.reply.startswith("Returns of shirts, shoes")
    assert quoted.grounding.startswith("fallback: busy, a first sentence would take 9.5 s, ")
    cfg.generation.first_text_seconds = 0.0  # 0: wait for the model however long
    patient = Assistant(cfg, SlowAfterFirst(), store, FakeRetriever()).respond(None, "How long do I have to return shoes?")
    assert patient.grounding == "generated"


def test_the_checked_reader_shows_the_model_only_the_key_evidence(cfg, store):
    """The 135M model copies the first unit it is shown; with `generation.prompt_evidence=key` it is
    shown only the units its reply must carry (every picked unit with `evidence`, or another reader)."""
    import dataclasses

    cfg.retrieval.key_margin = 0.0  # the best informative unit only: others are picked but not key
    assistant = Assistant(cfg, FakeGenerator(), store, FakeRetriever())
    question = "How many days until my refund reaches my card?"
    found = assistant.find(question, [], assistant.tag(question, Timer()))
    assert len(found.evidence) > 1  # several units were picked ...
    key, _ = assistant.checker_for(question, found.passages, found.evidence)
    system = assistant.plan(question, []).messages[0]["content"]
    assert key and all(u.text in system for u in key)  # ... the model reads the key ones only
    others = [u.text for u, _ in found.evidence if not any(u is k for k in key)]
    assert others and not any(o in system for o in others)
    cfg.generation = dataclasses.replace(cfg.generation, prompt_evidence="evidence")
    system = assistant.plan(question, []).messages[0]["content"]
    shown_too = others[: cfg.retrieval.evidence_units - len(key)]
    assert shown_too and all(o in system for o in shown_too)


def test_a_reply_may_cite_only_passages_the_model_was_shown_something_of(cfg, store):
    """With only the key evidence in the prompt, a citation of another picked passage is one the model
    could not have read: it is dropped (with every picked unit shown, it may stay)."""
    import dataclasses

    from assistant.types import Passage

    passages = [Passage("refunds.md#0", "Refunds reach your card in 3-5 business days.", "refunds.md", "Refunds", 0.8,
                        "Refunds"),
                Passage("shipping.md#0", "Headphones carry a 2-year warranty.", "shipping.md", "Warranty", 0.7,
                        "Warranty")]
    cfg.retrieval.key_margin = 0.0
    assistant = Assistant(cfg, FakeGenerator(), store, FakeRetriever(passages))
    question = "How many days until my refund reaches my card?"
    found = assistant.find(question, [], assistant.tag(question, Timer()))
    assert {u.passage for u, _ in found.evidence} == {0, 1}
    key, checker = assistant.checker_for(question, found.passages, found.evidence)
    assert [u.passage for u in key] == [0]
    shown = list(checker.sentences(["Refunds reach your card in 3-5 business days [2]."]))
    assert shown and "[2]" not in "".join(shown)
    cfg.generation = dataclasses.replace(cfg.generation, prompt_evidence="evidence")
    _, checker = assistant.checker_for(question, found.passages, found.evidence)
    assert "[2]" in "".join(checker.sentences(["Refunds reach your card in 3-5 business days [2]."]))
