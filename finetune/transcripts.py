"""Import transcripts into the store, idempotently: `loopdesk finetune import FILE`.

CSV or JSONL. Columns are detected (request: instruction/request/question/user/customer; answer:
response/answer/assistant/agent; optional intent), or given explicitly. JSONL rows may instead
carry TRL-style `messages`. Each request/answer pair becomes a conversation marked `imported`,
keyed by a hash of its text, so importing the same file twice adds nothing. Malformed rows are
reported (line and reason) and skipped.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from assistant.errors import InputError

USER_COLUMNS = ("instruction", "request", "question", "user", "customer", "prompt")
ANSWER_COLUMNS = ("response", "answer", "assistant", "agent", "reply", "completion")
MAX_CHARS = 20_000


def _find(columns: list[str], wanted: str | None, candidates: tuple[str, ...]) -> str | None:
    if wanted:
        return wanted if wanted in columns else None
    lower = {c.lower(): c for c in columns}
    return next((lower[c] for c in candidates if c in lower), None)


def read_pairs(path: str | Path, user_column: str | None = None, answer_column: str | None = None,
               intent_column: str | None = "intent") -> tuple[list[dict], list[dict]]:
    """(pairs, problems): pairs have user, assistant, intent, line; problems have line and reason."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    rows: list[tuple[int, object]] = []
    problems: list[dict] = []
    if p.suffix.lower() == ".jsonl":
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                problems.append({"line": n, "reason": f"invalid JSON: {exc.msg}"})
    elif p.suffix.lower() in {".csv", ".tsv"}:
        with p.open(encoding="utf-8", errors="replace", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t" if p.suffix.lower() == ".tsv" else ",")
            rows = [(n, r) for n, r in enumerate(reader, 2)]
    else:
        raise InputError(f"{p}: import reads .csv, .tsv or .jsonl")
    pairs = []
    for n, row in rows:
        if not isinstance(row, dict):
            problems.append({"line": n, "reason": "not an object"})
            continue
        if isinstance(row.get("messages"), list):
            msgs = [m for m in row["messages"] if isinstance(m, dict)]
            users = [m.get("content") for m in msgs if m.get("role") == "user"]
            answers = [m.get("content") for m in msgs if m.get("role") == "assistant"]
            user, answer = (users[-1] if users else None), (answers[-1] if answers else None)
        else:
            uc = _find(list(row), user_column, USER_COLUMNS)
            ac = _find(list(row), answer_column, ANSWER_COLUMNS)
            if uc is None or ac is None:
                problems.append({"line": n, "reason": f"no request/answer columns in {sorted(row)}"})
                continue
            user, answer = row.get(uc), row.get(ac)
        user, answer = str(user or "").strip(), str(answer or "").strip()
        if not user or not answer:
            problems.append({"line": n, "reason": "empty request or answer"})
            continue
        if len(user) > MAX_CHARS or len(answer) > MAX_CHARS:
            problems.append({"line": n, "reason": f"longer than {MAX_CHARS} characters"})
            continue
        intent = str(row.get(intent_column) or "").strip() or None if intent_column else None
        pairs.append({"user": user, "assistant": answer, "intent": intent, "line": n})
    return pairs, problems


def pair_key(user: str, assistant: str) -> str:
    return hashlib.sha256(f"{' '.join(user.split())}\x1f{' '.join(assistant.split())}".encode()).hexdigest()[:32]


def import_transcripts(store, path: str | Path, user_column: str | None = None,
                       answer_column: str | None = None) -> dict:
    pairs, problems = read_pairs(path, user_column, answer_column)
    added = 0
    for pair in pairs:
        added += store.import_exchange(pair_key(pair["user"], pair["assistant"]), pair["user"], pair["assistant"],
                                       Path(path).name, pair["intent"])
    return {"file": str(path), "rows_read": len(pairs) + len(problems), "imported": added,
            "already_present": len(pairs) - added, "skipped": len(problems), "problems": problems[:50]}
