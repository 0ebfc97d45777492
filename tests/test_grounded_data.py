"""Grounded training data: the inference prompt, cited evidence targets, declines, skipped handovers; the promote gate."""

import json

import pytest

from assistant.errors import AdapterError, InputError
from assistant.turn.pipeline import Assistant
from finetune.grounded_data import build_grounded_dataset, read_requests, sample_requests
from tests.conftest import FakeGenerator, FakeRetriever, OverlapRelevance


def test_dataset_uses_the_inference_prompt_and_grounded_targets(cfg, store, tmp_path):
    reqs = tmp_path / "r.csv"
    reqs.write_text("instruction,intent\nhow long do refunds to my card take,get_refund\n"
                    "do you have a loyalty points program,loyalty\nI want to talk to a human,contact_human_agent\n"
                    ",empty\n")
    rows = read_requests(reqs)
    assert len(rows) == 3  # the empty request is not a request
    assistant = Assistant(cfg, FakeGenerator(), store, None, relevance=OverlapRelevance())
    card = build_grounded_dataset(assistant, [("kb", FakeRetriever())], rows, 10, tmp_path / "ds", eval_fraction=0.0,
                                  log=lambda *_: None, decline_share=1.0)
    assert card["counts"] == {"kb:answer": 1, "kb:decline": 1, "kb:skipped:human_requested": 1, "declines_dropped": 0}
    assert card["train"] == 2
    examples = [json.loads(x) for x in (tmp_path / "ds" / "train.jsonl").read_text().splitlines()]
    by_intent = {e["intent"]: e for e in examples}
    answer = by_intent["get_refund"]["messages"]
    assert answer[0]["role"] == "system" and "[1] Returns > Returns" in answer[0]["content"]
    assert answer[1] == {"role": "user", "content": "how long do refunds to my card take"}
    assert "3-5 business days" in answer[-1]["content"] and answer[-1]["content"].rstrip().endswith("]")
    decline = by_intent["loyalty"]["messages"][-1]["content"]
    assert decline.startswith("I'm sorry, I couldn't find that") and "human agent" in decline
    assert store.counts()["turns"] == 0  # building data logs nothing
    # By default no decline is taught: the checked reader refuses a reply written as one.
    card = build_grounded_dataset(assistant, [("kb", FakeRetriever())], rows, 10, tmp_path / "ds2", eval_fraction=0.0,
                                  log=lambda *_: None)
    assert card["train"] == 1 and card["counts"]["declines_dropped"] == 1


def test_requests_are_spread_over_intents_reproducibly():
    rows = [(f"a{i}", "a") for i in range(10)] + [("b0", "b"), ("b1", "b")]
    picked = sample_requests(rows, 4, seed=1)
    assert sorted(g for _, g in picked) == ["a", "a", "b", "b"] and picked == sample_requests(rows, 4, seed=1)


def test_unreadable_requests_are_refused(tmp_path):
    (tmp_path / "x.csv").write_text("text\nhi\n")
    with pytest.raises(InputError, match="no column"):
        read_requests(tmp_path / "x.csv")
    (tmp_path / "b.csv").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(InputError):
        read_requests(tmp_path / "b.csv")


def test_promote_is_decided_by_answers_not_loss(tmp_path):
    """A lower held-out loss does not make better answers: the per-question answers decide."""
    from finetune import registry as reg
    from finetune.gate import paired_comparison

    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "adapter_model.safetensors").write_bytes(b"weights of v1")
    worse = {f"q{i}": i < 14 for i in range(24)}
    live = {f"q{i}": i < 19 for i in range(24)}
    ev = {"adapter_loss": 0.5, "live_loss": 0.9, "answer_gate": paired_comparison(worse, live),
          "compared_with": reg.provenance(tmp_path / "v1", "data", "h")}
    with pytest.raises(AdapterError, match="not measurably better: 0 better, 5 worse, 19 the same"):
        reg.check_evaluation(tmp_path, "v2", "v1", ev, "h")
    ev["answer_gate"] = paired_comparison(live, worse)
    assert reg.check_evaluation(tmp_path, "v2", "v1", ev, "h").startswith("better: 5 better, 0 worse")

def test_dev_questions_keep_only_right_targets_and_answer_a_follow_ups_history_first(cfg, store, tmp_path):
    """A dev KB's own questions: a target must hold the question's facts (a quoted unit about
    something else is not taught), an uncovered question teaches the decline, and a follow-up's
    earlier message is answered first, so the history alternates as in a real conversation."""
    from finetune.grounded_data import dev_example

    assistant = Assistant(cfg, FakeGenerator(), store, FakeRetriever(), relevance=OverlapRelevance())
    right = {"id": 1, "question": "how long do refunds to my card take", "kind": "fact", "facts": [["3-5 business days"]]}
    wrong = {**right, "id": 2, "facts": [["10 business days"]]}
    uncovered = {"id": 3, "question": "do you have a loyalty points program", "kind": "unanswerable", "facts": []}
    follow = {"id": 4, "question": "and to Canada?", "kind": "fact", "facts": [["7-14 business days"]],
              "history": ["do you ship abroad"]}
    ex, kind = dev_example(assistant, right)
    assert kind == "answer" and "3-5 business days" in ex["messages"][-1]["content"]
    assert "[1]" in ex["messages"][-1]["content"]  # cited as the model must cite
    assert dev_example(assistant, wrong) == (None, "skipped:wrong by the ground truth")
    ex, kind = dev_example(assistant, uncovered)
    assert kind == "decline" and "human agent" in ex["messages"][-1]["content"]
    ex, kind = dev_example(assistant, follow)
    roles = [m["role"] for m in ex["messages"]]
    assert kind == "answer" and roles == ["system", "user", "assistant", "user", "assistant"]
    assert ex["messages"][1]["content"] == "do you ship abroad" and ex["messages"][3]["content"] == "and to Canada?"
