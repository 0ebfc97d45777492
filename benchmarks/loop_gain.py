"""Does one round of the learning loop make answers better on questions it never saw? Table + JSON.

    python benchmarks/loop_gain.py [--kb NAME ...] [--reader checked|extractive] [--sabotage-kb harbor_bank]

For each dev knowledge base (`benchmarks/answer_sets/catalog.json`), its blind question set is split by
a hash of the question id into three disjoint parts: **traffic** (half), **gate** and **test** (the other
half, 2 : 3). The assistant is the shipped pipeline with the relevance model fitted *without* this KB
(`without-<kb>.json`), and an empty answer memory.

1. A day of traffic: the traffic questions go through the real pipeline (`Assistant.respond`).
2. A simulated operator with the question file's ground truth reviews every reply: a right answer is
   rated up; a wrong or declined answer to a covered question is corrected with the knowledge-base text
   that holds its facts (the sentences of its source page containing them); an answer to an uncovered
   question is rated down and its decline confirmed.
3. One round of the loop, from that feedback only:
   - **memory**: each correction becomes an approved answer-memory entry (as the console does);
   - **answerability**: the decline threshold of the relevance model is re-chosen for this deployment
     on the operator's labels of the traffic (covered / not covered), with the same cost as
     `finetune relevance` (missed declines + 5 x false declines; ties keep the nearest threshold);
   - **unit encoder** (when the relevance model has one): the live one trained further on the day's
     traffic, each unit the live assistant picked labelled by the operator (holds the answer or not),
     with as many rows of the other dev KBs replayed, so that new questions about this KB's pages rank
     the answering sentence first (`finetune/unit_encoder.py`). The `memory` round is the operator round
     without this step.
4. The gate (`finetune.gate.round_verdict`): candidate and live answer the paraphrases of the traffic
   questions (`paraphrases.jsonl`, written by a helper: new wordings, never the traffic itself; the
   **reach** part) and the gate questions (unrelated to the traffic; the **held** part). The candidate
   is promoted only when the reach part is better on its own (exact one-sided McNemar) and it lost no
   more held questions than it won: the reach part rewards what the round was taught, so alone it would
   pass a change that breaks other questions. (`results/loop_gain.json` and `loop_gain_split_b.json`
   were run with both parts pooled in one McNemar; each round's `pooled_rule_promotes` or `promoted`
   field says what that rule did, and the README what the rule now in force would have done.)
5. Reported on the **test** questions: accuracy, unanswerable declined, false declines, model-written
   share, before and after the round (after = what is served: the candidate if promoted, else live),
   and the candidate's own numbers whether promoted or not, so that every refusal and promotion can be
   checked against the test half. And a **control** round with no feedback (nobody reviews the day,
   so it is not replayed; the candidate equals live, the gate refuses a tie, and the test numbers are
   measured again).
With `--sabotage-kb`, that KB also gets a round from a careless operator (who "corrects" every covered
reply, right ones too, pasting each correction onto the wrong question, and flips the covered/uncovered
labels): the gate must refuse it.

Not retrained here: the generator's LoRA adapter. With the checked reader the model is shown only the
key evidence units and a reply that does not carry them is replaced by them, so which units are picked
(the unit encoder, the relevance model) decides accuracy; the adapter decides only who writes it.
Writes `benchmarks/results/loop_gain.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SETS = ROOT / "benchmarks" / "answer_sets"
COLUMNS = [
    ("answer_accuracy", "accuracy"),
    ("decline_rate", "unans.declined"),
    ("false_decline_rate", "false declines"),
    ("model_written_rate", "model-written"),
]


def part(q: dict, salt: str = "") -> str:
    """traffic / gate / test, from a hash of the id (stable across runs and machines). `salt`: another
    split of the same questions (`--split`), to try a gate rule on parts it was not chosen on."""
    key = f"{salt}:{q['id']}" if salt else str(q["id"])
    h = int(hashlib.sha256(key.encode()).hexdigest(), 16) % 10
    return "traffic" if h < 5 else "gate" if h < 7 else "test"


def sentences_with_facts(q: dict, files: list[Path]) -> str:
    """The operator's correction: the sentences of the question's source page holding its facts."""
    from assistant.grounding.evidence import split_units

    pages = [f for f in files if f.name == Path(q.get("source") or "").name] or files
    text = "\n".join(_page_text(f) for f in pages)
    picked: list[str] = []
    for fact in q["facts"]:
        for sentence in split_units(text):
            if any(form.lower() in sentence.lower() for form in fact):
                if sentence not in picked:
                    picked.append(sentence.strip())
                break
    return " ".join(picked) if len(picked) == len(q["facts"]) else ""


def _page_text(path: Path) -> str:
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix in (".html", ".htm"):
        from bs4 import BeautifulSoup

        return BeautifulSoup(raw, "html.parser").get_text(" ")
    return re.sub(r"^#+\s*", "", raw, flags=re.M)


def build(cfg, relevance: Path, db: Path, profile_name: str, memory: bool = True):
    import index
    from assistant.build import Profile, build_assistant

    cfg = dataclasses.replace(
        cfg,
        retrieval=dataclasses.replace(cfg.retrieval, relevance_model=str(relevance)),
        store=dataclasses.replace(cfg.store, url=f"sqlite:///{db}"),
    )
    # Like an evaluation (the live adapter loaded once, every reply waits for the model), but with the
    # answer memory on: it is part of what a round changes.
    profile = Profile(profile_name, follow_live_adapter=False, wait_for_model=True, answer_memory=memory)
    return build_assistant(cfg, index.open_for_config, profile)


def ask(assistant, questions: list[dict]) -> tuple[dict, dict[str, bool], list[dict]]:
    from finetune.answer_eval import evaluate_assistant, summarize

    records = evaluate_assistant(assistant, questions)
    return summarize(questions, records), {str(r["id"]): bool(r["correct"]) for r in records}, records


def operator_review(questions: list[dict], records: list[dict], files: list[Path], careless: bool) -> dict:
    """What the simulated operator does with the day's replies: corrections and labels."""
    from assistant.turn.context import standalone

    corrections, labels = [], []
    for q, r in zip(questions, records):
        covered = q["kind"] == "fact"
        labels.append((q, covered != careless))
        if covered and (careless or not r["correct"]):  # the careless one "corrects" right answers too
            answer = sentences_with_facts(q, files)
            if answer:
                history = [{"role": "user", "text": h} for h in q.get("history", [])]
                corrections.append({"id": q["id"], "question": standalone(q["question"], history), "answer": answer})
    if careless and len(corrections) > 1:  # each correction pasted onto the next question
        answers = [c["answer"] for c in corrections]
        for c, a in zip(corrections, answers[1:] + answers[:1]):
            c["answer"] = a
    return {"corrections": corrections, "labels": labels}


