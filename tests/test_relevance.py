"""Learned relevance: the logistic models, their file, the features training and chat share, LOKO fitting,
and the pipeline's declines (no word rule, nothing quoted) and follow-ups (topic kept or changed)."""

from __future__ import annotations

import json
import random

from assistant.grounding.relevance import (
    QUESTION_FEATURES,
    UNIT_FEATURES,
    Logistic,
    Relevance,
    keep,
    known_cover,
    question_features,
    unit_features,
)
from assistant.turn.pipeline import Assistant
from assistant.types import Passage
from finetune.relevance import add_reranker_scores, fit, leave_one_kb_out
from tests.conftest import FakeGenerator, FakeRetriever, requires_models


def _logistic(features, weights, threshold=0.5, bias=0.0):
    n = len(features)
    return Logistic(tuple(features), list(weights), bias, [0.0] * n, [1.0] * n, threshold)


def test_logistic_probability_and_file_round_trip(tmp_path):
    a = _logistic(QUESTION_FEATURES, [0, 0, 4, 0, 0, 0, 0, 0], threshold=0.6, bias=-2)
    u = _logistic(UNIT_FEATURES, [1] + [0] * (len(UNIT_FEATURES) - 1))
    assert abs(a.prob({"unit_top": 0.5}) - 0.5) < 1e-9 and a.prob({"unit_top": 0.9}) > 0.8
    Relevance(a, u, {"note": "x"}).save(tmp_path / "r.json")
    back = Relevance.load(tmp_path / "r.json")
    assert back.problem == "" and back.answerable.threshold == 0.6 and back.meta == {"note": "x"}
    assert back.answer_prob({"unit_top": 0.9}, 0.25)[1] and not back.answer_prob({"unit_top": 0.2}, 0.25)[1]


def test_a_missing_or_broken_model_says_why_and_falls_back_to_the_passage_cosine(tmp_path):
    missing = Relevance.load(tmp_path / "none.json")
    assert "no relevance model" in missing.problem and missing.answer_prob({"passage_top": 0.3}, 0.25) == (0.3, True)
    (tmp_path / "bad.json").write_text('{"answerable": {"features": ["a"], "weights": []}}')
    assert "unreadable" in Relevance.load(tmp_path / "bad.json").problem
    a, u = _logistic(["a"], [1]), _logistic(["b"], [1])
    Relevance(a, u).save(tmp_path / "r.json", reranker="reranker")  # names a reranker folder that is not there
    assert "reranker" in Relevance.load(tmp_path / "r.json").problem


def test_units_kept_are_the_closest_then_its_passage_then_likely_others():
    model = _logistic(["sim"], [10.0], threshold=0.5, bias=-5)  # P > 0.5 when sim > 0.5
    feats = [{"sim": 0.9, "same_passage": 1}, {"sim": 0.4, "same_passage": 0}, {"sim": 0.3, "same_passage": 1},
             {"sim": 0.8, "same_passage": 0}, {"sim": 0.7, "same_passage": 0}]
    # 1: another passage, unlikely (a stray); 2: same passage; 3: likely; 4 would make a fourth.
    assert keep(model, feats, 0.5) == [0, 2, 3]
    assert keep(model, [{"sim": 0.1}, {"sim": 0.2}], 0.5) == [0]  # the closest always


def test_known_cover_ignores_words_the_knowledge_base_never_uses():
    known = frozenset({"return", "blender", "day"})
    # "sister", "leeds", "march" are unknown: they neither count for nor against the question.
    assert known_cover("my sister in Leeds wants to return a blender in March", "Return any blender", known) == 1.0
    assert known_cover("nothing here at all", "Return any blender", known) == 0.0


