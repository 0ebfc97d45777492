"""The upset model: when a reply apologises (`assistant.taggers.upset`, `loopdesk finetune upset`)."""

import json

import pytest

from assistant.errors import ConfigError, InputError
from assistant.taggers.upset import FEATURES, UpsetModel, features
from assistant.turn.policy import Rules, decide, negative, upset
from assistant.types import Sentiment, Tags
from tests.conftest import ROOT, requires_models


def test_features_read_the_form_of_the_message():
    calm = features("How do I return a jumper that does not fit?", {"negative": 0.8, "positive": 0.05})
    shout = features("STILL NOTHING!!! this is the THIRD time", {"negative": 0.8, "positive": 0.05})
    assert calm["ends_question"] == 1 and calm["opens_question"] == 1 and calm["repeated_marks"] == 0
    assert shout["ends_question"] == 0 and shout["repeated_marks"] == 1 and shout["caps"] > 0.3 and shout["exclaim"] > 0
    assert set(calm) == set(FEATURES)
    # Probabilities of exactly 0 or 1 do not break the log-odds.
    assert abs(features("x", {"negative": 1.0})["neg_logit"]) < 20 and abs(features("x", {})["neg_logit"]) < 20


def test_a_broken_or_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="finetune upset"):
        UpsetModel.load(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable"):
        UpsetModel.load(bad)
    bad.write_text(json.dumps({"features": ["neg_logit"], "weights": [1], "bias": 0, "mean": [0], "scale": [1]}))
    with pytest.raises(ConfigError, match="features"):
        UpsetModel.load(bad)
    n = len(FEATURES)
    nan = {"features": list(FEATURES), "weights": [float("nan")] * n, "bias": 0, "mean": [0] * n, "scale": [1] * n}
    bad.write_text(json.dumps(nan))  # json writes NaN; a NaN weight would make every message "upset"
    with pytest.raises(ConfigError, match="finite"):
        UpsetModel.load(bad)


def test_apology_and_offer_read_different_scores():
    """The apology reads P(upset); the streak that offers a person reads the negative probability."""
    plain = Sentiment("negative", {"negative": 0.9, "neutral": 0.08, "positive": 0.02, "upset": 0.1})
    assert not upset(plain, threshold=0.5) and negative(plain, threshold=0.82)
    # Turns stored before the upset model: the negative probability stands in.
    assert upset(None, {"negative": 0.9}, threshold=0.5)
    assert not upset(None, {"negative": 0.6}, threshold=0.5)  # not at the upset model's threshold: 0.82
    rules = Rules(negative_turns=2, negative_score=0.82)
    assert decide("where is my order", Tags("en", plain), [True], rules).reason == "negative_streak"


class FakeSentiment:
    """Negative probability from a marker word, so the trainer's bookkeeping is tested without a model."""

    def probabilities(self, texts):
        return [{"negative": 0.9 if "bad" in t.lower() else 0.3, "neutral": 0.1, "positive": 0.05} for t in texts]


def _write_set(folder, name, n=20):
    rows = []
    for i in range(n):
        if i % 2:
            rows.append({"text": f"this is BAD!!! order {i} never came", "upset": True})
        else:
            rows.append({"text": f"how do I change order {i}?", "upset": False})
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_training_scores_each_set_held_out_and_writes_the_model(tmp_path):
    from finetune.upset import train

    sets = tmp_path / "sets"
    sets.mkdir()
    _write_set(sets, "a")
    _write_set(sets, "b")
    out = tmp_path / "upset.json"
    result = train(FakeSentiment(), sets, out)
    assert set(result["held_out"]) == {"a", "b"}
    for r in result["held_out"].values():
        assert r["model"]["calm_apologised"] == 0.0 and r["model"]["upset_apologised"] == 1.0
    model = UpsetModel.load(out)
    assert model.meta["threshold"] == result["threshold"]
    assert model.prob("this is BAD!!! order 99 never came", {"negative": 0.9}) > 0.5 > model.prob(
        "how do I change order 99?", {"negative": 0.3}
    )


def test_training_needs_two_sets_and_labelled_lines(tmp_path):
    from finetune.upset import load_sets

    _write_set(tmp_path, "a")
    with pytest.raises(InputError, match="two labelled sets"):
        load_sets(tmp_path)
    (tmp_path / "b.jsonl").write_text('{"text": "hi"}\n')
    with pytest.raises(InputError, match="b.jsonl:1"):
        load_sets(tmp_path)


@requires_models
def test_the_shipped_model_apologises_to_upset_customers_only():
    """Messages written for this test (not from the labelled sets): plain questions about problems get
    no apology; customers who have a problem do."""
    from assistant.config import load_config
    from assistant.taggers.loader import load_taggers

    cfg = load_config(env={})
    sentiment, _, problems = load_taggers(cfg)
    assert sentiment.upset is not None, problems
    calm = [
        "How do I return it?",
        "what happens if my parcel gets lost in the post?",
        "Which Debian releases does this guide cover?",
        "can I cancel an order after it shipped?",
        "Is there a fee if I pay my card bill late?",
    ]
    hurt = [
        "your so-called next day parcel turned up 2 days late. absolutely useless.",
        "I have been charged TWICE and nobody answers my emails!!!",
        "still no refund after three weeks, this is ridiculous",
    ]
    threshold = cfg.policy.upset_score
    assert [t for t in calm if upset(sentiment.tag(t), threshold=threshold)] == []
    assert [t for t in hurt if not upset(sentiment.tag(t), threshold=threshold)] == []
    assert (ROOT / "models" / "upset" / "upset.json").is_file()


@requires_models
def test_a_broken_upset_model_leaves_the_tagger_working_and_is_said(tmp_path):
    import dataclasses

    from assistant.config import load_config
    from assistant.taggers.loader import load_taggers

    broken = tmp_path / "upset.json"
    broken.write_text("{half a file")
    cfg = load_config(env={})
    cfg = dataclasses.replace(cfg, policy=dataclasses.replace(cfg.policy, upset_model=str(broken)))
    sentiment, _, problems = load_taggers(cfg)
    scores = sentiment.tag("How do I return it?").scores
    assert "upset" not in scores and set(scores) == {"negative", "neutral", "positive"}
    assert any("unreadable" in p and str(broken) in p for p in problems), problems
    assert sentiment.problems and "negative probability alone" in sentiment.problems[0]
