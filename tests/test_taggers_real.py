"""The shipped taggers on real text (skipped until `models/taggers/*` exist): behaviour, not scores."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, requires_models

HAVE = all((ROOT / "models" / "taggers" / t / "tagger.json").is_file() for t in ("sentiment", "ner"))
pytestmark = [requires_models, pytest.mark.skipif(not HAVE, reason="shipped taggers not present")]


@pytest.fixture(scope="module")
def taggers():
    from assistant.config import load_config
    from assistant.taggers.loader import load_taggers

    sentiment, ner, problems = load_taggers(load_config(env={}))
    assert sentiment is not None and ner is not None, problems
    return sentiment, ner


def test_shipped_taggers_are_small_and_safetensors():
    for task in ("sentiment", "ner"):
        d = ROOT / "models" / "taggers" / task
        size = sum(f.stat().st_size for f in d.iterdir() if f.is_file())
        assert size <= 10 * 1024 * 1024, (task, size)
        assert (d / "README.md").is_file() and not list(d.glob("*.bin")) and not list(d.glob("*.pt"))


def test_sentiment_three_classes(taggers):
    sentiment, _ = taggers
    assert sentiment.tag("This is the worst service ever, I am furious and want my money back").label == "negative"
    assert sentiment.tag("Thank you so much, the new shoes are perfect and arrived early!").label == "positive"
    assert sentiment.tag("Thanks, that fixed it!").label == "positive"
    # A report that something went wrong is negative even without an emotion word.
    for report in ("I've been waiting three weeks for my refund and still nothing",
                   "Your site took my money twice and support won't reply"):
        assert sentiment.tag(report).label == "negative", report
    # Plain customer questions must stay neutral (negative turns count towards escalation).
    for question in ("Where can I find the invoice for my last order?", "How do I change my shipping address?",
                     "Do you ship to Canada?", "I forgot my password", "Can I speak to someone about my account?"):
        assert sentiment.tag(question).label == "neutral", question
    scores = sentiment.tag("ok").scores
    # The three classes sum to 1; `upset` is the upset model's P(upset) (tests/test_upset.py).
    classes = {k: v for k, v in scores.items() if k != "upset"}
    assert abs(sum(classes.values()) - 1) < 1e-3 and set(classes) == {"negative", "neutral", "positive"}
    assert 0 <= scores["upset"] <= 1


def test_sentiment_traffic_prior_is_separate_and_can_be_turned_off(taggers):
    import numpy as np

    from assistant.config import load_config
    from assistant.taggers.loader import load_taggers

    sentiment, _ = taggers
    cal = sentiment.meta["calibration"]
    # The shipped calibration learned that support traffic leans negative, in the prior term only.
    assert cal["prior"][0] > 0.1 > -0.1 > cal["prior"][2] and cal["scale"][0] == cal["scale"][2]
    texts = ["The plot was thin but the actors were charming", "My refund is late, otherwise fine",
             "Not bad at all", "It was okay I guess", "The food was cold but the staff apologised"]
    raw = np.asarray(sentiment.raw_logits(texts))
    off = sentiment.probabilities(texts, prior=False)
    assert [p["positive"] >= p["negative"] for p in off] == list(raw[:, 2] >= raw[:, 0])
    on = sentiment.probabilities(texts)
    assert all(a["negative"] > b["negative"] for a, b in zip(on, off))
    plain, _, problems = load_taggers(load_config(env={"LOOPDESK_POLICY_SENTIMENT_PRIOR": "false"}))
    assert plain is not None and not plain.use_prior, problems
    assert [p["negative"] for p in plain.probabilities(texts)] == pytest.approx([p["negative"] for p in off], abs=1e-5)


def test_ner_people_places_orgs_and_support_entities(taggers):
    _, ner = taggers
    text = "Hi, this is John Smith from Microsoft in Seattle; my order NW-20931 is late, mail john@smith.com"
    found = {(e.type, e.text) for e in ner.tag(text)}
    assert ("PER", "John Smith") in found and ("ORG", "Microsoft") in found and ("LOC", "Seattle") in found
    assert ("ORDER_ID", "NW-20931") in found and ("EMAIL", "john@smith.com") in found
    for e in ner.tag(text):
        assert text[e.start:e.end] == e.text and 0 <= e.score <= 1


def test_ner_long_text_keeps_entities_past_the_model_limit(taggers):
    _, ner = taggers
    filler = "the parcel was delayed again and again . " * 300  # ~2,400 words, far past 512 word pieces
    text = "Angela Merkel visited Paris . " + filler + "Then Barack Obama flew to Berlin ."
    found = {(e.type, e.text) for e in ner.tag(text)}
    assert ("PER", "Barack Obama") in found and ("LOC", "Berlin") in found and ("LOC", "Paris") in found


def test_tag_cli_json():
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "assistant.cli.main", "tag", "I am furious, this is the worst service ever: order NW-123456 never came!",
                           "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-1500:]
    data = json.loads(proc.stdout)
    assert data["language"] == "en" and data["sentiment"]["label"] == "negative"
    assert {"type": "ORDER_ID", "text": "NW-123456"} in [{"type": e["type"], "text": e["text"]} for e in data["entities"]]


def test_eval_cli_on_fixtures():
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "assistant.cli.main", "eval", "ner", "tests/fixtures/tiny.conll", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-1500:]
    r = json.loads(proc.stdout)
    assert r["entities"] == 4 and set(r["per_type"]) == {"PER", "LOC", "ORG"} and r["f1"] >= 0.75
    proc = subprocess.run([sys.executable, "-m", "assistant.cli.main", "eval", "sentiment", "tests/fixtures/tiny_sentiment.csv",
                           "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    r = json.loads(proc.stdout)
    assert r["n"] == 5 and r["accuracy"] >= 0.6 and len(r["confusion_matrix"]["rows_gold_cols_pred"]) == 3