def rechoose_threshold(assistant, labels: list[tuple[dict, bool]], current: float) -> tuple[float, dict]:
    """The decline threshold that fits the operator's labels of the traffic best (the product round's
    own rule, `finetune.relevance_round.choose_threshold`)."""
    from assistant.types import Tags
    from finetune.relevance_round import choose_threshold

    probs = []
    for q, covered in labels:
        history = [{"role": "user", "text": h} for h in q.get("history", [])]
        probs.append((assistant.find(q["question"], history, Tags()).answer_p, covered))
    return choose_threshold(probs, current)


def traffic_rows(assistant, name: str, questions: list[dict], careless: bool) -> list[dict]:
    """The day's questions as the live assistant ranked their units, each unit labelled by the operator:
    does it hold the answer (the ground truth's facts)? A careless operator labels each question's units
    with the next question's facts."""
    from assistant.types import Tags
    from finetune.relevance import _has_fact

    rows = []
    for i, q in enumerate(questions):
        facts = questions[(i + 1) % len(questions)]["facts"] if careless else q["facts"]
        history = [{"role": "user", "text": h} for h in q.get("history", [])]
        found = assistant.find(q["question"], history, Tags())
        rows.append(
            {
                "kb": name,
                "id": q["id"],
                "answerable": q["kind"] == "fact",
                "query": found.query,
                "unit_texts": found.unit_texts,
                "unit_labels": [_has_fact(t, facts) for t in found.unit_texts],
            }
        )
    return rows


