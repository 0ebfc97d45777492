"""Export a chat dataset from the store: `loopdesk finetune export --out DIR`.

Keeps imported answers, answers rated good and operator corrections (a correction replaces the
answer); drops answers rated bad without a correction, unrated answers and canned escalation
messages. Redacts PII (e-mails, phones, order ids by pattern; names by the NER tagger when it is
available) into placeholders such as `{{Order Number}}`, removes duplicates, and splits train/eval
deterministically (by a hash, stratified by intent where known). Writes `train.jsonl`,
`eval.jsonl` (TRL `messages` format) and `data_card.json`.

Each example is built with `assistant.turn.prompts.build_messages`, the prompt format of inference, with
the passages the model saw in that turn (stored with the turn), so an adapter learns to answer from
passages; imported transcripts and turns logged before passages were stored have none, and the
data card counts them apart (`ungrounded`).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from assistant.taggers.entity_patterns import find_pattern_entities
from assistant.errors import InputError
from assistant.turn.prompts import PROMPT_FORMAT, build_messages
from assistant.types import Entity, Passage, Sentiment, Tags

PLACEHOLDERS = {
    "EMAIL": "{{Email Address}}",
    "PHONE": "{{Phone Number}}",
    "ORDER_ID": "{{Order Number}}",
    "PER": "{{Customer Name}}",
}
SAME_KIND = {"EMAIL": "EMAIL_ADDRESS", "PHONE": "PHONE_NUMBER"}  # our patterns' names -> Presidio's


def _word_count(messages: list[dict]) -> int:
    # Export never truncates: every stored prompt fits, so a rough count is enough for the budget.
    return sum(len(m["content"].split()) for m in messages)


def stored_tags(user_turn: dict, redacted_user: str) -> Tags:
    """The tags the served prompt was built with, from the stored customer turn: its sentiment, and
    the entities still in the redacted text (what redaction removed is personal and stays out)."""
    label = user_turn.get("sentiment")
    sentiment = Sentiment(label, dict(user_turn.get("sentiment_scores") or {})) if label else None
    entities = [
        Entity(e["type"], e["text"], int(e.get("start", 0)), int(e.get("end", 0)), float(e.get("score", 1.0)))
        for e in user_turn.get("entities") or []
        if isinstance(e, dict) and e.get("type") and e.get("text") and e["text"] in redacted_user
    ]
    return Tags(language=user_turn.get("language") or "unknown", sentiment=sentiment, entities=entities)


def grounded_messages(
    user: str, answer: str, passages: list[dict], business_name: str, tags: Tags | None = None
) -> list[dict]:
    """One training conversation in the inference prompt format (`assistant.turn.prompts`, the same
    "About this customer" line when `tags` say something), from a stored turn's passages."""
    ps = [
        Passage(
            p.get("id", ""),
            p["text"],
            p.get("source", ""),
            p.get("heading", ""),
            p.get("score", 0.0),
            p.get("title", ""),
        )
        for p in passages
        if p.get("text")
    ]
    return build_messages([], user, ps, tags or Tags(), _word_count, 10**9, business_name) + [
        {"role": "assistant", "content": answer}
    ]


class Redactor:
    """Payment data, national ids, e-mails and phones first (Presidio, `assistant.taggers.pii`), then order
    numbers (our patterns) and customer names (our NER) in what is left."""

    def __init__(self, ner=None, home=None) -> None:
        from assistant.taggers.pii import PiiRedactor

        self.ner, self.pii = ner, PiiRedactor(contact=True, home=home)

    def __call__(self, text: str) -> tuple[str, Counter]:
        text, counts = self.pii(text)
        spans = [
            e
            for e in find_pattern_entities(text)
            if e.type in PLACEHOLDERS and not _inside_placeholder(text, e.start, e.end)
        ]
        if self.ner:  # an Unavailable tagger is falsy: contacts and ids are still replaced
            spans += [
                e
                for e in self.ner.model_entities(text)
                if e.type == "PER"
                and not any(e.start < s.end and s.start < e.end for s in spans)
                and not _inside_placeholder(text, e.start, e.end)
            ]
        for e in sorted(spans, key=lambda x: -x.start):
            text = text[: e.start] + PLACEHOLDERS[e.type] + text[e.end :]
            counts[SAME_KIND.get(e.type, e.type)] += 1  # one name per kind in the data card
        return text, counts


def _inside_placeholder(text: str, start: int, end: int) -> bool:
    """A span that touches a {{Placeholder}} already put in (never redact a placeholder's words)."""
    return any(m.start() < end and start < m.end() for m in re.finditer(r"\{\{[^{}]*\}\}", text))


def _latest(feedback: list[dict]) -> tuple[int | None, str | None]:
    rating, correction = None, None
    for f in feedback:  # oldest first: later judgements win
        rating = f["rating"] if f["rating"] else rating
        correction = f["correction"] or correction
    return rating, correction


