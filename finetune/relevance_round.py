"""A round of the learning loop for the learned relevance parts, from the store's own feedback.

    loopdesk finetune relevance-round [--promote] [--by NAME] --json

What operators said about replies becomes labelled questions (`feedback_examples`):
- a coverage label ("in the pages" / "not in the pages", the console's turn tools) says it outright;
- a correction says the pages cover it, and the correction is the answer;
- a reply an operator marked good was right: when it declined, the pages do not cover the question;
  otherwise they do, and the reply is the answer.
Customers' thumbs are not used: "not helpful" does not say whether the pages had the answer. Nor is a
good handoff, or an operator's own reply after a decline (operators know things the pages do not say):
label such a turn "in the pages" when the pages do answer it. The latest explicit coverage label wins
over what a rating implies.

On the labelled questions, as `benchmarks/loop_gain.py` does with the dev KBs' ground truth:
- the decline threshold is re-chosen (missed declines + 5 x false declines, as `finetune relevance`);
- the live unit encoder is trained one more epoch on the questions' picked units, a unit counting as the
  answer when it shares most of its words with the approved answer (`holds_answer`).
The candidate (a relevance.json beside the live one's parts) is compared with the live model by
`finetune.gate.round_verdict` on two parts: **reach**, every labelled question judged by a candidate
built the same way *without* it (three folds by turn id: cross-fitted, so no question is judged by a model
that learnt from it; declined iff not covered, else the first kept unit holds the answer), and **held**,
the configured promotion questions (`evaluation.answer_questions`: declined iff unanswerable; else the
kept units hold every fact), judged with the candidate built from all the feedback. Step 4 of the chat's
own turn (`Assistant.find`) decides both, so a round costs retrieval and ranking, not generation: a
minute or two plus four short epochs of the encoder.

`--promote` records a better candidate as the live relevance model in the database
(`Store.deploy_if("live_relevance", ...)`); every replica's `RelevanceWatcher` loads it between turns,
without a restart. `finetune relevance-rollback` goes back to the one before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from assistant.grounding.live_relevance import KEY
from assistant.grounding.words import content_words, stem

log = logging.getLogger("loopdesk.relevance_round")

LIVE_KEY = KEY  # the record every replica's RelevanceWatcher follows
MIN_EACH = 3
"""Fewer covered or uncovered questions than this and the threshold is kept (a cost over two labels
is noise)."""
MIN_EXAMPLES = 9
"""Fewer labelled questions than this and a round is refused: three per fold at least."""
FOLDS = 3
MIN_PAIRS = 4
"""Fewer question/answer-unit pairs than this and the unit encoder is kept (`train_unit_encoder`'s floor)."""
REPEAT = 3
"""How many times a reviewed question counts in the encoder's epoch (as in `benchmarks/loop_gain.py`)."""
REPLAY_PER_ROW = 3
"""Rows the encoder learnt before, mixed in per reviewed question (as in `benchmarks/loop_gain.py`)."""
HOLDS_SHARE = 0.6
"""A unit holds the answer when at least this share of its content words (stemmed) occur in the approved
answer, and at least two do; or when it has a number of the answer and a third of its words. Chosen by
agreement with the dev KBs' fact labels, the correction being the page's sentences that hold the facts
(`/tmp` check over the stored relevance rows): at 0.6 unit precision 0.48-0.93 and recall 0.36-0.91 by
KB, the first unit's label agreeing 0.74-0.98; 0.4 and 0.5 were less precise on all five KBs."""
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


@dataclass
class Example:
    """One labelled customer question."""

    turn_id: int
    question: str
    history: list[dict] = field(default_factory=list)
    covered: bool = True
    answer: str = ""
    why: str = ""

    @property
    def fold(self) -> int:
        """Which of the FOLDS it is judged in (stable across runs: a hash of the turn id)."""
        return int(hashlib.sha256(str(self.turn_id).encode()).hexdigest(), 16) % FOLDS


def _words(text: str) -> set[str]:
    return {stem(w) for w in content_words(text)}


def holds_answer(unit_text: str, answer: str) -> bool:
    """Whether a picked unit ("heading: text") carries the approved answer (see HOLDS_SHARE)."""
    body = unit_text.split(": ", 1)[1] if ": " in unit_text else unit_text
    unit, said = _words(body), _words(answer)
    if not unit or not said:
        return False
    shared = len(unit & said)
    numbers = set(_NUMBER.findall(body)) & set(_NUMBER.findall(answer))
    return (shared >= 2 and shared >= HOLDS_SHARE * len(unit)) or (bool(numbers) and shared >= len(unit) / 3)


def feedback_examples(store) -> list[Example]:
    """The labelled questions the store's operator feedback gives (see the module docstring)."""
    found: dict[int, Example] = {}
    for ex in store.exchanges():
        user, reply = ex["user_turn"], ex["turn"]
        ops = [f for f in ex["feedback"] if f.get("source") == "operator"]
        if not ops or user.get("role") != "user":
            continue
        last = ops[-1]
        declined = reply.get("escalation") == "not_covered"  # how a decline is logged (Decision.reason)
        if reply.get("escalation") and not declined and not last.get("correction"):
            continue  # a good handoff says nothing of the pages (a coverage label still can)
        if last.get("correction"):
            covered, answer, why = True, last["correction"], "correction"
        elif last["rating"] == 1:
            covered, answer, why = (False, "", "good decline") if declined else (True, reply["text"], "good reply")
        else:
            continue
        found[user["id"]] = Example(user["id"], user["text"], covered=covered, answer=answer, why=why)
    for label in store.labels_for("covered"):
        tid, covered = label["turn_id"], bool(label["value"])
        ex = found.get(tid) or Example(tid, label["text"])
        ex.covered, ex.why = covered, "coverage label"
        if not covered:
            ex.answer = ""
        found[tid] = ex
    for ex in found.values():
        turn = store.turn(ex.turn_id)
        if turn is not None:
            earlier = [t for t in store.history(turn["conversation_id"], limit=10_000) if t["id"] < ex.turn_id]
            ex.history = [{"role": "user", "text": t["text"]} for t in earlier if t["role"] == "user"][-4:]
    return sorted(found.values(), key=lambda e: e.turn_id)


def choose_threshold(probs: list[tuple[float, bool]], current: float) -> tuple[float, dict]:
    """The decline threshold that fits (P(answerable), covered) pairs best: missed declines + 5 x false
    declines (`finetune.relevance.FALSE_DECLINE_COST`); ties keep the threshold nearest the current one."""
    from finetune.relevance import FALSE_DECLINE_COST

    n_cov, n_unc = sum(c for _, c in probs), sum(not c for _, c in probs)
    if n_cov < MIN_EACH or n_unc < MIN_EACH:
        return current, {"labels": len(probs), "why": f"too few labels of each kind (under {MIN_EACH}): kept"}

    def cost(t: float) -> float:
        missed = sum(p >= t for p, c in probs if not c) / n_unc
        false = sum(p < t for p, c in probs if c) / n_cov
        return missed + FALSE_DECLINE_COST * false

    grid = [round(0.05 + 0.01 * i, 2) for i in range(91)]
    best = min(grid, key=lambda t: (round(cost(t), 6), abs(t - current)))
    return best, {
        "labels": len(probs),
        "covered": n_cov,
        "uncovered": n_unc,
        "cost_before": round(cost(current), 3),
        "cost_after": round(cost(best), 3),
    }


def _found(assistant, question: str, history: list[dict]):
    from assistant.types import Tags

    return assistant.find(question, history, Tags())


def feedback_outcome(found, ex: Example) -> bool:
    """Did step 4 get a labelled question right: declined iff not covered; else answered with the first
    kept unit holding the approved answer."""
    if not ex.covered:
        return not found.answerable
    if not ex.answer:  # labelled "in the pages" without an answer: answering at all is right
        return bool(found.answerable)
    if not found.answerable or not found.evidence:
        return False
    first = found.picked.index(found.evidence[0]) if found.evidence[0] in found.picked else 0
    return holds_answer(found.unit_texts[first], ex.answer)


def question_outcome(found, q: dict) -> bool:
    """Did step 4 get a promotion question right: declined iff it is not a `fact` question; else
    answered with every fact in the kept units."""
    if q.get("kind") != "fact":
        return not found.answerable
    if not found.answerable:
        return False
    kept = " ".join(u.text for u, _ in found.evidence).lower()
    return all(any(form.lower() in kept for form in fact) for fact in q.get("facts") or [])


def held_outcomes(assistant, questions: list[dict]) -> dict[str, bool]:
    """Per-question outcomes of `assistant` on the promotion questions."""
    held = {}
    for q in questions:
        history = [{"role": "user", "text": h} for h in q.get("history", [])]
        held[str(q["id"])] = question_outcome(_found(assistant, q["question"], history), q)
    return held


def encoder_rows(examples: list[Example], seen: dict[int, Any]) -> list[dict]:
    """Unit-encoder training rows (`finetune.unit_encoder.training_pairs`) from covered examples, with
    the units the live model picked for them (`seen`: turn id -> its `Found`)."""
    rows = []
    for e in examples:
        if not e.covered or not e.answer:
            continue
        found = seen[e.turn_id]
        rows.append(
            {
                "kb": "feedback",
                "id": f"turn-{e.turn_id}",
                "answerable": True,
                "query": found.query,
                "unit_texts": found.unit_texts,
                "unit_labels": [holds_answer(t, e.answer) for t in found.unit_texts],
            }
        )
    return rows


def replay_rows(data: dict) -> list[dict]:
    """The rows named by a model's `"replay"` (resolved to an absolute path by `_resolved`); none when it
    names none or the file is unreadable (the round then trains on the feedback alone, and says so)."""
    path = data.get("replay")
    if not path:
        return []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return [r for r in map(json.loads, lines) if r.get("answerable") and r.get("unit_texts")]
    except (OSError, ValueError) as exc:
        log.warning("replay rows %s unreadable (%s): the round trains on the feedback alone", path, exc)
        return []


def _resolved(live_file: Path, data: dict) -> dict:
    """The live model's parts as absolute paths, so the candidate's file can live in its own folder."""
    out = dict(data)
    for key in ("reranker", "unit_encoder", "replay"):
        if out.get(key):
            out[key] = str((live_file.parent / out[key]).resolve())
    return out


def build_candidate(
    cfg, live, live_file: Path, teach: list[Example], seen: dict[int, Any], out_dir: Path, train_encoder, report
) -> tuple[Path, dict]:
    """A relevance.json in `out_dir` with the threshold re-chosen on `teach` and, when the live model has
    a unit encoder and `teach` has enough pairs, that encoder trained one more epoch on them: each counted
    REPEAT times, with up to REPLAY_PER_ROW rows per pair of what it learnt before (the model's
    `"replay"` file: the dev KBs' rows), so that a few dozen questions of one deployment do not make it
    forget the rest (`benchmarks/loop_gain.py` measured this recipe)."""
    current = live.answerable.threshold
    threshold, how = choose_threshold([(seen[e.turn_id].answer_p, e.covered) for e in teach], current)
    data = _resolved(live_file, json.loads(live_file.read_text(encoding="utf-8")))
    data["answerable"]["threshold"] = threshold
    out_dir.mkdir(parents=True, exist_ok=True)
    encoder: dict[str, Any] = {"why": "the live relevance model has no unit encoder"}
    if live.unit_encoder_dir is not None:
        rows = encoder_rows(teach, seen)
        pairs = sum(any(r["unit_labels"]) and not all(r["unit_labels"]) for r in rows)
        if pairs < MIN_PAIRS:
            encoder = {"why": f"{pairs} questions with an answering and a non-answering unit (under {MIN_PAIRS}): kept"}
        else:
            replay = replay_rows(data)
            mixed = random.Random(0).sample(replay, min(len(replay), REPLAY_PER_ROW * pairs))
            report(f"training the unit encoder one epoch on {pairs} questions + {len(mixed)} replayed ({out_dir.name})")
            card = train_encoder(rows + mixed, out_dir / "unit-encoder", cfg, start_from=live.unit_encoder_dir)
            data["unit_encoder"] = "unit-encoder"
            encoder = {"pairs": card.get("pairs"), "seconds": card.get("seconds"), "replayed": len(mixed)}
    info = {"threshold": {"live": round(current, 3), "candidate": threshold, **how}, "unit_encoder": encoder}
    data.setdefault("meta", {})["round"] = {
        "from": str(live_file),
        **info,
        "examples": len(teach),
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = out_dir / "relevance.json"
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path, info


def _load(path: Path):
    from assistant.grounding.relevance import Relevance

    model = Relevance.load(path)
    if model.problem:
        raise _input(f"the candidate did not load: {model.problem}")
    return model


def run_round(
    cfg,
    assistant,
    live_file: Path,
    out_dir: Path,
    questions: list[dict],
    report: Callable[[str], None] = lambda m: None,
    train_encoder: Callable[..., dict] | None = None,
) -> dict:
    """Build a candidate from the store's feedback and judge it against the live model. `assistant`:
    built with the live model (`assistant.relevance`); it is left with the live model. `train_encoder`:
    `finetune.unit_encoder.train_unit_encoder` (a stand-in in unit tests).

    Reach is cross-fitted: the feedback is split in FOLDS by turn id; each fold is judged by a candidate
    built from the other folds, so every reviewed question counts once and none is judged by a model that
    learnt from it. The candidate promoted is then built from all of it the same way (the verdict is on the
    procedure); held questions judge that one."""
    from finetune.gate import round_verdict

    t0 = time.perf_counter()
    live = assistant.relevance
    if live.answerable is None:
        raise _input(f"the live relevance model is unavailable ({live.problem}): nothing to retrain")
    examples = feedback_examples(assistant.store)
    folds = [[e for e in examples if e.fold == k] for k in range(FOLDS)]
    report(f"{len(examples)} labelled questions in {FOLDS} folds of {', '.join(str(len(f)) for f in folds)}")
    if len(examples) < MIN_EXAMPLES or not all(folds):
        n = len(examples)
        raise _input(
            f"too little feedback for a round ({n} labelled question{'' if n == 1 else 's'}; {MIN_EXAMPLES} at "
            "least): rate, correct or label the coverage of more replies in the console"
        )
    train = train_encoder or _train_unit_encoder
    seen = {e.turn_id: _found(assistant, e.question, e.history) for e in examples}
    live_reach = {f"turn-{e.turn_id}": feedback_outcome(seen[e.turn_id], e) for e in examples}
    cand_reach: dict[str, bool] = {}
    for k, check in enumerate(folds):
        teach = [e for e in examples if e.fold != k]
        path, _ = build_candidate(cfg, live, live_file, teach, seen, out_dir / f"fold-{k}", train, report)
        assistant.relevance = _load(path)
        try:
            for e in check:
                cand_reach[f"turn-{e.turn_id}"] = feedback_outcome(_found(assistant, e.question, e.history), e)
        finally:
            assistant.relevance = live
            shutil.rmtree(out_dir / f"fold-{k}", ignore_errors=True)  # judged; only the final one is kept
    cand_file, info = build_candidate(cfg, live, live_file, examples, seen, out_dir, train, report)
    candidate = _load(cand_file)
    report(f"gate: {len(examples)} feedback questions (reach, cross-fitted), {len(questions)} promotion questions")
    live_held = held_outcomes(assistant, questions)
    assistant.relevance = candidate
    try:
        cand_held = held_outcomes(assistant, questions)
    finally:
        assistant.relevance = live
    verdict = round_verdict((cand_reach, live_reach), (cand_held, live_held))
    return {
        "candidate": str(cand_file),
        "examples": {"n": len(examples), "folds": [len(f) for f in folds], "kinds": _kinds(examples)},
        "data_hash": feedback_hash(examples),
        "right": {
            "reach": {"candidate": _share(cand_reach), "live": _share(live_reach)},
            "held": {"candidate": _share(cand_held), "live": _share(live_held)},
        },
        **info,
        "gate": {k: verdict[k] for k in ("n", "wins", "losses", "ties", "p_value", "better", "reach", "held", "why")},
        "better": verdict["better"],
        "minutes": round((time.perf_counter() - t0) / 60, 2),
    }


def _share(outcomes: dict[str, bool]) -> float | None:
    return round(sum(outcomes.values()) / len(outcomes), 3) if outcomes else None


def feedback_hash(examples: list[Example]) -> str:
    """What a round learnt from, as one hash (the experiment tracker's data hash)."""
    body = json.dumps([[e.turn_id, e.covered, e.answer] for e in examples], ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def track(cfg, result: dict, by: str) -> dict:
    """Record a finished round in the experiment tracker (`finetune/tracking.py`), as training runs are."""
    from finetune.tracking import location, record_run

    gate, thr = result["gate"], result["threshold"]
    verdict = "promoted" if result.get("promoted") else "not promoted"
    return record_run(
        location(cfg),
        "relevance",
        name=Path(result["candidate"]).parent.name,
        what=(
            f"Answer-relevance round on {result['examples']['n']} reviewed questions: decline threshold "
            f"{thr['live']:.2f} → {thr['candidate']:.2f}; {verdict} ({gate['why']})"
        ),
        params={
            "examples": result["examples"]["n"],
            "threshold_live": thr["live"],
            "threshold_candidate": thr["candidate"],
            "unit_encoder_pairs": result["unit_encoder"].get("pairs") or 0,
            "candidate": result["candidate"],
        },
        metrics={
            "reach_right_candidate": result["right"]["reach"]["candidate"],
            "reach_right_live": result["right"]["reach"]["live"],
            "held_right_candidate": result["right"]["held"]["candidate"],
            "held_right_live": result["right"]["held"]["live"],
            "better": gate["wins"],
            "worse": gate["losses"],
            "same": gate["ties"],
            "p_value": gate["p_value"],
        },
        data_hash=result["data_hash"],
        by=by,
        seconds=result["minutes"] * 60,
    )


def _kinds(examples: list[Example]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in examples:
        out[e.why] = out.get(e.why, 0) + 1
    return out


def _input(message: str):
    from assistant.errors import InputError

    return InputError(message)


def _train_unit_encoder(rows: list[dict], out: Path, cfg, start_from: Path) -> dict:
    from assistant.models import resolve
    from finetune.unit_encoder import train_unit_encoder

    base = Path(resolve(cfg.models.embedder, cfg.home).location)
    if out.exists():
        shutil.rmtree(out)
    return train_unit_encoder(
        rows, out, base, epochs=1, repeat={"feedback": REPEAT}, report=lambda m: None, start_from=start_from
    )


# --- the live record every replica follows --------------------------------------------------------


def live_record(store) -> dict | None:
    return store.deployed(LIVE_KEY)


def promote(store, candidate: Path, by: str, gate: dict) -> dict:
    """Record `candidate` as the live relevance model (compare-and-set: of two promotions at once,
    one wins; the other gets an InputError)."""
    record = live_record(store) or {}
    version = candidate.parent.name
    previous = [*record.get("previous", []), *([record] if record.get("version") else [])][-10:]
    new = {
        "version": version,
        "path": str(candidate.resolve()),
        "by": by,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "gate": {k: gate.get(k) for k in ("n", "wins", "losses", "p_value", "why")},
        "previous": [{k: v for k, v in p.items() if k != "previous"} for p in previous],
    }
    if not store.deploy_if(LIVE_KEY, new, record.get("version")):
        raise _input("another promotion of the relevance model happened meanwhile: run the round again")
    return new


def rollback(store, by: str) -> dict:
    """Back to the relevance model before the live one (the configured file when none was promoted before)."""
    record = live_record(store)
    if not record or not record.get("version"):
        raise _input("no promoted relevance model to roll back from (the configured one is live)")
    previous = list(record.get("previous", []))
    back = previous.pop() if previous else {"version": None, "path": None}
    new = {**back, "by": by, "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "previous": previous}
    if not store.deploy_if(LIVE_KEY, new, record["version"]):
        raise _input("the live relevance model changed meanwhile: look again and retry")
    return new
