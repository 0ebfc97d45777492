"""Retrieval quality on labelled queries: hit@1, hit@5 and MRR over distinct sources.

    loopdesk eval retrieval --index DIR --queries queries.csv --json   # columns: query, expected_source

A query hits when a returned source equals `expected_source` or ends with it as a path suffix
(`returns.md` matches `policies/returns.md`). Several chunks of one source count once, at the
rank of the best one: the question is "did we find the right document".
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from assistant.errors import InputError


def read_queries(path: str | Path) -> list[tuple[str, str]]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    if p.suffix.lower() == ".jsonl":
        try:
            rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise InputError(f"{p}: invalid JSONL ({exc})") from exc
    else:
        with p.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t" if p.suffix.lower() == ".tsv" else ","))
    out = [(str(r.get("query", "")).strip(), str(r.get("expected_source", "")).strip()) for r in rows]
    out = [(q, s) for q, s in out if q and s]
    if not out:
        raise InputError(f"{p}: needs rows with 'query' and 'expected_source'")
    return out


def _matches(source: str, expected: str) -> bool:
    return source == expected or source.endswith("/" + expected) or Path(source).name == expected


def eval_retrieval(index, queries: list[tuple[str, str]], mode: str | None = None, depth: int = 20) -> dict:
    hits1 = hits5 = 0
    rr = 0.0
    for query, expected in queries:
        seen: list[str] = []
        for p in index.search(query, depth, mode=mode):
            if p.source not in seen:
                seen.append(p.source)
        rank = next((i for i, s in enumerate(seen, 1) if _matches(s, expected)), None)
        if rank:
            hits1 += rank == 1
            hits5 += rank <= 5
            rr += 1.0 / rank
    n = len(queries)
    return {
        "hit@1": round(hits1 / n, 4),
        "hit@5": round(hits5 / n, 4),
        "mrr": round(rr / n, 4),
        "n": n,
        "mode": mode or index.mode,
    }