def select_examples(
    exchanges: Iterable[dict], redact: Redactor, business_name: str = "Northwind Goods", on_exchange=None
) -> tuple[list[dict], Counter, Counter]:
    counts: Counter = Counter()
    pii: Counter = Counter()
    seen, out = set(), []
    for i, ex in enumerate(exchanges):
        if on_exchange:
            on_exchange(i)
        turn = ex["turn"]
        rating, correction = _latest(ex["feedback"])
        if turn.get("escalation") in {"human_requested", "unsupported_language"}:
            counts["dropped_escalation"] += 1
            continue
        if correction:
            answer, reason = correction, "corrected"
        elif ex["source"] == "imported":
            answer, reason = turn["text"], "imported"
        elif rating == 1:
            answer, reason = turn["text"], "rated_good"
        elif rating == -1:
            counts["dropped_rated_bad"] += 1
            continue
        else:
            counts["dropped_unrated"] += 1
            continue
        user, c1 = redact(ex["user_turn"]["text"])
        answer, c2 = redact(answer)
        pii.update(c1 + c2)
        key = hashlib.sha256(f"{' '.join(user.lower().split())}\x1f{' '.join(answer.split())}".encode()).hexdigest()
        if key in seen:
            counts["dropped_duplicate"] += 1
            continue
        seen.add(key)
        counts[reason] += 1
        passages = [p for p in (turn.get("passages") or []) if isinstance(p, dict) and p.get("text")]
        counts["grounded" if passages else "ungrounded"] += 1
        tags = stored_tags(ex["user_turn"], user)  # the served prompt's "About this customer" line
        out.append(
            {
                "messages": grounded_messages(user, answer, passages, business_name, tags),
                "intent": ex.get("intent"),
                "origin": reason,
                "key": key[:16],
            }
        )
    return out, counts, pii


def split(examples: list[dict], eval_fraction: float) -> tuple[list[dict], list[dict]]:
    """Per intent, the examples with the smallest key hashes go to eval (deterministic, stratified)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for e in examples:
        groups[e["intent"] or "unknown"].append(e)
    train, evals = [], []
    for _, items in sorted(groups.items()):
        items.sort(key=lambda e: e["key"])
        n_eval = round(len(items) * eval_fraction) if len(items) >= 5 else 0
        evals += items[:n_eval]
        train += items[n_eval:]
    return sorted(train, key=lambda e: e["key"]), sorted(evals, key=lambda e: e["key"])


EXPORT_FILES = {"train.jsonl", "eval.jsonl", "data_card.json"}


def write_split(out: Path, train: list[dict], evals: list[dict]) -> str:
    """Write train.jsonl and eval.jsonl (TRL messages) into `out`; return the hash of their text."""
    out.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    for name, rows in (("train.jsonl", train), ("eval.jsonl", evals)):
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        digest.update(text.encode())
        (out / name).write_text(text, encoding="utf-8")
    return digest.hexdigest()[:16]


def export_dataset(
    store,
    out: str | Path,
    redactor: Redactor | None = None,
    eval_fraction: float = 0.1,
    business_name: str = "Northwind Goods",
    report=None,
) -> dict:
    """Select, redact and split the store's answers into `out` (train.jsonl, eval.jsonl, data_card.json).
    The files are written into `<out>.partial` and renamed when complete, so an export that is stopped
    (Cancel in the console, a crash) never leaves a dataset that looks finished. `report(stage, done,
    total)` hears how far it is (a `assistant.progress.ProgressFile`)."""
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    for d in (out, partial):
        # Never replace something that is not an earlier export (a typo in --out must lose nothing).
        if d.is_file() or (d.is_dir() and {p.name for p in d.iterdir()} - EXPORT_FILES):
            raise InputError(f"{d} exists and holds more than an earlier export: choose a new directory")
    total = store.reply_count()
    stage = "reading and redacting the logs"

    def tick(i: int) -> None:
        if report and (i % 20 == 0 or i == total - 1):  # a file write per 20 replies is plenty
            report(stage, i, total)

    if report:
        report(stage, 0, total)
    examples, counts, pii = select_examples(store.exchanges(), redactor or Redactor(), business_name, tick)
    if not examples:
        raise InputError(
            "no usable turns to export: rate answers, write corrections or import transcripts first "
            f"(seen: {dict(counts) or 'no assistant turns'})"
        )
    train, evals = split(examples, eval_fraction)
    if report:
        report("writing the dataset", total, total)
    if partial.exists():
        shutil.rmtree(partial)  # left by an export that was stopped (it holds export files only: checked)
    data_hash = write_split(partial, train, evals)
    card = {
        "created_at": datetime.now(timezone.utc).isoformat(),
        "store": store.url.split("@")[-1],
        "kept": {k: v for k, v in counts.items() if not k.startswith("dropped") and not k.endswith("grounded")},
        "grounded": counts["grounded"],
        "ungrounded": counts["ungrounded"],
        "dropped": {k[8:]: v for k, v in counts.items() if k.startswith("dropped")},
        "pii_redacted": dict(pii),
        "train": len(train),
        "eval": len(evals),
        "eval_fraction": eval_fraction,
        "intents": len({e["intent"] for e in examples if e["intent"]}),
        "data_hash": data_hash,
        "format": f"TRL messages JSONL (system with passages, user, assistant), prompt {PROMPT_FORMAT}",
    }
    (partial / "data_card.json").write_text(json.dumps(card, indent=1))
    if out.exists():
        shutil.rmtree(out)  # an earlier export (export files only: checked above) is replaced whole
    partial.rename(out)
    return card
