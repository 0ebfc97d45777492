"""Train the learned relevance model (`assistant.grounding.relevance`) leave-one-knowledge-base-out.

    loopdesk finetune relevance [--out models/relevance/relevance.json] [--kb NAME ...] --json

For every dev knowledge base of `benchmarks/answer_sets/catalog.json`: index it (cached under
`<home>/dev-kbs`), run step 4 of the chat's own turn (`Assistant.find`: follow-up context, retrieval,
unit ranking) on every question of its sets, and record features with labels:
- a question is answerable when its kind is `fact`;
- a picked unit carries the answer when one form of one of the question's facts occurs in it.

Then, for each KB in turn, both logistic models are fitted on the *other* KBs, their thresholds are
chosen on the other KBs, and the held-out KB is scored (decline rate on its unanswerable questions,
false declines, and how often the kept units hold every fact without a stray). Those held-out numbers are
the result; the shipped model is fitted on all KBs with thresholds chosen the same way.

Thresholds: answerability minimises `(1 - decline rate) + 5 * false-decline rate` on the training KBs
(5 is the ratio of the targets' tolerances, 0.25 missed declines to 0.05 false ones: a false decline
costs a customer an answer the pages have);
unit relevance maximises `all facts kept - 0.25 * a stray kept`.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Callable

from assistant.grounding.relevance import (
    QUESTION_FEATURES,
    UNIT_FEATURES,
    Logistic,
    Relevance,
    keep,
    reranker_features,
)
from finetune.dev_kbs import load_catalog, prepare

RELEVANCE_PROFILE_NAME = "relevance"
FALSE_DECLINE_COST = 5.0  # targets: >= 0.75 of unanswerable declined, <= 0.05 false declines: 0.25 / 0.05


def _has_fact(text: str, facts: list[list[str]]) -> bool:
    low = text.lower()
    return any(form.lower() in low for fact in facts for form in fact)


def collect_kb(cfg, kb, cache: Path, embedder, unit_encoder: Path | None = None) -> list[dict]:
    """One row per question of `kb`'s sets: question features, unit features and labels. `unit_encoder`:
    units ranked by that adapter (`assistant.grounding.unit_encoder`), as a model using it will see them."""
    import index
    from assistant.build import Profile, build_assistant
    from assistant.types import Tags
    from finetune.answer_eval import load_questions

    idx = prepare(kb, embedder, cache)
    with tempfile.TemporaryDirectory(prefix="loopdesk-rel-") as tmp:
        kb_cfg = dataclasses.replace(
            cfg,
            retrieval=dataclasses.replace(cfg.retrieval, index_dir=str(idx), relevance_model=""),
            app=dataclasses.replace(cfg.app, business_name=kb.business),
            store=dataclasses.replace(cfg.store, url=f"sqlite:///{tmp}/rel.db"),
        )
        profile = Profile(RELEVANCE_PROFILE_NAME, follow_live_adapter=False, wait_for_model=True, taggers=False)
        assistant = build_assistant(kb_cfg, index.open_for_config, profile)
        if unit_encoder is not None:
            assistant.relevance.unit_encoder_dir = Path(unit_encoder)
        rows = []
        for path in [kb.dev, *kb.extra]:
            for q in load_questions(path):
                history = [{"role": "user", "text": h} for h in q.get("history", [])]
                found = assistant.find(q["question"], history, Tags())
                units = [u.text for u, _ in found.picked]
                rows.append(
                    {
                        "kb": kb.name,
                        "set": "dev" if path == kb.dev else "extra",
                        "id": q["id"],
                        "answerable": q["kind"] == "fact",
                        "features": found.features,
                        "unit_features": found.unit_features,
                        "unit_labels": [_has_fact(t, q["facts"]) for t in units],
                        "unit_facts": [
                            [any(f.lower() in t.lower() for f in fact) for fact in q["facts"]] for t in units
                        ],
                        "has_passages": bool(found.passages),
                        "query": found.query,
                        "unit_texts": found.unit_texts,
                    }
                )
    return rows


def _fit(X: list[list[float]], y: list[bool], names: tuple[str, ...]) -> Logistic:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    a = np.asarray(X, dtype=float)
    mean, scale = a.mean(axis=0), a.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
    model.fit((a - mean) / scale, np.asarray(y, dtype=int))
    return Logistic(names, model.coef_[0].tolist(), float(model.intercept_[0]), mean.tolist(), scale.tolist(), 0.5)


def answer_scores(model: Logistic, rows: list[dict], threshold: float | None = None) -> dict:
    t = model.threshold if threshold is None else threshold
    facts = [r for r in rows if r["answerable"]]
    unans = [r for r in rows if not r["answerable"]]

    def declines(r: dict) -> bool:
        return not r["has_passages"] or model.prob(r["features"]) < t

    return {
        "decline_rate": sum(map(declines, unans)) / len(unans) if unans else None,
        "false_decline_rate": sum(map(declines, facts)) / len(facts) if facts else None,
        "n_fact": len(facts),
        "n_unanswerable": len(unans),
    }


def _kept(model: Logistic, r: dict, t: float) -> list[int]:
    return keep(model, r["unit_features"], t) if r["unit_features"] else []


def unit_scores(model: Logistic, rows: list[dict], threshold: float | None = None) -> dict:
    """Over answerable questions with units: every fact in the kept units; a stray (a kept unit of another
    passage than the closest unit's that holds no fact: another topic)."""
    t = model.threshold if threshold is None else threshold
    rs = [r for r in rows if r["answerable"] and r["unit_features"]]
    complete = stray = 0
    for r in rs:
        kept = _kept(model, r, t)
        n_facts = len(r["unit_facts"][0]) if r["unit_facts"] else 0
        complete += n_facts > 0 and all(any(r["unit_facts"][i][j] for i in kept) for j in range(n_facts))
        feats = r["unit_features"]
        stray += any(not r["unit_labels"][i] and not feats[i].get("same_passage") for i in kept[1:])
    n = max(1, len(rs))
    return {"all_facts_kept": complete / n, "stray_rate": stray / n, "n": len(rs)}


def fit(rows: list[dict]) -> Relevance:
    """Both models on `rows`, thresholds chosen on the same rows."""
    import numpy as np

    q = [r for r in rows if r["has_passages"]]
    answerable = _fit(
        [[r["features"][f] for f in QUESTION_FEATURES] for r in q], [r["answerable"] for r in q], QUESTION_FEATURES
    )
    grid = [float(t) for t in np.linspace(0.05, 0.95, 91)]

    def cost(t: float) -> float:
        s = answer_scores(answerable, rows, t)
        return (1 - (s["decline_rate"] or 0.0)) + FALSE_DECLINE_COST * (s["false_decline_rate"] or 0.0)

    answerable.threshold = min(grid, key=lambda t: (cost(t), abs(t - 0.5)))
    ux, uy = [], []
    for r in rows:
        if r["answerable"]:
            for f, label in zip(r["unit_features"], r["unit_labels"]):
                ux.append([f[k] for k in UNIT_FEATURES])
                uy.append(label)
    unit = _fit(ux, uy, UNIT_FEATURES)

    def gain(t: float) -> float:
        s = unit_scores(unit, rows, t)
        return s["all_facts_kept"] - 0.25 * s["stray_rate"]

    unit.threshold = max(grid, key=lambda t: (gain(t), t))
    return Relevance(answerable, unit)


def leave_one_kb_out(
    rows: list[dict], save_to: Path | None = None, reranker: bool = False, unit_encoder: bool = False
) -> dict:
    """Per KB: fitted and thresholded on the others, scored on its own dev set. With `save_to`, each
    fold's model is written there as `without-<kb>.json` (with its reranker and unit encoder), for
    answer benchmarks."""
    out = {}
    for kb in sorted({r["kb"] for r in rows}):
        model = fit([r for r in rows if r["kb"] != kb])
        if save_to is not None:
            model.meta = {"held_out": kb}
            model.save(
                save_to / f"without-{kb}.json",
                reranker=f"reranker-without-{kb}" if reranker else "",
                unit_encoder=f"unit-encoder-without-{kb}" if unit_encoder else "",
            )
        held = [r for r in rows if r["kb"] == kb and r["set"] == "dev"]
        assert model.answerable is not None and model.unit is not None
        out[kb] = {
            **answer_scores(model.answerable, held),
            **{f"units_{k}": v for k, v in unit_scores(model.unit, held).items()},
            "answer_threshold": round(model.answerable.threshold, 3),
            "unit_threshold": round(model.unit.threshold, 3),
        }
    return out


def baseline_scores(rows: list[dict], min_score: float) -> dict:
    """What answering whenever a passage clears min_score and quoting the best unit gives (no model)."""
    out = {}
    for kb in sorted({r["kb"] for r in rows}):
        held = [r for r in rows if r["kb"] == kb and r["set"] == "dev"]
        facts = [r for r in held if r["answerable"]]
        unans = [r for r in held if not r["answerable"]]
        out[kb] = {
            "decline_rate": sum(not r["has_passages"] for r in unans) / max(1, len(unans)),
            "false_decline_rate": sum(not r["has_passages"] for r in facts) / max(1, len(facts)),
        }
    return out


def add_reranker_scores(rows: list[dict], scores: list[list[float]]) -> None:
    """Put a reranker's unit scores into stored rows' features (`reranker_features`, as at chat time)."""
    for r, ce in zip(rows, scores):
        question, units = reranker_features(ce)
        r["features"].update(question)
        for f, extra in zip(r["unit_features"], units):
            f.update(extra)


def cross_fit_reranker(rows: list[dict], cache: Path, base: Path, report: Callable[[str], None]) -> dict:
    """For each KB, a reranker trained on the other KBs scores its rows (so every row's reranker
    features are out-of-sample, as they are for a new KB at chat time)."""
    from assistant.grounding.reranker import Reranker
    from finetune.reranker import pairs_from_rows, train_reranker

    runs = {}
    for kb in sorted({r["kb"] for r in rows}):
        folder = cache / f"reranker-without-{kb}"
        if not (folder / "config.json").exists():
            report(f"reranker without {kb}: training")
            runs[kb] = train_reranker(pairs_from_rows([r for r in rows if r["kb"] != kb]), folder, base, report=report)
        scorer = Reranker(folder)
        mine = [r for r in rows if r["kb"] == kb]
        add_reranker_scores(mine, [scorer.score(r["query"], r["unit_texts"]) for r in mine])
    return runs


def cross_fit_unit_encoder(
    cfg, chosen: dict, rows: list[dict], cache: Path, folds: Path, base: Path, embedder, report: Callable[[str], None]
) -> tuple[list[dict], dict]:
    """For each KB, a unit encoder trained on the other KBs' rows, and the KB's rows collected again
    with it: its unit features are then what a model using the encoder sees, and out-of-sample (a new
    KB at chat time is ranked by an encoder that never saw it)."""
    from finetune.unit_encoder import train_unit_encoder

    runs, crossed = {}, []
    for kb in sorted({r["kb"] for r in rows}):
        folder = folds / f"unit-encoder-without-{kb}"
        if not (folder / "unit_encoder.json").exists():
            report(f"unit encoder without {kb}: training")
            runs[kb] = train_unit_encoder([r for r in rows if r["kb"] != kb], folder, base, report=report)
        report(f"{kb}: collecting features with its unit encoder")
        crossed += collect_kb(cfg, chosen[kb], cache, embedder, unit_encoder=folder)
    return crossed, runs


def train(
    cfg,
    out: Path,
    kbs: list[str] | None = None,
    report: Callable[[str], None] = print,
    rows_out: Path | None = None,
    reranker: bool = False,
    rows_from: Path | None = None,
    unit_encoder: bool = False,
) -> dict:
    """Collect rows on every available dev KB, cross-fit the reranker (or the unit encoder), score
    leave-one-KB-out, and write the shipped model (and its reranker or unit encoder, trained on every
    KB) next to `out`."""
    import shutil

    from assistant.models import resolve
    from index.embedder import SentenceEmbedder

    catalog = load_catalog()
    chosen = {k: v for k, v in catalog.items() if not kbs or k in kbs}
    cache = cfg.home / "dev-kbs"
    embedder = SentenceEmbedder(cfg.models.embedder, cfg.home)
    rows: list[dict] = []
    skipped: dict = {}
    if rows_from is not None:
        rows = [json.loads(x) for x in rows_from.read_text().splitlines() if x.strip()]
        rows = [r for r in rows if r["kb"] in chosen]
    for name, kb in chosen.items():
        why = kb.missing()
        if why:
            skipped[name] = why
            report(f"{name}: skipped ({why})")
            continue
        if rows_from is None:
            report(f"{name}: indexing and collecting features")
            rows += collect_kb(cfg, kb, cache, embedder)
    if rows_out:  # before the long part, so a stopped run keeps them (--rows-from)
        rows_out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    names = sorted({r["kb"] for r in rows})
    if len(names) < 2:
        from assistant.errors import InputError

        raise InputError("leave-one-KB-out needs at least two dev knowledge bases: " + json.dumps(skipped))
    runs: dict = {}
    base = Path(resolve(cfg.models.embedder, cfg.home).location)
    # A fresh cache per KB set and rows: a reranker trained on other data must not be reused.
    fold_cache = cache / ("folds-" + _digest(rows) + ("-ue" if unit_encoder else ""))
    plain_rows = rows
    if unit_encoder:
        fold_cache.mkdir(parents=True, exist_ok=True)
        # The rows as the retrieval embedder ranks them: what a learning-loop round trains a deployment's
        # encoder on, next to its own traffic (benchmarks/loop_gain.py).
        (fold_cache / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        rows, runs = cross_fit_unit_encoder(cfg, chosen, rows, cache, fold_cache, base, embedder, report)
    if reranker:
        runs = cross_fit_reranker(rows, fold_cache, base, report)
    loko = leave_one_kb_out(rows, fold_cache, reranker, unit_encoder)
    model = fit(rows)
    model.meta = {
        "trained_on": names,
        "rows": len(rows),
        "folds": str(fold_cache),
        "leave_one_kb_out": loko,
        "reranker_runs": runs,
        "unit_encoder": unit_encoder,
        "how": "finetune/relevance.py: logistic regressions over retrieval and reranker features; "
        "thresholds chosen on the training KBs; reranker features cross-fitted (each KB scored by a "
        "reranker trained without it)",
    }
    folder = ""
    if reranker:
        from finetune.reranker import pairs_from_rows, train_reranker

        from_all = fold_cache / "reranker-all"
        if not (from_all / "config.json").exists():
            report("reranker on every KB: training")
            runs["all"] = train_reranker(pairs_from_rows(rows), from_all, base, report=report)
        target = out.parent / "reranker"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(from_all, target)
        folder = "reranker"
    encoder = ""
    if unit_encoder:
        from finetune.unit_encoder import train_unit_encoder

        from_all = fold_cache / "unit-encoder-all"
        if not (from_all / "unit_encoder.json").exists():
            report("unit encoder on every KB: training")
            runs["all"] = train_unit_encoder(plain_rows, from_all, base, report=report)
        target = out.parent / "unit-encoder"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(from_all, target)
        encoder = "unit-encoder"
        # What the encoder learnt from, replayed by a learning-loop round so that it does not forget it;
        # not the rows of KBs installed from the system (their text is not ours to ship in the repo).
        ours = [r for r in plain_rows if not catalog[r["kb"]].needs]
        (out.parent / REPLAY).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in replay(ours)))
    model.save(out, reranker=folder, unit_encoder=encoder, replay=REPLAY if unit_encoder else "")
    return {
        "out": str(out),
        "folds": str(fold_cache),
        "skipped": skipped,
        "leave_one_kb_out": loko,
        "answer_threshold": model.answerable.threshold if model.answerable else None,
        "unit_threshold": model.unit.threshold if model.unit else None,
    }


REPLAY = "replay.jsonl"


def replay(rows: list[dict]) -> list[dict]:
    """The rows a unit encoder learns from (answerable, with an answering and a non-answering unit), without
    their features: what `finetune/relevance_round.py` mixes into a round's training."""
    keys = ("kb", "id", "answerable", "query", "unit_texts", "unit_labels")
    return [
        {k: r[k] for k in keys} for r in rows if r["answerable"] and any(r["unit_labels"]) and not all(r["unit_labels"])
    ]


def _digest(rows: list[dict]) -> str:
    import hashlib

    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps([r["kb"], r["id"], r["query"], r["unit_texts"], r["unit_labels"]]).encode())
    return h.hexdigest()[:12]