def retrain_unit_encoder(name: str, fold: Path, mine: list[dict], out: Path) -> dict:
    """The round's unit encoder: the live fold's encoder trained further, one epoch, on the day's reviewed
    traffic (counted three times) plus as many rows of the other dev KBs it learnt from (so that it does
    not forget them for the sake of 36 questions). About a minute on 2 cores."""
    import random

    from assistant.config import load_config
    from assistant.models import resolve
    from finetune.unit_encoder import train_unit_encoder

    live = json.loads(fold.read_text()).get("unit_encoder")
    rows_file = fold.parent / "rows.jsonl"
    if not live or not rows_file.exists():
        return {"why": "the relevance model has no unit encoder (trained without --unit-encoder)"}
    others = [r for r in map(json.loads, rows_file.read_text().splitlines()) if r["kb"] != name and r["answerable"]]
    replay = random.Random(0).sample(others, min(len(others), 3 * len(mine)))
    cfg = load_config()
    base = Path(resolve(cfg.models.embedder, cfg.home).location)
    card = train_unit_encoder(
        replay + mine, out, base, epochs=1, repeat={name: 3}, report=lambda m: None, start_from=fold.parent / live
    )
    return {"pairs": card["pairs"], "seconds": card["seconds"], "traffic_rows": len(mine)}


def candidate_model(fold: Path, threshold: float, out: Path, encoder: Path | None = None) -> Path:
    data = json.loads(fold.read_text())
    data["answerable"]["threshold"] = threshold
    if data.get("reranker"):  # keep pointing at the fold's reranker from the new folder
        data["reranker"] = str((fold.parent / data["reranker"]).resolve())
    if encoder is not None:
        data["unit_encoder"] = str(encoder.resolve())
    elif data.get("unit_encoder"):
        data["unit_encoder"] = str((fold.parent / data["unit_encoder"]).resolve())
    data.setdefault("meta", {})["loop_round"] = {"from": str(fold), "threshold": threshold}
    out.write_text(json.dumps(data, indent=1))
    return out


