"""Tagger plumbing without trained weights: word splitting, sub-word alignment, windowing,
support-entity patterns, and the eval metrics on fixture files with hand-checked scores."""

import json
import os
from pathlib import Path

import pytest

from assistant.taggers.entity_patterns import find_pattern_entities
from assistant.taggers.network import split_words, word_shape
from tests.conftest import requires_models

FIX = Path(__file__).parent / "fixtures"


def test_split_words_offsets_punctuation_emoji():
    text = 'Hi, I\'m "John" from the U.S. 😀 (really)!'
    words = split_words(text)
    assert [w for w, _, _ in words] == ["Hi", ",", "I'm", '"', "John", '"', "from", "the", "U.S.", "😀", "(",
                                        "really", ")", "!"]
    assert all(text[s:e] == w for w, s, e in words)
    assert split_words("") == [] and split_words("   ") == []


def test_word_shapes():
    assert [word_shape(w) for w in ["paris", "Paris", "NASA", "iPhone", "2024", "!", "A"]] == [1, 2, 3, 4, 5, 6, 2]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from assistant.models import resolve

    return AutoTokenizer.from_pretrained(resolve("bundled:all-minilm-l6-v2", Path("/tmp")).location)


@requires_models
def test_first_subtoken_alignment(tokenizer):
    from finetune.taggers import NER_LABELS, _batch

    words = ["Northwind", "shipped", "to", "Reykjavík", "."]
    tags = ["B-ORG", "O", "O", "B-LOC", "O"]
    enc, shapes, labels = _batch("ner", tokenizer, [(words, tags)], 64)
    ids = enc.word_ids(0)
    pieces = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    assert ids.count(0) > 1  # "Northwind" is split into several word pieces
    first = {w: ids.index(w) for w in range(len(words))}
    row = labels[0].tolist()
    for w, pos in first.items():
        assert row[pos] == NER_LABELS.index(tags[w]), (w, pieces[pos])
    labelled = [i for i, v in enumerate(row) if v != -100]
    assert labelled == sorted(first.values())  # continuation pieces and specials are ignored
    assert shapes[0][first[0]].item() == 2 and shapes[0][ids.index(0) + 1].item() == 2  # pieces share the shape


