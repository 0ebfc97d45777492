"""Prompt building (numbered passages, tags, history truncation) and the escalation policy."""

from assistant.policy import decide, wants_human
from assistant.prompts import build_messages
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
    neutral = Tags("en", Sentiment("neutral"))
    negative = Tags("en", Sentiment("negative"))
    assert decide("", Tags(), [], 2, ["en"]).action == "prompt_user"
    assert decide("talk to a human please", neutral, [], 2, ["en"]).reason == "human_requested"
    assert decide("hola, necesito ayuda con mi pedido", Tags("es"), [], 2, ["en"]).reason == "unsupported_language"
    assert decide("this is bad", negative, ["neutral"], 2, ["en"]).reason == ""
    streak = decide("still broken", negative, ["neutral", "negative"], 2, ["en"])
    assert streak.action == "answer" and streak.reason == "negative_streak" and streak.escalated
    assert "human" in streak.message
    assert decide("still broken", negative, ["negative", "neutral"], 2, ["en"]).reason == ""
    assert decide("ok", neutral, ["negative"] * 5, 2, ["en"]).reason == ""