def one_round(
    name,
    kb,
    cfg,
    fold,
    files,
    questions,
    work: Path,
    feedback: str,
    live_test=None,
    retrain: bool = True,
    salt: str = "",
) -> dict:
    """feedback: 'operator', 'none' (control) or 'careless' (sabotage)."""
    from finetune.gate import ALPHA, round_verdict

    t0 = time.perf_counter()
    label = feedback if retrain else f"{feedback}-memory"  # its own databases and files in `work`
    parts = {p: [q for q in questions if part(q, salt) == p] for p in ("traffic", "gate", "test")}
    paraphrases = (
        {
            str(p["id"]): p["paraphrases"]
            for p in map(json.loads, (SETS / name / "paraphrases.jsonl").read_text().splitlines())
            if p
        }
        if (SETS / name / "paraphrases.jsonl").exists()
        else {}
    )
    live = build(cfg, fold, work / f"{label}-live.db", f"loop-live-{label}")
    if feedback == "none":  # nobody reviews the day: its replies change nothing, so it is not replayed
        day, review = {}, {"corrections": [], "labels": []}
    else:
        day, _, records = ask(live, parts["traffic"])
        review = operator_review(parts["traffic"], records, files, careless=feedback == "careless")
    current = live.relevance.answerable.threshold if live.relevance.answerable else 0.5
    threshold, how = rechoose_threshold(live, review["labels"], current) if review["labels"] else (current, {})
    encoder, encoder_run = None, {}
    if review["labels"] and retrain:
        encoder = work / f"{label}-unit-encoder"
        mine = traffic_rows(live, name, parts["traffic"], careless=feedback == "careless")
        encoder_run = retrain_unit_encoder(name, fold, mine, encoder)
        encoder = encoder if "pairs" in encoder_run else None
    cand_db = work / f"{label}-candidate.db"
    candidate = build(
        cfg,
        candidate_model(fold, threshold, work / f"{label}-relevance.json", encoder),
        cand_db,
        f"loop-candidate-{label}",
    )
    for c in review["corrections"]:
        candidate.store.add_memory(c["question"], c["answer"], origin="console", by="operator")
    # Gate: new wordings of every traffic question that has some (reach: of those corrected, does the
    # correction reach a paraphrase; of the others, does anything break) and its own questions (held).
    reach_qs = [
        {**q, "id": f"{q['id']}~{i}", "question": text, "history": []}
        for q in parts["traffic"]
        if not q.get("history")
        for i, text in enumerate(paraphrases.get(str(q["id"]), []))
    ]
    outcomes = {}
    for key, qs in (("reach", reach_qs), ("held", list(parts["gate"]))):
        outcomes[key] = (ask(candidate, qs)[1], ask(live, qs)[1])
    verdict = round_verdict(outcomes["reach"], outcomes["held"])
    promoted = verdict["better"]
    # Not acted on, recorded to compare with the earlier runs: the rule before 2026-12-05 (one McNemar
    # over both parts pooled, and the held part not worse).
    pooled = (
        verdict["wins"] > verdict["losses"]
        and verdict["p_value"] < ALPHA
        and verdict["held"]["losses"] <= verdict["held"]["wins"]
    )
    before = live_test or ask(live, parts["test"])[0]
    cand_test = ask(candidate, parts["test"])[0]
    after = cand_test if promoted else before
    return {
        "feedback": feedback,
        "traffic": {"n": len(parts["traffic"]), **{k: day.get(k) for k, _ in COLUMNS}} if day else {},
        "corrections": len(review["corrections"]),
        "unit_encoder": encoder_run,
        "threshold": {"live": round(current, 3), "candidate": round(threshold, 3), **how},
        "gate": {k: verdict[k] for k in ("n", "wins", "losses", "ties", "p_value", "better", "reach", "held", "why")},
        "promoted": promoted,
        "pooled_rule_promotes": pooled,
        "split": salt or "default",
        "test_n": len(parts["test"]),
        "before": {k: before.get(k) for k, _ in COLUMNS},
        "after": {k: after.get(k) for k, _ in COLUMNS},
        "candidate": {k: cand_test.get(k) for k, _ in COLUMNS},
        "minutes": round((time.perf_counter() - t0) / 60, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kb", nargs="+", default=["northwind", "harbor_bank", "parcelwise", "abcd"])
    ap.add_argument("--reader", default="checked", choices=["checked", "extractive"])
    ap.add_argument("--sabotage-kb", default="harbor_bank")
    ap.add_argument(
        "--rounds",
        nargs="+",
        default=["operator", "control", "careless"],
        help="Rounds to run (operator, memory: the operator round without retraining the unit "
        "encoder, product: the product's own round from the store, product-careless: the same with the "
        "careless operator, control, careless); others already in --out are kept.",
    )
    ap.add_argument("--model", default=str(ROOT / "models" / "relevance" / "relevance.json"))
    ap.add_argument("--split", default="", help="Salt of another traffic/gate/test split (default: the usual one).")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "loop_gain.json"))
    args = ap.parse_args()

    from assistant.config import load_config
    from finetune.answer_eval import load_questions
    from finetune.dev_kbs import load_catalog, prepare
    from index.embedder import SentenceEmbedder

    base = load_config()
    base = dataclasses.replace(base, generation=dataclasses.replace(base.generation, reader=args.reader))
    folds = Path(json.loads(Path(args.model).read_text())["meta"]["folds"])
    catalog = load_catalog()
    embedder = SentenceEmbedder(base.models.embedder, base.home)
    results: dict = {
        "reader": args.reader,
        "split": args.split,
        "machine": os.uname().machine,
        "cpus": os.cpu_count(),
        "kbs": {},
    }
    if Path(args.out).exists():  # rounds not asked for this time are kept
        earlier = json.loads(Path(args.out).read_text())
        if earlier.get("reader") == args.reader and earlier.get("split", "") == args.split:
            results["kbs"] = earlier.get("kbs", {})
    for name in args.kb:
        kb = catalog[name]
        if kb.missing():
            print(f"{name}: skipped ({kb.missing()})")
            continue
        fold = folds / f"without-{name}.json"
        idx = prepare(kb, embedder, base.home / "dev-kbs")
        cfg = dataclasses.replace(
            base,
            retrieval=dataclasses.replace(base.retrieval, index_dir=str(idx)),
            app=dataclasses.replace(base.app, business_name=kb.business),
        )
        files = [
            f
            for p in kb.files(base.home / "dev-kbs")
            for f in (sorted(p.rglob("*")) if p.is_dir() else [p])
            if f.is_file()
        ]
        questions = load_questions(kb.dev)
        rounds = results["kbs"].get(name, {})
        with tempfile.TemporaryDirectory(prefix=f"loopdesk-loop-{name}-") as tmp:
            run = functools.partial(one_round, name, kb, cfg, fold, files, questions, Path(tmp), salt=args.split)
            if "operator" in args.rounds or "operator" not in rounds:
                rounds["operator"] = run("operator")
            before = rounds["operator"]["before"]
            if "memory" in args.rounds:  # the operator round without retraining the unit encoder
                rounds["memory"] = run("operator", live_test=before, retrain=False)
            if "product" in args.rounds:  # the product's own round (finetune relevance-round)
                rounds["product"] = product_round(name, kb, cfg, fold, files, questions, Path(tmp), before, args.split)
            if name == args.sabotage_kb and "product-careless" in args.rounds:
                rounds["product-careless"] = product_round(
                    name, kb, cfg, fold, files, questions, Path(tmp) / "careless", before, args.split, careless=True
                )
            if "control" in args.rounds:
                rounds["control"] = run("none", live_test=before)
            if name == args.sabotage_kb and "careless" in args.rounds:
                rounds["careless"] = run("careless", live_test=before)
        results["kbs"][name] = rounds
        print_kb(name, rounds)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1))  # after each KB: a stopped run keeps them
    print(f"\nwrote {args.out}")


