"""Grounded answer accuracy: `loopdesk eval answers --questions FILE.jsonl [--index DIR] [--out REPLIES.jsonl] --json`.

Each question goes through `Assistant.respond` (the chat's own code path) as a new conversation;
a question with `"history"` first sends those earlier customer messages in the same conversation,
so follow-ups are measured as customers ask them. Question file, one JSON object a line:

    {"id": "q01", "question": "...", "source": "returns.md", "facts": [["30 days", "thirty days"]], "kind": "fact"}

`kind` is `fact` or `unanswerable` (then `"facts": []`, `"source": ""`). Scoring:
- a `fact` reply is correct when every fact has at least one of its surface forms in it (case-insensitive);
- an `unanswerable` one when the assistant declines or offers a human (`is_decline`);
- a reply has an unsupported number when it states a number, price, duration, phone number or e-mail
  found in none of the passages given to the model (`assistant.grounding.claims.unsupported_claims`).
Reported: answer_accuracy (fact questions), fact_recall, decline_rate (unanswerable questions),
false_decline_rate, unsupported_number_rate (all replies), latency_ms_p50/p95 (the question's turn),
model_written_rate (answered turns whose reply is the model's own checked text, not quoted evidence),
apology_rate (answered turns whose reply says sorry),
source hit@1/hit@3 and the reader's ceiling (fact questions whose facts are all in the passages).

`extractive_baseline` is the trivial reader to beat: the two sentences of the top 3 passages closest
to the question in embedding space, quoted; it never declines.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from statistics import median
from typing import Callable, Iterable

from assistant.errors import InputError
from assistant.grounding.claims import unsupported_claims
from assistant.grounding.evidence import evidence_units, extractive_reply, pick_evidence

KINDS = ("fact", "unanswerable")
_DECLINE = re.compile(
    r"\b(?:human agent|real person|a person|support team will|connect you with|hand you (?:over|to)"
    r"|(?:couldn't|could not|can't|cannot|don't|do not) (?:find|see|have) (?:that|this|any|information|details)"
    r"|(?:not|isn't) (?:covered|mentioned) in)\b",
    re.I,
)


def load_questions(path: str | Path) -> list[dict]:
    """Read and validate a question file; every problem is reported at once."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read questions from {p}: {exc}") from exc
    rows, problems, ids = [], [], set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {n}: invalid JSON ({exc.msg})")
            continue
        if not isinstance(q, dict):
            problems.append(f"line {n}: expected an object")
            continue
        why = _check(q)
        if q.get("id") in ids:
            why.append(f"duplicate id {q.get('id')!r}")
        if why:
            problems.append(f"line {n}: " + "; ".join(why))
            continue
        ids.add(q["id"])
        rows.append(q)
    if problems:
        raise InputError(
            f"{p}: " + " | ".join(problems[:10]) + (f" (+{len(problems) - 10} more)" if len(problems) > 10 else "")
        )
    if not rows:
        raise InputError(f"{p}: no questions")
    return rows


def _check(q: dict) -> list[str]:
    why = []
    if not isinstance(q.get("id"), str) or not q["id"]:
        why.append("'id' must be a non-empty string")
    if not isinstance(q.get("question"), str) or not q["question"].strip():
        why.append("'question' must be a non-empty string")
    if q.get("kind") not in KINDS:
        why.append(f"'kind' must be one of {', '.join(KINDS)}")
    facts = q.get("facts")
    if not isinstance(facts, list) or not all(
        isinstance(f, list) and f and all(isinstance(x, str) and x for x in f) for f in facts
    ):
        why.append("'facts' must be a list of non-empty lists of strings")
    elif q.get("kind") == "fact" and not facts:
        why.append("a fact question needs at least one fact")
    elif q.get("kind") == "unanswerable" and facts:
        why.append("an unanswerable question has no facts")
    if not isinstance(q.get("history", []), list) or not all(isinstance(h, str) for h in q.get("history", [])):
        why.append("'history' must be a list of strings")
    return why


def is_decline(reply: str, action: str) -> bool:
    """The assistant declined or offered a human (by its decision, or in the words of the reply)."""
    return action in {"decline", "escalate"} or bool(_DECLINE.search(reply or ""))


