"""`loopdesk eval answers` scoring on a fixture whose scores were computed by hand, and question-file errors."""

import json

import pytest

from assistant.errors import InputError
from finetune.answer_eval import is_decline, load_questions, score_reply, summarize
from tests.conftest import ROOT, OverlapRelevance

FIXTURE = ROOT / "tests" / "fixtures" / "answers_questions.jsonl"
PASSAGES = ["Returns are free within 30 days.", "Express: 1–2 business days, $12.99.", "Refunds take 3-5 business days."]

# Hand-scored replies, one per fixture question:
REPLIES = {
    "a1": ("You can return it within 30 days [1].", "answer"),                 # correct, 1/1 facts
    "a2": ("Express costs $12.99 and takes 6-8 days.", "answer"),             # wrong: 1/2 facts; 6 and 8 unsupported
    "a3": ("I'm sorry, I couldn't find that. Would you like a human agent?", "decline"),  # wrong, declined a fact question
    "u1": ("I'm sorry, I couldn't find that in our help pages.", "decline"),  # correct decline
    "u2": ("Our CEO is Jane, call 555 123 4567.", "answer"),                  # wrong; unsupported phone
}


def records():
    out = []
    for q in load_questions(FIXTURE):
        reply, action = REPLIES[q["id"]]
        out.append({"id": q["id"], "reply": reply, "action": action, "sources": ["returns.md", "x.md", "y.md"],
                    "latency_ms": {"a1": 100, "a2": 200, "a3": 300, "u1": 400, "u2": 500}[q["id"]],
                    **score_reply(q, reply, action, PASSAGES)})
    return out


def test_hand_computed_scores():
    s = summarize(load_questions(FIXTURE), records())
    assert s["n"] == 5 and s["n_fact"] == 3 and s["n_unanswerable"] == 2
    assert s["answer_accuracy"] == round(1 / 3, 4)          # a1 only
    assert s["fact_recall"] == round(2 / 4, 4)              # a1 1/1, a2 1/2, a3 0/1
    assert s["decline_rate"] == 0.5                          # u1 yes, u2 no
    assert s["false_decline_rate"] == round(1 / 3, 4)        # a3
    assert s["unsupported_number_rate"] == 0.4               # a2 (6, 8) and u2 (phone)
    assert s["overall_accuracy"] == 0.4                      # a1, u1
    assert s["latency_ms_p50"] == 300 and s["latency_ms_p95"] == 500
    assert s["source_hit_at_1"] == round(1 / 3, 4) and s["reader_ceiling"] == 1.0


def test_decline_detection():
    assert is_decline("anything", "decline") and is_decline("anything", "escalate")
    assert is_decline("I can connect you with a human agent.", "answer")
    assert not is_decline("Returns are free within 30 days [1].", "answer")


def test_bad_question_files_are_refused_with_every_problem(tmp_path):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"id": "x", "question": "q", "kind": "fact", "facts": []}\nnot json\n'
                   '{"id": "y", "question": "q", "kind": "maybe", "facts": [["a"]]}\n'
                   '{"id": "z", "question": "q", "kind": "unanswerable", "facts": [["a"]]}\n')
    with pytest.raises(InputError) as err:
        load_questions(bad)
    msg = str(err.value)
    assert "line 1: a fact question needs" in msg and "line 2: invalid JSON" in msg
    assert "line 3: 'kind'" in msg and "line 4: an unanswerable question has no facts" in msg
    with pytest.raises(InputError, match="cannot read"):
        load_questions(tmp_path / "missing.jsonl")
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError):
        load_questions(tmp_path / "bin.jsonl")


def test_eval_runs_the_real_pipeline_code_path(cfg, tmp_path):
    """Through `run_answer_eval` with fakes: one conversation per question, history first, replies written."""
    from assistant.turn.pipeline import Assistant
    from assistant.store.store import Store
    from finetune.answer_eval import run_answer_eval
    from tests.conftest import FakeGenerator, FakeRetriever

    qfile = tmp_path / "q.jsonl"
    qfile.write_text(json.dumps({"id": "f1", "question": "and how long does delivery take?", "history": ["Do you ship to Canada?"],
                                 "source": "returns.md", "facts": [["7-14 business days"]], "kind": "fact"}) + "\n"
                     + json.dumps({"id": "u1", "question": "Do you have a loyalty points program?", "source": "",
                                   "facts": [], "kind": "unanswerable"}) + "\n")
    store = Store(cfg.store_url)
    retriever = FakeRetriever()
    assistant = Assistant(cfg, FakeGenerator(["We ship to Canada; delivery takes 7-14 business days [1]."]), store, retriever,
                          relevance=OverlapRelevance())
    out = tmp_path / "replies.jsonl"
    result = run_answer_eval(cfg, qfile, None, out, baseline=True, assistant=assistant)
    assert result["answer_accuracy"] == 1.0 and result["decline_rate"] == 1.0 and result["n"] == 2
    assert "Do you ship to Canada? and how long does delivery take?" in retriever.queries  # the follow-up with its context
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["f1", "u1"] and lines[1]["action"] == "decline"
    assert {"id", "reply", "action", "sources"} <= set(lines[0])
    assert result["extractive_baseline"]["decline_rate"] == 0.0  # the trivial reader never declines