def test_training_features_match_the_chat_features():
    """`add_reranker_scores` (training) must compute what `question_features`/`unit_features` (chat) do."""
    ce = [2.0, -1.0, 0.5]
    units = [("Express costs $12.99.", 0, 0.7), ("Standard is free.", 0, 0.6), ("Call us.", 1, 0.3)]
    chat_q = question_features("how much is express", [0.8, 0.5], [0.7, 0.6, 0.3], "Express costs", None, ce)
    chat_u = unit_features("how much is express", units, [0.8, 0.5], ["Shipping", "Contact"], None, ce)
    row = {
        "features": question_features("how much is express", [0.8, 0.5], [0.7, 0.6, 0.3], "Express costs", None),
        "unit_features": unit_features("how much is express", units, [0.8, 0.5], ["Shipping", "Contact"], None),
    }
    add_reranker_scores([row], [ce])
    assert row["features"] == chat_q and row["unit_features"] == chat_u


def _rows(kb: str, rng: random.Random, n: int = 40) -> list[dict]:
    rows = []
    for i in range(n):
        answerable = i % 4 != 0
        top = rng.uniform(0.55, 0.9) if answerable else rng.uniform(0.2, 0.6)
        feats = question_features("q", [top], [top, top - 0.1], "x", None, [top * 4 - 2])
        units = unit_features("q", [("a", 0, top), ("b", 0, top - 0.3)], [top], ["h"], None, [2.0, -2.0])
        rows.append({"kb": kb, "set": "dev", "id": f"{kb}{i}", "answerable": answerable, "features": feats,
                     "unit_features": units, "unit_labels": [answerable, False],
                     "unit_facts": [[answerable], [False]], "has_passages": True})
    return rows


def test_leave_one_kb_out_fits_on_the_others_and_separates_what_it_can():
    rng = random.Random(3)
    rows = _rows("a", rng) + _rows("b", rng) + _rows("c", rng)
    loko = leave_one_kb_out(rows)
    assert set(loko) == {"a", "b", "c"}
    for r in loko.values():
        assert r["decline_rate"] >= 0.7 and r["false_decline_rate"] <= 0.1
        assert r["units_all_facts_kept"] == 1.0 and r["units_stray_rate"] == 0.0  # unit b: same passage
    model = fit(rows)
    assert model.answerable.prob(rows[1]["features"]) > model.answerable.prob(rows[0]["features"]) - 1.0


class Judge(Relevance):
    """A relevance model for unit tests: answerable when the best passage's cosine clears `at`."""

    def __init__(self, at: float) -> None:
        super().__init__(problem="")
        self.at = at

    def answer_prob(self, features, min_score):
        return features["passage_top"], features["passage_top"] >= self.at


def test_a_decline_quotes_neither_the_customer_nor_the_passages(cfg, store):
    gen = FakeGenerator()
    a = Assistant(cfg, gen, store, FakeRetriever(), relevance=Judge(at=0.95))
    result = a.respond(None, "Do you have a loyalty points program, you useless people?")
    assert result.decision.action == "decline" and result.decision.reason == "not_covered"
    assert gen.calls == []
    for word in ("loyalty", "useless", "people", "30 days", "[1]"):
        assert word not in result.reply
    assert "human agent" in result.reply


def test_everyday_words_never_decide_a_decline(cfg, store):
    gen = FakeGenerator(["Returns of items that do not fit are free within 30 days [1]."])
    a = Assistant(cfg, gen, store, FakeRetriever(), relevance=Judge(at=0.5))
    result = a.respond(None, "my sister in Leeds wants to return shoes that do not fit, bought in March lol")
    assert result.decision.action == "answer" and "30 days" in result.reply
    assert not any(w in result.reply for w in ("sister", "Leeds", "March", "couldn't"))