class FakeBackbone:
    """Real tokenizer; 'logits' mark every title-case word as B-PER, so windowing can be checked."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.calls = 0

    def logits(self, name, enc, shapes):
        import torch

        self.calls += 1
        out = torch.full((*shapes.shape, 9), -5.0)
        out[..., 0] = 5.0
        title = shapes == 2
        out[title, 0], out[title, 1] = -5.0, 5.0
        return out


@requires_models
def test_long_text_is_windowed_not_cut(tokenizer):
    from assistant.taggers.ner import TransformerNer

    words = ["word"] * 2000
    for i in (3, 777, 1500, 1999):
        words[i] = "Zed"
    text = " ".join(words)
    fake = FakeBackbone(tokenizer)
    ner = TransformerNer(fake, {"labels": ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]})
    ents = ner.tag(text)
    assert [text[e.start:e.end] for e in ents] == ["Zed"] * 4
    assert [e.start for e in ents] == [text.index("Zed", 0)] + [
        sum(len(w) + 1 for w in words[:i]) for i in (777, 1500, 1999)]
    assert fake.calls > 10  # several overlapping windows
    assert ner.tag("") == [] and ner.tag("   ") == []


@requires_models
def test_emoji_and_punctuation_spans(tokenizer):
    from assistant.taggers.ner import TransformerNer

    ner = TransformerNer(FakeBackbone(tokenizer), {"labels": ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC",
                                                                "I-LOC", "B-MISC", "I-MISC"]})
    text = "😀😀 hello, Anna! 🙂"
    ents = ner.tag(text)
    assert [(e.type, e.text, e.start, e.end) for e in ents] == [("PER", "Anna", 10, 14)]
    assert text[10:14] == "Anna"


def test_support_entity_patterns():
    text = ("Order NW-20931 for $45.99 placed on March 3rd, 2025 — mail me at jane.doe@example.com, "
            "call +1 555 010 2030 or see https://shop.example/orders/42. Purchase 113542617735902 too.")
    got = {(e.type, e.text) for e in find_pattern_entities(text)}
    assert ("ORDER_ID", "NW-20931") in got
    assert ("MONEY", "$45.99") in got
    assert ("DATE", "March 3rd, 2025") in got
    assert ("EMAIL", "jane.doe@example.com") in got
    assert ("PHONE", "+1 555 010 2030") in got
    assert ("URL", "https://shop.example/orders/42") in got
    assert ("ORDER_ID", "113542617735902") in got
    assert not any(t == "URL" and "@" in v for t, v in got)
    assert find_pattern_entities("no entities in this one") == []


class ScriptedNer:
    """Predicts fixed tags per sentence for the eval-metric test."""

    def __init__(self, predictions):
        self.predictions = list(predictions)

    def word_tags(self, words):
        return [(t, 1.0) for t in self.predictions.pop(0)]


def test_eval_ner_hand_checked():
    from finetune.tagger_eval import eval_ner

    # Gold: PER(John Smith), LOC(Paris), ORG(Acme Corp), PER(Mary) = 4 entities.
    # Predicted: PER(John Smith) correct, LOC(Paris) as ORG wrong, ORG(Acme) partial (wrong span),
    # PER(Mary) correct, plus a DATE-like extra type the file does not use (ignored).
    tagger = ScriptedNer([["B-PER", "I-PER", "O", "B-ORG", "O"], ["B-ORG", "O", "B-MISCX", "B-PER"]])
    r = eval_ner(tagger, str(FIX / "tiny.conll"))
    # tp = 2 (John Smith, Mary); predicted = 4 (John Smith, Paris/ORG, Acme/ORG, Mary); gold = 4
    assert r["precision"] == 0.5 and r["recall"] == 0.5 and r["f1"] == 0.5
    assert r["per_type"]["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert r["per_type"]["LOC"]["recall"] == 0.0 and r["per_type"]["ORG"]["precision"] == 0.0
    assert set(r["per_type"]) == {"PER", "LOC", "ORG"} and r["sentences"] == 2


class ScriptedSentiment:
    """Scripted labels; with the traffic prior on, `with_prior` labels (if given) replace them."""

    def __init__(self, labels, with_prior=None):
        self.labels, self.with_prior, self.use_prior = labels, with_prior, True

    def raw_logits(self, texts):
        return list(range(len(texts)))  # row numbers stand in for logits

    def calibrated(self, rows, prior=None):
        use = self.use_prior if prior is None else prior
        labels = self.with_prior if use and self.with_prior else self.labels
        return [{k: (0.8 if k == labels[r] else 0.1) for k in ("negative", "neutral", "positive")} for r in rows]


def test_eval_sentiment_hand_checked():
    from finetune.tagger_eval import eval_sentiment

    # gold: pos, neg, neu, neg, pos ; predicted: pos, neg, neg, neg, neu
    r = eval_sentiment(ScriptedSentiment(["positive", "negative", "negative", "negative", "neutral"]),
                       str(FIX / "tiny_sentiment.csv"), "text", "label")
    assert r["accuracy"] == 0.6 and r["n"] == 5 and not r["binary"]
    # negative: p 2/3 r 1 f1 .8 ; neutral: p 0 r 0 f1 0 ; positive: p 1 r .5 f1 .6667 -> macro .4889
    assert r["per_class"]["negative"] == {"precision": 0.6667, "recall": 1.0, "f1": 0.8, "support": 2}
    assert r["macro_f1"] == pytest.approx(0.4889, abs=1e-4)
    assert r["confusion_matrix"]["rows_gold_cols_pred"] == [[2, 0, 0], [1, 0, 0], [0, 1, 1]]


def test_eval_sentiment_binary_file(tmp_path):
    from finetune.tagger_eval import eval_sentiment

    f = tmp_path / "bin.tsv"
    f.write_text("text\tlabel\ngood\t1\nbad\t0\nmeh\t1\n")
    r = eval_sentiment(ScriptedSentiment(["positive", "negative", "neutral"]), str(f), "text", "label")
    # binary decision ignores neutral: "meh" has positive 0.1 == negative 0.1 -> positive wins ties
    assert r["binary"] and r["accuracy"] == 1.0 and set(r["per_class"]) == {"negative", "positive"}


def test_eval_sentiment_binary_file_is_scored_without_the_traffic_prior(tmp_path):
    from finetune.tagger_eval import eval_sentiment

    f = tmp_path / "bin.tsv"
    f.write_text("text\tlabel\ngood\t1\nbad\t0\nfine\t1\nawful\t0\n")
    # With the prior, the two positives flip to negative; the polarity decision gets all four right.
    tagger = ScriptedSentiment(["positive", "negative", "positive", "negative"],
                               with_prior=["negative", "negative", "negative", "negative"])
    r = eval_sentiment(tagger, str(f), "text", "label")
    assert r["accuracy"] == 1.0 and r["with_traffic_prior"]["accuracy"] == 0.5
    assert r["traffic_prior"].startswith("off")
    # A 3-class file is scored as the product tags: with the prior unless the policy turns it off.
    g = tmp_path / "three.csv"
    g.write_text("text,label\ngood,positive\nbad,negative\n")
    tagger = ScriptedSentiment(["positive", "negative"], with_prior=["negative", "negative"])
    assert eval_sentiment(tagger, str(g), "text", "label")["accuracy"] == 0.5
    tagger.use_prior = False
    r = eval_sentiment(tagger, str(g), "text", "label")
    assert r["accuracy"] == 1.0 and r["traffic_prior"].startswith("off")


def test_bad_eval_files(tmp_path):
    from assistant.errors import InputError
    from finetune.tagger_data import read_conll, read_sentiment

    with pytest.raises(InputError, match="needs columns"):
        read_sentiment(FIX / "tiny_sentiment.csv", "tweet", "label")
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello,maybe\n")
    with pytest.raises(InputError, match="unknown label"):
        read_sentiment(bad, "text", "label")
    empty = tmp_path / "e.conll"
    empty.write_text("-DOCSTART- -X- -X- O\n\n")
    with pytest.raises(InputError, match="no sentences"):
        read_conll(empty)


@requires_models
def test_tagger_training_checkpoints_and_resumes(tmp_path):
    import json

    from finetune.taggers import TaggerTrainConfig, train_tagger

    cfg = TaggerTrainConfig(task="ner", train=str(FIX / "tiny.conll"), dev=str(FIX / "tiny.conll"),
                            out=str(tmp_path / "ner"), batch_size=1, max_steps=2, save_every=1, rank=4)
    meta = train_tagger(cfg, log=lambda *_: None)
    out = tmp_path / "ner"
    assert meta["steps"] == 2 and (out / "checkpoint" / "optimizer.safetensors").is_file()
    assert {p.name for p in out.iterdir()} >= {"adapter_model.safetensors", "head.safetensors", "tagger.json"}
    assert not list(out.rglob("*.bin")) and not list(out.rglob("*.pt"))
    logs = []
    cfg.max_steps = 3
    meta = train_tagger(cfg, log=logs.append)
    assert any("resuming from step 2" in m for m in logs) and meta["steps"] == 3
    assert json.loads((out / "tagger.json").read_text())["labels"][0] == "O"


def test_sentiment_training_data_from_customer_requests(tmp_path):
    from finetune.taggers import customer_requests

    bitext = tmp_path / "bitext.csv"
    bitext.write_text(
        "instruction,intent,tags\n"
        "where is my order?,track_order,BQ\n"
        "I want to file a complaint,complaint,BL\n"
        "where is my goddamn parcel,delivery_period,BLW\n"
        "I cannot pay,payment_issue,BL\n"
        ",track_order,B\n", encoding="utf-8")
    neutral, negative = customer_requests(str(bitext))
    assert neutral == ["where is my order?"]
    assert negative == ["I want to file a complaint", "where is my goddamn parcel"]


@requires_models
def test_tagger_training_can_start_from_an_existing_tagger(tmp_path):
    from assistant.errors import AdapterError
    from finetune.taggers import TaggerTrainConfig, train_tagger

    first = TaggerTrainConfig(task="ner", train=str(FIX / "tiny.conll"), out=str(tmp_path / "a"), batch_size=1,
                              max_steps=1, rank=4, alpha=8)
    train_tagger(first, log=lambda *_: None)
    logs = []
    second = TaggerTrainConfig(task="ner", train=str(FIX / "tiny.conll"), out=str(tmp_path / "b"), batch_size=1,
                               max_steps=1, init=str(tmp_path / "a"))
    meta = train_tagger(second, log=logs.append)
    assert any("starting from the weights" in m for m in logs)
    assert meta["train_config"]["rank"] == 4 and meta["train_config"]["alpha"] == 8  # adopted from the init
    wrong = TaggerTrainConfig(task="sentiment", train=str(FIX / "tiny_sentiment.csv"), out=str(tmp_path / "c"),
                              init=str(tmp_path / "a"))
    with pytest.raises(AdapterError, match="is a ner tagger"):
        train_tagger(wrong, log=lambda *_: None)


def test_authored_service_messages():
    from finetune.service_messages import service_messages

    msgs = service_messages(600, seed=3)
    assert msgs == service_messages(600, seed=3) and msgs != service_messages(600, seed=4)
    texts = [t.lower() for t, _ in msgs]
    assert len(set(texts)) == 600 and all(t.strip() and "{" not in t for t in texts)
    counts = [sum(1 for _, y in msgs if y == k) for k in range(3)]
    assert counts[0] > counts[2] and counts[1] > counts[2] > 60  # ~4:4:2, negative/neutral/positive
    # Failure reports are negative; the same topic asked about hypothetically stays neutral.
    neutral = [t for t, y in msgs if y == 1]
    assert any("what happens if" in t.lower() for t in neutral)
    assert not any("never arrived" in t.lower() or "hung up" in t.lower() for t in neutral)
    assert any("never arrived" in t.lower() or "on hold" in t.lower() for t, y in msgs if y == 0)


@requires_models
def test_average_taggers_is_the_mean_and_refuses_mismatches(tmp_path):
    from safetensors.torch import load_file

    from assistant.errors import AdapterError
    from finetune.tagger_soup import average_taggers
    from finetune.taggers import TaggerTrainConfig, train_tagger

    for name, seed in (("a", 1), ("b", 2)):
        train_tagger(TaggerTrainConfig(task="sentiment", train=str(FIX / "tiny_sentiment.csv"), out=str(tmp_path / name),
                                       batch_size=2, max_steps=1, rank=4, alpha=8, seed=seed), log=lambda *_: None)
    meta = average_taggers([str(tmp_path / "a"), str(tmp_path / "b")], str(tmp_path / "avg"))
    assert meta["averaged_from"] == [str(tmp_path / "a"), str(tmp_path / "b")] and meta["task"] == "sentiment"
    for name in ("adapter_model.safetensors", "head.safetensors"):
        a, b, avg = (load_file(str(tmp_path / d / name)) for d in ("a", "b", "avg"))
        assert set(avg) == set(a)
        for k in a:
            assert (avg[k] - (a[k] + b[k]) / 2).abs().max() < 1e-6, k
    train_tagger(TaggerTrainConfig(task="sentiment", train=str(FIX / "tiny_sentiment.csv"), out=str(tmp_path / "r8"),
                                   batch_size=2, max_steps=1, rank=8, alpha=16), log=lambda *_: None)
    with pytest.raises(AdapterError, match="rank"):
        average_taggers([str(tmp_path / "a"), str(tmp_path / "r8")], str(tmp_path / "bad"))
    train_tagger(TaggerTrainConfig(task="ner", train=str(FIX / "tiny.conll"), out=str(tmp_path / "ner"),
                                   batch_size=1, max_steps=1, rank=4, alpha=8), log=lambda *_: None)
    with pytest.raises(AdapterError, match="cannot be averaged"):
        average_taggers([str(tmp_path / "a"), str(tmp_path / "ner")], str(tmp_path / "bad"))
    with pytest.raises(AdapterError, match="not a tagger checkpoint"):
        average_taggers([str(tmp_path / "a"), str(tmp_path / "nothing")], str(tmp_path / "bad"))
    assert not (tmp_path / "bad").exists()
    # A broken calibration file is refused and the existing averaged tagger stays as it was.
    before = (tmp_path / "avg" / "adapter_model.safetensors").read_bytes()
    (tmp_path / "broken.csv").write_text("text,label\nfine,maybe\n", encoding="utf-8")
    with pytest.raises(Exception, match="unknown label"):
        average_taggers([str(tmp_path / "a"), str(tmp_path / "a")], str(tmp_path / "avg"), str(tmp_path / "broken.csv"))
    assert (tmp_path / "avg" / "adapter_model.safetensors").read_bytes() == before
    assert not (tmp_path / "avg.avg-tmp").exists()


@requires_models
def test_finetune_taggers_cli_writes_weights_and_model_card(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    out = tmp_path / "ner"
    proc = subprocess.run([sys.executable, "-m", "assistant.cli.main", "finetune", "taggers", "--task", "ner", "--train",
                           str(FIX / "tiny.conll"), "--out", str(out), "--max-steps", "1", "--rank", "4",
                           "--batch-size", "1"], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-1500:]
    card = (out / "README.md").read_text()
    assert "## Command" in card and "--max-steps 1" in card and "## Metrics" in card
    assert (out / "adapter_model.safetensors").is_file() and (out / "head.safetensors").is_file()
    assert json.loads((out / "tagger.json").read_text())["steps"] == 1


def test_calibration_fits_a_prior_unless_polarity_is_tied():
    import numpy as np

    from finetune.taggers import apply_calibration, fit_calibration

    rng = np.random.default_rng(0)
    # A sample that is 70% negative, with logits that carry no prior: vector scaling must learn one
    # (a higher negative bias); the tied fit must leave every negative-vs-positive decision unchanged.
    y = rng.choice(3, size=600, p=[0.7, 0.15, 0.15])
    logits = rng.normal(0, 1, (600, 3)) + 2.0 * np.eye(3)[y]
    vector, tied = fit_calibration(logits, y, "vector"), fit_calibration(logits, y, "tied")
    assert vector["bias"][0] > vector["bias"][2] + 0.3
    assert tied["scale"][0] == tied["scale"][2] and tied["bias"][0] == tied["bias"][2]
    z = apply_calibration(logits, tied)
    assert ((z[:, 2] >= z[:, 0]) == (logits[:, 2] >= logits[:, 0])).all()
    assert len(fit_calibration(logits, y, "bias")["bias"]) == 3


def test_prior_calibration_keeps_the_traffic_prior_separate():
    import numpy as np

    from finetune.taggers import apply_calibration, fit_calibration

    rng = np.random.default_rng(1)
    # 70% negative traffic, logits without a prior: the fit puts the skew into `prior` (negative up,
    # positive down), not into the shared polarity scale and bias.
    y = rng.choice(3, size=800, p=[0.7, 0.15, 0.15])
    logits = rng.normal(0, 1, (800, 3)) + 2.0 * np.eye(3)[y]
    cal = fit_calibration(logits, y, "prior")
    assert cal["prior"][0] > 0.3 and cal["prior"][2] == -cal["prior"][0] and cal["prior"][1] == 0.0
    assert cal["scale"][0] == cal["scale"][2] and cal["bias"][0] == cal["bias"][2]
    # Without the prior, every negative-vs-positive decision is the uncalibrated one ...
    z = apply_calibration(logits, cal, prior=False)
    assert ((z[:, 2] >= z[:, 0]) == (logits[:, 2] >= logits[:, 0])).all()
    # ... and with it the 3-class fit is as good as vector scaling on this traffic (log-loss).
    def nll(z):
        z = z - z.max(1, keepdims=True)
        return float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1))).mean())
    vector = fit_calibration(logits, y, "vector")
    assert nll(apply_calibration(logits, cal)) <= nll(apply_calibration(logits, vector)) + 0.01
    assert nll(apply_calibration(logits, cal)) < nll(apply_calibration(logits, cal, prior=False)) - 0.02


def test_sentiment_calibration_is_checked_at_load_time():
    from assistant.errors import AdapterError
    from assistant.taggers.sentiment import TransformerSentiment

    ok = TransformerSentiment(None, {"calibration": {"temperature": 2.0}})  # an older file: one temperature
    assert ok.scale == [0.5, 0.5, 0.5] and ok.prior == [0.0, 0.0, 0.0]
    for bad in ({"prior": [1, 2]}, {"bias": [0, "x", 0]}, {"scale": [1, float("nan"), 1]}, {"temperature": 0}):
        with pytest.raises(AdapterError, match="calibration"):
            TransformerSentiment(None, {"calibration": bad})


class AngerCountingBackbone:
    """Real tokenizer; the 'negative logit' of a window is 1 if the window contains "furious"."""

    def __init__(self, tokenizer):
        self.tokenizer, self.windows = tokenizer, 0
        self.angry = tokenizer.convert_tokens_to_ids("furious")

    def logits(self, name, enc, shapes=None):
        import torch

        self.windows += len(enc["input_ids"])
        hit = (enc["input_ids"] == self.angry).any(1).float()
        return torch.stack([hit, torch.zeros_like(hit), torch.zeros_like(hit)], 1)


@requires_models
def test_long_sentiment_text_is_read_in_windows_not_cut(tokenizer):
    from assistant.taggers.sentiment import TransformerSentiment

    fake = AngerCountingBackbone(tokenizer)
    tagger = TransformerSentiment(fake, {"max_length": 96})
    calm = "I placed an order last week for a table and four chairs. " * 20  # ~280 tokens
    short, long_text = tagger.raw_logits(["I am furious", calm + "I am furious."])
    assert short[0] == 1.0 and fake.windows > 3
    # The complaint sits in the last window only: it counts (a cut text would give 0) and is averaged in.
    assert 0.0 < long_text[0] < 0.5
    assert tagger.raw_logits([calm])[0][0] == 0.0
