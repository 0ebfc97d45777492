"""Grounded training data: the inference prompt, cited evidence targets, declines, skipped handovers; the promote gate."""

import json

import pytest

from assistant.errors import AdapterError, InputError
from assistant.turn.pipeline import Assistant
from finetune.grounded_data import build_grounded_dataset, read_requests, sample_requests
from tests.conftest import FakeGenerator, FakeRetriever


def test_dataset_uses_the_inference_prompt_and_grounded_targets(cfg, store, tmp_path):
    reqs = tmp_path / "r.csv"
    reqs.write_text("instruction,intent\nhow long do refunds to my card take,get_refund\n"
                    "do you have a loyalty points program,loyalty\nI want to talk to a human,contact_human_agent\n"
                    ",empty\n")
    rows = read_requests(reqs)
    assert len(rows) == 3  # the empty request is not a request
    assistant = Assistant(cfg, FakeGenerator(), store, None)
    card = build_grounded_dataset(assistant, [("kb", FakeRetriever())], rows, 10, tmp_path / "ds", eval_fraction=0.0,
                                  log=lambda *_: None)
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


def test_promote_is_decided_by_answer_accuracy(tmp_path):
    from finetune import registry as reg

    (tmp_path / "v2").mkdir()
    ev = {"adapter_answer_accuracy": 0.7, "live_answer_accuracy": 0.8, "answer_questions": "q.jsonl",
          "answer_questions_hash": "h", "adapter_loss": 0.5, "live_loss": 0.9}
    with pytest.raises(AdapterError, match="answers worse than the live adapter v1: answer accuracy 0.7 vs 0.8"):
        reg._answer_gate(tmp_path, "v2", "v1", ev)
    ev["adapter_answer_accuracy"] = 0.8
    assert reg._answer_gate(tmp_path, "v2", "v1", ev).startswith("answer accuracy 0.8 >= 0.8")
    with pytest.raises(AdapterError, match="base model"):
        reg._answer_gate(tmp_path, "v2", None, {"adapter_answer_accuracy": 0.5})
    assert "base model" in reg._answer_gate(tmp_path, "v2", None, {"adapter_answer_accuracy": 0.5,
                                                                    "base_answer_accuracy": 0.4})