def replaying(fold: Path, name: str, work: Path) -> Path:
    """The fold's model with a `"replay"` file as the shipped model has one, made of the other dev KBs'
    rows (never the held-out KB's), so the product's round mixes in what it learnt before."""
    from finetune.relevance import replay

    rows = [r for r in map(json.loads, (fold.parent / "rows.jsonl").read_text().splitlines()) if r["kb"] != name]
    (work / "replay.jsonl").write_text("".join(json.dumps(r) + "\n" for r in replay(rows)))
    data = json.loads(fold.read_text())
    for key in ("reranker", "unit_encoder"):
        if data.get(key):
            data[key] = str((fold.parent / data[key]).resolve())
    data["replay"] = str((work / "replay.jsonl").resolve())
    (work / "live-relevance.json").write_text(json.dumps(data))
    return work / "live-relevance.json"


def product_round(
    name, kb, cfg, fold, files, questions, work: Path, live_test=None, salt: str = "", careless: bool = False
) -> dict:
    """The round as the product runs it, from what the store holds: the day's traffic through
    `Assistant.respond`, the simulated operator's review through the console's own functions (a right
    reply marked good, a wrong one corrected with the page's sentences, which also enters the answer
    memory, an uncovered question labelled "not in the pages"), then `finetune.relevance_round.run_round`
    (its gate: every reviewed question judged by a candidate built without it, and this KB's gate part as
    held). `careless`: every covered reply "corrected" with the next question's sentences, and every
    coverage label flipped."""
    from assistant.web.console import operator as op
    from finetune.answer_eval import score_reply
    from finetune.relevance_round import run_round

    t0 = time.perf_counter()
    parts = {p: [q for q in questions if part(q, salt) == p] for p in ("traffic", "gate", "test")}
    work.mkdir(parents=True, exist_ok=True)
    fold = replaying(fold, name, work)
    db = work / "product.db"
    live = build(cfg, fold, db, "loop-live-product")
    corrections = 0
    traffic = parts["traffic"]
    for i, q in enumerate(traffic):
        conversation = live.start_conversation("web")
        for earlier in q.get("history", []):
            live.respond(conversation, earlier)
        res = live.respond(conversation, q["question"])
        if res.turn_id is None:
            continue
        if q["kind"] != "fact" or careless:
            said = "in the pages" if (q["kind"] != "fact") == careless else "not in the pages"
            op.save_label(live.store, res.turn_id, "covered", said, "simulated operator")
            wrong = sentences_with_facts(traffic[(i + 1) % len(traffic)], files)
            if careless and q["kind"] == "fact" and wrong:
                op.rate(live.store, res.turn_id, False, wrong, operator="simulated operator")
                corrections += 1
        elif score_reply(q, res.reply, res.decision.action, [p.text for p in res.passages])["correct"]:
            op.rate(live.store, res.turn_id, True, operator="simulated operator")
        elif answer := sentences_with_facts(q, files):
            op.rate(live.store, res.turn_id, False, answer, operator="simulated operator")
            corrections += 1
    judge = build(cfg, fold, db, "loop-round-product", memory=False)  # relevance alone, as the CLI judges
    result = run_round(cfg, judge, fold, work / "product-candidate", parts["gate"])
    before = live_test or ask(build(cfg, fold, work / "empty.db", "loop-before-product"), parts["test"])[0]
    with_memory = ask(live, parts["test"])[0]  # what the corrections alone changed (the memory)
    cand_test = ask(build(cfg, Path(result["candidate"]), db, "loop-candidate-product"), parts["test"])[0]
    after = cand_test if result["better"] else with_memory
    return {
        "feedback": "careless (product round)" if careless else "operator (product round)",
        "corrections": corrections,
        "examples": result["examples"],
        "unit_encoder": result["unit_encoder"],
        "threshold": result["threshold"],
        "gate": result["gate"],
        "promoted": result["better"],
        "split": salt or "default",
        "test_n": len(parts["test"]),
        "before": {k: before.get(k) for k, _ in COLUMNS},
        "after": {k: after.get(k) for k, _ in COLUMNS},
        "memory_only": {k: with_memory.get(k) for k, _ in COLUMNS},
        "candidate": {k: cand_test.get(k) for k, _ in COLUMNS},
        "minutes": round((time.perf_counter() - t0) / 60, 1),
    }