def score_reply(q: dict, reply: str, action: str, passage_texts: Iterable[str]) -> dict:
    texts = list(passage_texts)
    low = (reply or "").lower()
    found = [any(form.lower() in low for form in fact) for fact in q["facts"]]
    declined = is_decline(reply, action)
    in_passages = [any(form.lower() in t.lower() for t in texts for form in fact) for fact in q["facts"]]
    if q["kind"] == "fact":
        correct = bool(found) and all(found)
    else:
        correct = declined
    return {
        "correct": correct,
        "facts_found": sum(found),
        "facts": len(found),
        "declined": declined,
        "unsupported": sorted(c.split(":", 1)[1] for c in unsupported_claims(reply or "", texts)),
        "facts_in_passages": bool(in_passages) and all(in_passages),
    }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(round(q * (len(v) - 1))))], 1)


def summarize(questions: list[dict], records: list[dict]) -> dict:
    facts = [r for q, r in zip(questions, records) if q["kind"] == "fact"]
    unans = [r for q, r in zip(questions, records) if q["kind"] == "unanswerable"]
    latencies = [r["latency_ms"] for r in records if r.get("latency_ms") is not None]
    sourced = [(q, r) for q, r in zip(questions, records) if q["kind"] == "fact" and q.get("source")]

    def hit(q, r, k):
        return any(Path(s).name == Path(q["source"]).name for s in r["sources"][:k])

    out = {
        "n": len(records),
        "n_fact": len(facts),
        "n_unanswerable": len(unans),
        "answer_accuracy": round(sum(r["correct"] for r in facts) / len(facts), 4) if facts else None,
        "fact_recall": round(sum(r["facts_found"] for r in facts) / max(1, sum(r["facts"] for r in facts)), 4)
        if facts
        else None,
        "decline_rate": round(sum(r["declined"] for r in unans) / len(unans), 4) if unans else None,
        "false_decline_rate": round(sum(r["declined"] for r in facts) / len(facts), 4) if facts else None,
        "unsupported_number_rate": round(sum(bool(r["unsupported"]) for r in records) / len(records), 4),
        "overall_accuracy": round(sum(r["correct"] for r in records) / len(records), 4),
        "latency_ms_p50": round(median(latencies), 1) if latencies else None,
        "latency_ms_p95": _pct(latencies, 0.95),
        "source_hit_at_1": round(sum(hit(q, r, 1) for q, r in sourced) / len(sourced), 4) if sourced else None,
        "source_hit_at_3": round(sum(hit(q, r, 3) for q, r in sourced) / len(sourced), 4) if sourced else None,
        "reader_ceiling": round(sum(r["facts_in_passages"] for r in facts) / len(facts), 4) if facts else None,
    }
    # Of the turns that answered (not declined, not escalated): the share whose reply is the model's
    # own text that passed the grounding check, not the quoted evidence.
    answered = [r for r in records if r.get("action") == "answer"]
    out["model_written_rate"] = (
        round(sum((r.get("grounding") or "") == "generated" for r in answered) / len(answered), 4) if answered else None
    )
    out["n_answered"] = len(answered)
    # Replies that apologise (the apology goes only to upset customers; the dev questions are mostly
    # calm, so a high share means apologies to plain questions). Declines say "I'm sorry" by design.
    out["apology_rate"] = (
        round(sum("sorry" in (r.get("reply") or "").lower() for r in answered) / len(answered), 4) if answered else None
    )
    grounding: dict[str, int] = {}
    for r in records:
        key = (r.get("grounding") or "none").split(":")[0]
        grounding[key] = grounding.get(key, 0) + 1
    out["grounding"] = grounding
    return out


def evaluate_assistant(
    assistant, questions: list[dict], progress: Callable[[int, int], None] | None = None
) -> list[dict]:
    """Ask every question through `assistant.respond` as a new conversation; one record per question."""
    records = []
    for i, q in enumerate(questions):
        conversation = assistant.start_conversation("eval")
        for earlier in q.get("history", []):
            assistant.respond(conversation, earlier)
        t0 = time.perf_counter()
        result = assistant.respond(conversation, q["question"])
        latency = (time.perf_counter() - t0) * 1000
        texts = [p.text for p in result.passages]
        records.append(
            {
                "id": q["id"],
                "reply": result.reply,
                "action": result.decision.action,
                "reason": result.decision.reason,
                "sources": [p.source for p in result.passages],
                "grounding": result.grounding,
                "latency_ms": round(latency, 1),
                **score_reply(q, result.reply, result.decision.action, texts),
            }
        )
        if progress:
            progress(i + 1, len(questions))
    return records


