"""Readers for tagger data: CoNLL NER files and sentiment csv/tsv files.

Shared by tagger training (`finetune.taggers`) and the eval commands (`loopdesk eval ner|sentiment`).
"""

from __future__ import annotations

import csv
from pathlib import Path

from assistant.errors import InputError

LABELS3 = ("negative", "neutral", "positive")
_ALIASES = {"negative": 0, "neg": 0, "0": 0, "neutral": 1, "neu": 1, "positive": 2, "pos": 2, "1": 2}


def read_conll(path: str | Path) -> list[tuple[list[str], list[str]]]:
    """Sentences as (words, IOB tags); the tag is the last column, `-DOCSTART-` lines are skipped."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    sentences: list = []
    words: list[str] = []
    tags: list[str] = []
    for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            if words:
                sentences.append((words, tags))
            words, tags = [], []
            continue
        if parts[0] == "-DOCSTART-":
            continue
        if len(parts) < 2:
            raise InputError(f"{p}:{n}: expected 'token ... tag', got {line!r}")
        words.append(parts[0])
        tags.append(parts[-1])
    if words:
        sentences.append((words, tags))
    if not sentences:
        raise InputError(f"{p}: no sentences found")
    return sentences


def read_sentiment(path: str | Path, text_column: str, label_column: str) -> tuple[list[str], list[int], bool]:
    """(texts, labels 0/1/2 for negative/neutral/positive, binary?) from a csv or tsv file.

    Binary files (labels 0/1 only) map 0 -> negative, 1 -> positive and report binary=True.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    delimiter = "\t" if p.suffix.lower() in {".tsv", ".tab"} else ","
    with p.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.DictReader(
            fh, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
        )
        if not reader.fieldnames or text_column not in reader.fieldnames or label_column not in reader.fieldnames:
            raise InputError(f"{p}: needs columns {text_column!r} and {label_column!r}, has {reader.fieldnames}")
        texts, raw = [], []
        for n, row in enumerate(reader, 2):
            label = (row.get(label_column) or "").strip().lower()
            if label not in _ALIASES:
                raise InputError(f"{p}:{n}: unknown label {label!r} (use negative/neutral/positive or 0/1)")
            texts.append((row.get(text_column) or "").strip())
            raw.append(label)
    if not texts:
        raise InputError(f"{p}: no rows")
    binary = set(raw) <= {"0", "1"}
    return texts, [_ALIASES[r] for r in raw], binary