class TopicRetriever(FakeRetriever):
    """Two topics; a query naming one topic's word finds it at 0.8, a query mixing both finds each at 0.55
    (a mixed query's vector sits between the topics, as MiniLM's does)."""

    def search(self, query, k):
        self.queries.append(query)
        q = query.lower()
        hits = [w for w in ("paypal", "canada") if w in q]
        score = 0.8 if len(hits) == 1 else 0.55
        texts = {"paypal": ("payments.md", "We accept PayPal and all major cards."),
                 "canada": ("shipping.md", "Delivery to Canada costs $15 and takes 7-14 business days.")}
        return [Passage(f"{w}#0", texts[w][1], texts[w][0], w, score, w) for w in hits][:k]


def test_follow_up_keeps_the_topic_and_a_new_question_changes_it(cfg, store):
    retriever = TopicRetriever()
    a = Assistant(cfg, FakeGenerator(["Delivery to Canada costs $15 [1].", "We accept PayPal [1]."]), store,
                  retriever, relevance=Judge(at=0.5))
    first = a.respond(None, "Do you ship to Canada?")
    follow = a.respond(first.conversation_id, "and how much is that?")
    assert [p.source for p in follow.passages] == ["shipping.md"]  # searched with the earlier question
    other = a.respond(None, "Do you ship to Canada?")
    change = a.respond(other.conversation_id, "thanks! one more question: can I pay with PayPal?")
    assert [p.source for p in change.passages] == ["payments.md"]  # the new topic alone answers best


def test_the_shipped_model_was_chosen_leave_one_kb_out():
    from assistant.config import local_path

    path = local_path("models/relevance/relevance.json")
    model = Relevance.load(path)
    assert model.problem == "" and model.answerable is not None and model.unit is not None
    meta = json.loads(path.read_text())["meta"]
    assert set(meta["leave_one_kb_out"]) == set(meta["trained_on"]) and len(meta["trained_on"]) >= 5
    assert 0.0 < model.answerable.threshold < 1.0


@requires_models
def test_the_optional_reranker_trains_scores_and_loads_with_the_model(tmp_path, cfg):
    """`finetune relevance --reranker`: a cross-encoder fine-tuned from the bundled MiniLM, saved as
    safetensors, scoring (question, unit) pairs; a model file naming it loads it."""
    from pathlib import Path

    from assistant.grounding.reranker import Reranker
    from assistant.models import resolve
    from finetune.reranker import train_reranker

    pairs = [("how much is express", "Express costs $12.99.", 1.0), ("how much is express", "We ship to Canada.", 0.0)] * 4
    base = Path(resolve(cfg.models.embedder, cfg.home).location)
    run = train_reranker(pairs, tmp_path / "reranker", base, batch_size=4, report=lambda _: None)
    assert run["steps"] == 2 and (tmp_path / "reranker" / "model.safetensors").exists()
    scores = Reranker(tmp_path / "reranker").score("how much is express", ["Express costs $12.99.", "Hello"])
    assert len(scores) == 2 and all(isinstance(x, float) for x in scores)
    a, u = _logistic(["ce_top"], [1]), _logistic(["ce"], [1])
    Relevance(a, u).save(tmp_path / "r.json", reranker="reranker")
    loaded = Relevance.load(tmp_path / "r.json")
    assert loaded.problem == "" and len(loaded.rerank("q", ["a", "b"])) == 2


def test_every_dev_kb_has_a_blind_set_of_the_protocols_shape():
    """Five KBs of different shapes; each set >= 40 questions, about 20% unanswerable, >= 10 follow-ups
    (at least 4 marked as topic changes by their wording), every fact's source named."""
    from finetune.answer_eval import load_questions
    from finetune.dev_kbs import load_catalog

    catalog = load_catalog()
    assert len(catalog) >= 5
    for name, kb in catalog.items():
        qs = load_questions(kb.dev)
        unanswerable = sum(q["kind"] == "unanswerable" for q in qs)
        assert len(qs) >= 40 and 0.15 <= unanswerable / len(qs) <= 0.3, name
        assert sum(bool(q.get("history")) for q in qs) >= 10, name
        assert all(q["source"] for q in qs if q["kind"] == "fact"), name