def extractive_baseline(retriever, questions: list[dict], k: int = 3, n: int = 2) -> list[dict]:
    """The trivial reader: the `n` sentences of the top `k` passages closest to the question, quoted."""
    records = []
    for q in questions:
        t0 = time.perf_counter()
        passages = retriever.search(q["question"], k)
        reply = extractive_reply(pick_evidence(q["question"], evidence_units(passages), retriever.embedder, n))
        latency = (time.perf_counter() - t0) * 1000
        records.append(
            {
                "id": q["id"],
                "reply": reply,
                "action": "answer",
                "reason": "",
                "sources": [p.source for p in passages],
                "grounding": "extractive",
                "latency_ms": round(latency, 1),
                **score_reply(q, reply, "answer", [p.text for p in passages]),
            }
        )
    return records


def write_replies(records: list[dict], out: str | Path) -> None:
    """One line per question: {"id", "reply", "action", "sources"} plus its scores."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def run_answer_eval(
    cfg,
    questions_path: str | Path,
    open_retriever,
    out: str | Path | None = None,
    baseline: bool = False,
    keep_in_store: bool = False,
    assistant=None,
    progress: Callable[[int, int], None] | None = None,
    per_question: bool = False,
) -> dict:
    """Build the assistant for `cfg` (unless given), ask every question, summarize; with `baseline`
    the extractive reader runs on the same retriever in the same run; with `per_question`, each
    question's outcome too (`{id: right}`, what the promotion gate pairs). Turns go to a throw-away
    SQLite store unless `keep_in_store`, so an eval never shows up in the operator's logs."""
    import dataclasses
    import tempfile

    from assistant.build import EVAL, build_assistant

    questions = load_questions(questions_path)
    with tempfile.TemporaryDirectory(prefix="loopdesk-eval-") as tmp:
        if assistant is None:
            if not keep_in_store:
                cfg = dataclasses.replace(cfg, store=dataclasses.replace(cfg.store, url=f"sqlite:///{tmp}/eval.db"))
            # EVAL: the live adapter loaded once, and every reply waits for the model (an eval measures
            # the model's answers, not how busy this machine is).
            assistant = build_assistant(cfg, open_retriever, EVAL)
        if not assistant.retriever:
            raise InputError(f"no knowledge base to answer from: {assistant.retriever_problem}")
        records = evaluate_assistant(assistant, questions, progress)
        result = {
            "questions": str(questions_path),
            "reader": cfg.generation.reader,
            "adapter": assistant.generator.adapter_id,
            **summarize(questions, records),
        }
        if per_question:
            result["per_question"] = {str(r["id"]): bool(r["correct"]) for r in records}
        if baseline:
            base = extractive_baseline(assistant.retriever, questions)
            result["extractive_baseline"] = summarize(questions, base)
    if out:
        write_replies(records, out)
    return result


def questions_hash(path: str | Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def compare_adapters(
    cfg, open_retriever, questions_path: str | Path, adapters: dict[str, Path | None], report=None
) -> dict:
    """Answer accuracy of each adapter (None: the base model) on one question set, same pipeline,
    same store, one model load; the live-adapter watcher is off so each run uses exactly its adapter."""
    import dataclasses
    import tempfile

    from assistant.build import EVAL, build_assistant

    with tempfile.TemporaryDirectory(prefix="loopdesk-eval-") as tmp:
        cfg = dataclasses.replace(cfg, store=dataclasses.replace(cfg.store, url=f"sqlite:///{tmp}/eval.db"))
        if report is not None:
            # Loading the pipeline (taggers, index, engine, the adapter converted for it) takes a minute on
            # a busy CPU: say so, rather than leave the previous stage's "about 4 s left" on screen.
            total = len(load_questions(questions_path)) * len(adapters)
            report("loading the chat pipeline to answer the questions", 0, total)
        assistant = build_assistant(cfg, open_retriever, EVAL)  # no watcher: each run keeps its adapter
        out = {}
        generator = assistant.generator
        for k, (name, path) in enumerate(adapters.items()):
            generator.set_adapter(path, adapter_id=None if path is None else Path(path).name)

            def progress(done: int, total: int, k: int = k, name: str = name) -> None:
                if report is not None:
                    report(f"answering the questions ({name})", k * total + done, len(adapters) * total)

            r = run_answer_eval(
                cfg, questions_path, open_retriever, assistant=assistant, per_question=True, progress=progress
            )
            out[name] = {
                k: r[k]
                for k in (
                    "answer_accuracy",
                    "fact_recall",
                    "decline_rate",
                    "unsupported_number_rate",
                    "latency_ms_p50",
                    "grounding",
                    "n",
                    "per_question",
                )
            }
    return out
