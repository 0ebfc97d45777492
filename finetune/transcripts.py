"""Import transcripts into the store, idempotently: `loopdesk finetune import FILE [--skip-bad]`.

CSV/TSV or JSONL, UTF-8. Columns are detected (request: instruction/request/question/user/
customer; answer: response/answer/assistant/agent; optional intent), or given explicitly. JSONL
rows may instead carry TRL-style `messages`. Each request/answer pair becomes a conversation
marked `imported`, keyed by a hash of its text, so importing the same file twice adds nothing.

Strict by default: CSV is parsed with `strict=True` (an unclosed quote is an error, not a field
that swallows the rest of the file), a row with more or fewer fields than the header, a field over
`MAX_FIELD` characters, a file that is not UTF-8 text (binary) — each is a line-numbered problem,
and a file with any problem imports nothing (`--skip-bad` imports the good rows and lists the
rest). NUL bytes and control characters are removed from fields. The whole file is read and checked
before anything is written; then the rows go in in short batches, each its own transaction (a big file
never holds SQLite's write lock long enough to keep a customer's turn waiting), and the import is
all-or-nothing as readers see it: unseen until its last batch is in, deleted when it fails
(`Store.import_exchanges`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

from assistant.errors import InputError

USER_COLUMNS = ("instruction", "request", "question", "user", "customer", "prompt")
ANSWER_COLUMNS = ("response", "answer", "assistant", "agent", "reply", "completion")
MAX_CHARS = 20_000
"""Longest request or answer kept."""
MAX_FIELD = 1_000_000
"""Longest CSV field the parser reads at all (a bigger one is a broken file, not a transcript)."""
MAX_FILE = 512 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str) -> str:
    """Remove NULs and control characters (tabs and newlines stay)."""
    return _CONTROL.sub("", text)


def _text(p: Path) -> str:
    if p.stat().st_size > MAX_FILE:
        raise InputError(f"{p}: larger than {MAX_FILE // 2**20} MiB")
    raw = p.read_bytes()
    if raw.count(b"\x00") > max(16, len(raw) // 100):
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise InputError(
            f"{p}: line {line}: looks binary ({raw.count(bytes(1))} NUL bytes), not a CSV/TSV/JSONL text file"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"{p}: line {line}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _csv_rows(text: str, delimiter: str, problems: list[dict]) -> list[tuple[int, dict]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, dict]] = []
    old_limit = csv.field_size_limit(MAX_FIELD)
    try:
        header = next(reader, None)
        if not header:
            problems.append({"line": 1, "reason": "empty file: no header row"})
            return rows
        header = [clean(h).strip() for h in header]
        while True:
            start = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:  # unclosed quote, field too large: the rest cannot be trusted
                problems.append({"line": start, "reason": f"unreadable CSV from here on: {exc}"})
                break
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                problems.append({"line": start, "reason": f"{len(fields)} fields, the header has {len(header)}"})
                continue
            rows.append((start, dict(zip(header, fields))))
    finally:
        csv.field_size_limit(old_limit)
    return rows


def _find(columns: list[str], wanted: str | None, candidates: tuple[str, ...]) -> str | None:
    if wanted:
        return wanted if wanted in columns else None
    lower = {c.lower(): c for c in columns}
    return next((lower[c] for c in candidates if c in lower), None)


def read_pairs(
    path: str | Path,
    user_column: str | None = None,
    answer_column: str | None = None,
    intent_column: str | None = "intent",
) -> tuple[list[dict], list[dict]]:
    """(pairs, problems): pairs have user, assistant, intent, line; problems have line and reason."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix not in {".jsonl", ".csv", ".tsv"}:
        raise InputError(f"{p}: import reads .csv, .tsv or .jsonl")
    text = _text(p)
    rows: list[tuple[int, Any]] = []
    problems: list[dict] = []
    if suffix == ".jsonl":
        # "\n" only: str.splitlines() also splits at U+2028 and friends, which JSON strings may hold.
        for n, line in enumerate(text.split("\n"), 1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                problems.append({"line": n, "reason": f"invalid JSON: {exc.msg}"})
    else:
        rows = _csv_rows(text, "\t" if suffix == ".tsv" else ",", problems)
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
            columns = [str(c) for c in row]
            uc = _find(columns, user_column, USER_COLUMNS)
            ac = _find(columns, answer_column, ANSWER_COLUMNS)
            if uc is None or ac is None:
                problems.append({"line": n, "reason": f"no request/answer columns in {sorted(columns)}"})
                continue
            user, answer = row.get(uc), row.get(ac)
        user, answer = clean(str(user or "")).strip(), clean(str(answer or "")).strip()
        if not user or not answer:
            problems.append({"line": n, "reason": "empty request or answer"})
            continue
        if len(user) > MAX_CHARS or len(answer) > MAX_CHARS:
            problems.append({"line": n, "reason": f"longer than {MAX_CHARS} characters"})
            continue
        intent = clean(str(row.get(intent_column) or "")).strip()[:100] or None if intent_column else None
        pairs.append({"user": user, "assistant": answer, "intent": intent, "line": n})
    return pairs, sorted(problems, key=lambda x: x["line"])


def pair_key(user: str, assistant: str) -> str:
    return hashlib.sha256(f"{' '.join(user.split())}\x1f{' '.join(assistant.split())}".encode()).hexdigest()[:32]


def import_transcripts(
    store,
    path: str | Path,
    user_column: str | None = None,
    answer_column: str | None = None,
    skip_bad: bool = False,
    redactor=None,
) -> dict:
    """Import a file's pairs, all or nothing (`Store.import_exchanges`). Raises InputError (nothing
    imported) when the file has any problem and `skip_bad` is off, or when it holds no valid pair at all. `redactor`
    (`assistant.taggers.pii.PiiRedactor`) replaces card data and the like before anything is stored; the
    pair key is taken from the text as imported, so re-importing the file still adds nothing."""
    pairs, problems = read_pairs(path, user_column, answer_column)
    redacted: dict = {}
    if redactor is not None:
        for x in pairs:
            for side in ("user", "assistant"):
                x[f"stored_{side}"], counts = redactor(x[side])
                for k, v in counts.items():
                    redacted[k] = redacted.get(k, 0) + v
    listed = "; ".join(f"line {x['line']}: {x['reason']}" for x in problems[:10])
    more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
    if problems and not skip_bad:
        raise InputError(
            f"{path}: nothing imported, {len(problems)} problem(s): {listed}{more} "
            f"(fix the file, or --skip-bad to import the {len(pairs)} good row(s))"
        )
    if not pairs:
        raise InputError(f"{path}: no valid request/answer pair" + (f": {listed}{more}" if problems else ""))
    added = store.import_exchanges(
        [
            (
                pair_key(x["user"], x["assistant"]),
                x.get("stored_user", x["user"]),
                x.get("stored_assistant", x["assistant"]),
                x["intent"],
            )
            for x in pairs
        ],
        Path(path).name,
    )
    return {
        "file": str(path),
        "rows_read": len(pairs) + len(problems),
        "imported": added,
        "already_present": len(pairs) - added,
        "skipped": len(problems),
        "problems": problems[:50],
        "redacted": redacted,
    }
