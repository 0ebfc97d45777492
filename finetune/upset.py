"""Train the upset model (`assistant.taggers.upset`) and measure it on the set it did not see.

    loopdesk finetune upset [--out models/upset/upset.json] [--sets benchmarks/upset_sets] --json

The labelled sets (`<sets>/*.jsonl`, lines `{"id", "text", "upset": bool, "domain"}`) were written blind
by different writers about different businesses. For each set in turn the model is fitted on the others,
its threshold chosen on them (the lowest probability that apologises to at most `CALM_APOLOGY` of their
calm messages: an apology to a plain question reads as a script), and the held-out set is scored: calm
messages apologised to, upset messages apologised to, ROC AUC, next to the sentiment tagger alone (its
negative probability against a threshold chosen by the same rule on the same sets). Those held-out
numbers are the result. The shipped model is fitted on every set, its threshold chosen the same way; set
`policy.upset_score` to it (printed; the config's default is the shipped model's).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from assistant.errors import InputError
from assistant.taggers.upset import FEATURES, UpsetModel, features

CALM_APOLOGY = 0.02  # at most this share of calm messages gets "I'm sorry about the trouble."


def load_sets(folder: Path) -> dict[str, list[dict]]:
    sets = {}
    for path in sorted(folder.glob("*.jsonl")):
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                rows.append({"text": str(row["text"]), "upset": bool(row["upset"])})
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{path}:{n}: not a labelled message ({exc})") from exc
        sets[path.stem] = rows
    if len(sets) < 2:
        raise InputError(f"{folder} needs at least two labelled sets (*.jsonl) to score one held out")
    return sets


def _threshold(probs: list[float], labels: list[bool]) -> float:
    """The lowest threshold apologising to at most CALM_APOLOGY of the calm messages."""
    calm = sorted((p for p, y in zip(probs, labels) if not y), reverse=True)
    allowed = int(CALM_APOLOGY * len(calm))
    return round(calm[allowed] + 1e-4, 4) if len(calm) > allowed else 0.5


def _fit(X: list[list[float]], y: list[bool], meta: dict) -> UpsetModel:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    a = np.asarray(X, dtype=float)
    mean, scale = a.mean(axis=0), a.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a constant feature (float noise, not 0) must not blow up
    clf = LogisticRegression(C=1.0, max_iter=2000).fit((a - mean) / scale, np.asarray(y, dtype=int))
    return UpsetModel(clf.coef_[0].tolist(), float(clf.intercept_[0]), mean.tolist(), scale.tolist(), meta)


def _scores(probs: list[float], labels: list[bool], threshold: float) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    calm = [p >= threshold for p, y in zip(probs, labels) if not y]
    hurt = [p >= threshold for p, y in zip(probs, labels) if y]
    return {
        "calm_apologised": round(sum(calm) / max(1, len(calm)), 3),
        "upset_apologised": round(sum(hurt) / max(1, len(hurt)), 3),
        "auc": round(float(roc_auc_score(labels, probs)), 3),
        "n_calm": len(calm),
        "n_upset": len(hurt),
    }


def train(sentiment, folder: Path, out: Path, report: Callable[[str], None] = lambda m: None) -> dict:
    """`sentiment`: the loaded sentiment tagger (its `probabilities(texts)` are the model's inputs)."""
    sets = load_sets(folder)
    rows: dict[str, list[tuple[list[float], bool, float]]] = {}
    tagged: dict[str, list[dict[str, float]]] = {}
    for name, items in sets.items():
        report(f"tagging {len(items)} messages of {name}")
        probs = tagged[name] = sentiment.probabilities([r["text"] for r in items])
        feats = [features(r["text"], p) for r, p in zip(items, probs)]
        rows[name] = [([f[k] for k in FEATURES], r["upset"], p["negative"]) for r, f, p in zip(items, feats, probs)]

    def model_probs(model: UpsetModel, name: str) -> list[float]:
        return [model.prob(r["text"], p) for r, p in zip(sets[name], tagged[name])]

    held_out = {}
    for name in sets:
        train_rows = [row for other, rs in rows.items() if other != name for row in rs]
        model = _fit([x for x, _, _ in train_rows], [y for _, y, _ in train_rows], {})
        train_names = [o for o in sets if o != name]
        fit_probs = [p for o in train_names for p in model_probs(model, o)]
        t = _threshold(fit_probs, [y for _, y, _ in train_rows])
        tagger_t = _threshold([n for _, _, n in train_rows], [y for _, y, _ in train_rows])
        labels = [y for _, y, _ in rows[name]]
        held_out[name] = {
            "model": {**_scores(model_probs(model, name), labels, t), "threshold": t},
            "tagger_alone": {**_scores([n for _, _, n in rows[name]], labels, tagger_t), "threshold": tagger_t},
        }
    every = [row for rs in rows.values() for row in rs]
    shipped = _fit([x for x, _, _ in every], [y for _, y, _ in every], {})
    threshold = _threshold([p for o in sets for p in model_probs(shipped, o)], [y for _, y, _ in every])
    shipped.meta = {
        "threshold": threshold,
        "trained_on": sorted(sets),
        "messages": len(every),
        "calm_apology_allowed": CALM_APOLOGY,
        "held_out": held_out,
    }
    shipped.save(out)
    return {"out": str(out), "threshold": threshold, "held_out": held_out}
