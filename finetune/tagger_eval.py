"""Evaluate taggers on labelled files: entity-level NER metrics (seqeval) and sentiment metrics.

loopdesk eval ner ../shared/data/conll2003/valid.txt --json
loopdesk eval sentiment ../shared/data/airline_sentiment/dev_1000.csv --text-column text --label-column label --json
"""

from __future__ import annotations

from finetune.tagger_data import LABELS3, read_conll, read_sentiment


def eval_ner(tagger, path: str) -> dict:
    """Entity-level P/R/F1 overall and per type, over the gold file's entity types only."""
    from seqeval.metrics import classification_report

    sentences = read_conll(path)
    gold_types = {t[2:] for _, tags in sentences for t in tags if t != "O"}
    gold, pred = [], []
    for words, tags in sentences:
        predicted = [t for t, _ in tagger.word_tags(words)]
        # Types the file does not annotate count as O, so extra model types are not penalised.
        predicted = [t if t == "O" or t[2:] in gold_types else "O" for t in predicted]
        gold.append(tags)
        pred.append(predicted)
    report = classification_report(gold, pred, output_dict=True, zero_division=0)
    per_type = {
        k: {
            "precision": round(v["precision"], 4),
            "recall": round(v["recall"], 4),
            "f1": round(v["f1-score"], 4),
            "support": int(v["support"]),
        }
        for k, v in report.items()
        if k in gold_types
    }
    micro = report["micro avg"]
    return {
        "precision": round(micro["precision"], 4),
        "recall": round(micro["recall"], 4),
        "f1": round(micro["f1-score"], 4),
        "per_type": per_type,
        "sentences": len(sentences),
        "entities": int(micro["support"]),
    }


def sentiment_metrics(gold: list[int], pred: list[int], classes: list[int]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (rows = gold)."""
    n = len(gold)
    per_class, f1s = {}, []
    for c in classes:
        tp = sum(1 for g, p in zip(gold, pred) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred) if g == c and p != c)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        f1s.append(f1)
        per_class[LABELS3[c]] = {
            "precision": round(prec, 4),
            "recall": round(rec, 4),
            "f1": round(f1, 4),
            "support": sum(1 for g in gold if g == c),
        }
    matrix = [[sum(1 for g, p in zip(gold, pred) if g == a and p == b) for b in classes] for a in classes]
    return {
        "accuracy": round(sum(g == p for g, p in zip(gold, pred)) / max(1, n), 4),
        "macro_f1": round(sum(f1s) / len(f1s), 4),
        "per_class": per_class,
        "confusion_matrix": {"labels": [LABELS3[c] for c in classes], "rows_gold_cols_pred": matrix},
        "n": n,
    }


def eval_sentiment(tagger, path: str, text_column: str, label_column: str) -> dict:
    """3-class metrics; for a binary 0/1 file the negative-vs-positive decision is scored.

    A 3-class file is scored as the product tags (with the customer-traffic prior unless
    `policy.sentiment_prior` is off). A binary file (SST-2 style: balanced polarity, not support traffic)
    is scored without the traffic prior: that prior says how often customers complain, not what a text
    says. `with_traffic_prior` reports the same file scored with it, so both numbers are visible.
    """
    texts, gold, binary = read_sentiment(path, text_column, label_column)
    logits = tagger.raw_logits(texts)  # one model pass, scored with and without the prior
    if binary:

        def decide(probs):
            return [2 if p["positive"] >= p["negative"] else 0 for p in probs]

        out = sentiment_metrics(gold, decide(tagger.calibrated(logits, prior=False)), [0, 2])
        with_prior = sentiment_metrics(gold, decide(tagger.calibrated(logits, prior=True)), [0, 2])
        out["with_traffic_prior"] = {k: with_prior[k] for k in ("accuracy", "macro_f1", "confusion_matrix")}
        out["traffic_prior"] = "off (binary file: the polarity decision is scored)"
    else:
        probs = tagger.calibrated(logits)
        out = sentiment_metrics(gold, [LABELS3.index(max(p, key=p.get)) for p in probs], [0, 1, 2])
        out["traffic_prior"] = "on" if tagger.use_prior else "off (policy.sentiment_prior)"
    out["binary"] = binary
    return out
