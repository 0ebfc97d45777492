"""Export a chat dataset from the store: `loopdesk finetune export --out DIR`.

Keeps imported answers, answers rated good and operator corrections (a correction replaces the
answer); drops answers rated bad without a correction, unrated answers and canned escalation
messages. Redacts PII (e-mails, phones, order ids by pattern; names by the NER tagger when it is
available) into placeholders such as `{{Order Number}}`, removes duplicates, and splits train/eval
deterministically (by a hash, stratified by intent where known). Writes `train.jsonl`,
`eval.jsonl` (TRL `messages` format), `data_card.json` and `conversations.json` (the ids of the
conversations the rows come from; each row also names its `conversation`), so that
`loopdesk store erase` can take an erased conversation out of every export (`erase_from_exports`).

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
                # Which conversation the row holds: `store erase` removes it from the export by this id.
                "conversation": ex["conversation_id"],
                "grounded": bool(passages),
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


EXPORT_FILES = {"train.jsonl", "eval.jsonl", "data_card.json", "conversations.json"}
CONVERSATIONS = "conversations.json"
SPLITS = ("train.jsonl", "eval.jsonl")


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
    """Select, redact and split the store's answers into `out` (train.jsonl, eval.jsonl, data_card.json,
    conversations.json).
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
    held = sorted({e["conversation"] for e in examples})
    (partial / CONVERSATIONS).write_text(json.dumps({"ids": held}))
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
        "conversations": len(held),
        "data_hash": data_hash,
        "format": f"TRL messages JSONL (system with passages, user, assistant), prompt {PROMPT_FORMAT}",
    }
    (partial / "data_card.json").write_text(json.dumps(card, indent=1))
    if out.exists():
        shutil.rmtree(out)  # an earlier export (export files only: checked above) is replaced whole
    partial.rename(out)
    return card


# --- erasure ----------------------------------------------------------------------------------
OLD_EXPORT = "made before exports recorded their conversations, so it cannot be checked: delete it or export again"


def export_dirs(roots: Iterable[str | Path]) -> list[Path]:
    """Export directories under `roots`: each root that is an export itself (it has a data card or a
    train.jsonl), else its subdirectories that are (stopped `.partial` exports included)."""
    found: list[Path] = []
    for root in map(Path, roots):
        if not root.is_dir():
            continue
        for d in [root] if _is_export(root) else sorted(p for p in root.iterdir() if p.is_dir()):
            if _is_export(d) and d not in found:
                found.append(d)
    return found


def _is_export(d: Path) -> bool:
    return (d / "data_card.json").is_file() or (d / "train.jsonl").is_file()


def erase_exports(cfg, ids: list[str], extra_dirs: Iterable[str | Path] = ()) -> dict:
    """`loopdesk store erase`: `erase_from_exports` over the console's exports (where its Export job
    writes them) and `extra_dirs` (`--exports`)."""
    from finetune.jobs import LearningLoop

    return erase_from_exports(ids, [LearningLoop(cfg).datasets_dir, *extra_dirs])


def erase_from_exports(ids: Iterable[str], roots: Iterable[str | Path]) -> dict:
    """Take the rows of conversations `ids` out of every export under `roots`. Returns
    `{"exports": [{"path", "train", "eval", "rows"}] (one per export that held any of them),
    "unchecked": [{"path", "why"}]}` — an export that cannot be checked (made before rows named their
    conversation) is named there, never skipped in silence. Each file is replaced atomically (a temp
    file renamed over it); the id list is rewritten after the rows and the card last, so an erase that
    is stopped half way finds the ids again when run again."""
    wanted = set(ids)
    out: dict[str, list] = {"exports": [], "unchecked": []}
    for d in export_dirs(roots):
        card = _json_file(d / "data_card.json")
        if card is not None and "knowledge_bases" in card and not (d / CONVERSATIONS).exists():
            continue  # `finetune grounded-data`: generated from help articles, holds no conversation
        index = _json_file(d / CONVERSATIONS)
        if not isinstance(index, dict) or not isinstance(index.get("ids"), list):
            out["unchecked"].append({"path": str(d), "why": OLD_EXPORT})
            continue
        held = set(index["ids"])
        if not held & wanted:
            continue
        removed = _rewrite_without(d, wanted, card)
        if removed is None:
            out["unchecked"].append({"path": str(d), "why": OLD_EXPORT})
            continue
        out["exports"].append({"path": str(d), **removed, "rows": removed["train"] + removed["eval"]})
    return out


def _json_file(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _replace(path: Path, text: str) -> None:
    """Write `text` to `path` atomically: a reader sees the old file or the new one, never a part."""
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _rewrite_without(d: Path, wanted: set[str], card: dict | None) -> dict | None:
    """Rewrite one export without the rows of `wanted`; None when a row does not name its conversation."""
    kept: dict[str, list[str]] = {}
    removed = {"train": 0, "eval": 0}
    origins: Counter = Counter()
    grounded: Counter = Counter()
    for name in SPLITS:
        lines = (d / name).read_text(encoding="utf-8").splitlines() if (d / name).is_file() else []
        kept[name] = []
        for line in lines:
            if not line.strip():
                continue
            row = json.loads(line)
            if "conversation" not in row:
                return None
            if row["conversation"] in wanted:
                removed[name.split(".")[0]] += 1
                origins[row.get("origin") or ""] += 1
                grounded["grounded" if row.get("grounded") else "ungrounded"] += 1
            else:
                kept[name].append(line)
    digest = hashlib.sha256()
    for name in SPLITS:
        text = "".join(line + "\n" for line in kept[name])
        digest.update(text.encode())
        if (d / name).is_file():
            _replace(d / name, text)
    index = _json_file(d / CONVERSATIONS) or {}
    _replace(d / CONVERSATIONS, json.dumps({**index, "ids": [i for i in index.get("ids", []) if i not in wanted]}))
    if card is not None:
        card["train"] = card.get("train", 0) - removed["train"]
        card["eval"] = card.get("eval", 0) - removed["eval"]
        kept_counts = card.get("kept") or {}
        for origin, n in origins.items():
            if origin in kept_counts:
                kept_counts[origin] -= n
        for k, n in grounded.items():
            if k in card:
                card[k] -= n
        if "conversations" in card:
            card["conversations"] = len(index.get("ids", [])) - len(set(index.get("ids", [])) & wanted)
        card["data_hash"] = digest.hexdigest()[:16]  # as `write_split` computes it
        card["erased"] = {
            "rows": (card.get("erased") or {}).get("rows", 0) + removed["train"] + removed["eval"],
            "last_at": datetime.now(timezone.utc).isoformat(),
        }
        _replace(d / "data_card.json", json.dumps(card, indent=1))
    return removed