def print_kb(name: str, rounds: dict) -> None:
    print(f"\n{name}")
    head = f"{'round':<10}{'corr.':>6}{'thresh':>13}{'reach w/l/t':>13}{'held w/l/t':>12}{'promoted':>10}{'min':>6}"
    print(head + "".join(f"{label + ' before→after (cand.)':>36}" for _, label in COLUMNS))
    for key, r in rounds.items():
        g = r["gate"]
        reach, held = (_wlt(g[p]) if p in g else "-" for p in ("reach", "held"))
        cand = r.get("candidate", r["after"])
        cells = "".join(
            f"{_fmt(r['before'][k]) + ' → ' + _fmt(r['after'][k]) + ' (' + _fmt(cand[k]) + ')':>36}" for k, _ in COLUMNS
        )
        thr = f"{r['threshold']['live']:.2f}→{r['threshold']['candidate']:.2f}"
        print(
            f"{key:<10}{r['corrections']:>6}{thr:>13}{reach:>13}{held:>12}"
            f"{'yes' if r['promoted'] else 'no':>10}{r['minutes']:>6}" + cells
        )


def _wlt(g: dict) -> str:
    return f"{g['wins']}/{g['losses']}/{g['ties']}"


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.2f}"


if __name__ == "__main__":
    main()
