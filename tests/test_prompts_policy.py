"""Prompt building (numbered passages, tags, history truncation) and the escalation policy."""

import pytest

from assistant.turn.handoff import accepts_offer
from assistant.turn.policy import Rules, canned, decide, wants_human
from assistant.turn.prompts import build_messages
from assistant.types import Entity, Passage, Sentiment, Tags


def count(messages):
    return sum(len(m["content"].split()) + 4 for m in messages)


def passages(n=2):
    return [Passage(f"p{i}", f"passage text number {i} " * 5, f"doc{i}.md", f"Heading {i}", 0.9 - i / 10, f"Doc {i}")
            for i in range(1, n + 1)]


def test_passages_are_numbered_and_question_last():
    msgs = build_messages([], "How do returns work?", passages(2), Tags(), count, 10_000)
    assert msgs[0]["role"] == "system"
    assert "[1] Doc 1 > Heading 1" in msgs[0]["content"]
    assert "[2] Doc 2 > Heading 2" in msgs[0]["content"]
    assert msgs[-1] == {"role": "user", "content": "How do returns work?"}


def test_no_passages_is_said():
    msgs = build_messages([], "q", [], Tags(), count, 10_000)
    assert "No knowledge-base passages" in msgs[0]["content"]


def test_tags_reach_the_prompt_compactly():
    tags = Tags("en", Sentiment("negative", {"negative": 0.9}), [Entity("ORDER_ID", "NW-12345", 0, 8)])
    system = build_messages([], "q", [], tags, count, 10_000)[0]["content"]
    assert "upset" in system and "order_id NW-12345" in system


def test_history_truncated_oldest_first_in_pairs():
    history = []
    for i in range(20):
        history += [{"role": "user", "content": f"question {i} " * 10}, {"role": "assistant", "content": f"answer {i} " * 10}]
    full = build_messages(history, "latest?", passages(1), Tags(), count, 10_000)
    assert len(full) == 42
    budget = count(full) // 3
    msgs = build_messages(history, "latest?", passages(1), Tags(), count, budget)
    assert count(msgs) <= budget
    assert msgs[-1]["content"] == "latest?"
    kept = msgs[1:-1]
    assert kept and kept[0]["role"] == "user"  # roles still alternate
    assert kept[-1]["content"].startswith("answer 19")  # the newest history survives
    assert not any(m["content"].startswith("question 0 ") for m in kept)


def test_question_survives_a_tiny_budget():
    msgs = build_messages([{"role": "user", "content": "x " * 500}, {"role": "assistant", "content": "y"}],
                          "my question", passages(3), Tags(), count, 5)
    assert msgs[-1]["content"] == "my question"
    assert len(msgs) == 2


def test_human_requests():
    for text in ["I want to talk to a human", "Can I speak with a real person please", "connect me to an agent",
                 "transfer me to a representative", "let me speak to your manager"]:
        assert wants_human(text), text
    for text in ["How do I return a shirt?", "Is the human hair wig refundable?", "what does the agent field mean"]:
        assert not wants_human(text), text


def test_decisions():
    rules = Rules(negative_turns=2, negative_score=0.9, supported_languages=["en"])
    calm = Tags("en", Sentiment("negative", {"negative": 0.81, "neutral": 0.15, "positive": 0.04}))
    angry = Tags("en", Sentiment("negative", {"negative": 0.96, "neutral": 0.03, "positive": 0.01}))
    assert decide("", Tags(), [], rules).action == "prompt_user"
    assert decide("talk to a human please", calm, [], rules).reason == "human_requested"
    assert decide("hola, necesito ayuda con mi pedido", Tags("es"), [], rules).reason == "unsupported_language"
    assert decide("this is bad", angry, [False], rules).reason == ""
    streak = decide("still broken", angry, [False, True], rules)
    assert streak.action == "answer" and streak.reason == "negative_streak" and streak.escalated
    assert "human" in streak.message
    assert decide("still broken", angry, [True, False], rules).reason == ""
    # A plain problem report the tagger reads as 0.81 negative is not anger: no offer after two.
    assert decide("How do I return it?", calm, [True, False, True], rules).reason == ""
    assert decide("ok", Tags("en", Sentiment("neutral")), [True] * 5, rules).reason == ""
    # After an offer: yes hands over, "no thanks" is acknowledged without the model, a question is answered.
    assert decide("yes please", calm, [], rules, offered=True).reason == "offer_accepted"
    no = decide("no thanks", calm, [], rules, offered=True)
    assert no.action == "acknowledge" and no.reason == "offer_declined" and not no.escalated
    assert decide("no, but how long do refunds take?", calm, [], rules, offered=True).action == "answer"
    assert decide("yes please", calm, [], rules, offered=False).reason == ""  # nothing was offered


ACCEPT = ["yes", "Yes please", "yes, a human", "yeah", "yep!", "sure", "ok", "okay connect me", "ok connect me",
          "please do", "a human please", "human please", "an agent, thanks", "go ahead", "that would be great",
          "Yes I want to talk to someone", "oui", "sí, por favor", "ja bitte", "sim"]
REFUSE = ["no thanks", "No", "nope", "not now", "no, I'm fine", "don't", "I'm good thanks", "thanks",
          "How long do refunds take?", "what is your return policy for shoes", "non merci", "nein danke"]


@pytest.mark.parametrize("text", ACCEPT)
def test_accepted_offer_wordings(text):
    assert accepts_offer(text), text


@pytest.mark.parametrize("text", REFUSE)
def test_refusals_and_questions_are_not_acceptances(text):
    assert not accepts_offer(text), text


def test_canned_messages_in_the_customers_language():
    for lang, word in [("fr", "anglais"), ("es", "inglés"), ("de", "Englisch"), ("it", "inglese"), ("pt", "inglês")]:
        assert word in canned("unsupported_language", "Acme", lang)
    assert canned("unsupported_language", "Acme", "nl") == canned("unsupported_language", "Acme", "en")
    assert "Acme" in canned("not_covered", "Acme", "fr")  # untranslated messages fall back to English


def test_empathy_only_when_the_customer_is_upset_by_the_policys_measure():
    """The prompt's "seems upset" line and the apology read the upset model's probability against
    policy.upset_score; a turn without it (no model) the negative probability against negative_score."""
    from assistant.turn.prompts import describe_tags
    from assistant.types import Sentiment

    mild = Tags(sentiment=Sentiment("negative", {"negative": 0.6, "neutral": 0.3, "positive": 0.1}))
    angry = Tags(sentiment=Sentiment("negative", {"negative": 0.95, "neutral": 0.04, "positive": 0.01}))
    assert "upset" not in describe_tags(mild, 0.82)
    assert "upset" in describe_tags(angry, 0.82)
    assert "upset" not in describe_tags(mild, 0.5)  # no upset score: the negative probability's 0.82 decides
    calm = Tags(sentiment=Sentiment("negative", {"negative": 0.9, "upset": 0.3}))
    hurt = Tags(sentiment=Sentiment("negative", {"negative": 0.6, "upset": 0.7}))
    assert "upset" not in describe_tags(calm, 0.5) and "upset" in describe_tags(hurt, 0.5)
    assert "upset" not in describe_tags(hurt, 0.8)  # the threshold is the config's
    count = lambda msgs: sum(len(m["content"]) for m in msgs)  # noqa: E731
    assert "upset" not in build_messages([], "q", [], mild, count, 10_000, upset_score=0.82)[0]["content"]
