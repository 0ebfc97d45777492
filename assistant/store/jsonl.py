"""Append-only JSON-lines files that survive a crash: what the spool and the inbox are made of.

append_synced(path, record)      # one line, flushed and fsync'ed before returning
read_records(path, "spool")      # every complete line; a line cut by a crash is skipped (logged)
rewrite_synced(path, records)    # the whole file replaced atomically (temp file, fsync, rename)
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("loopdesk.jsonl")


def append_synced(path: Path, record: dict) -> None:
    line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_records(path: Path, what: str) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:  # a line cut by a crash mid-append: the records before it are complete
            log.error("skipping an unreadable %s line: %r", what, line[:120])
    return out


def rewrite_synced(path: Path, records: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
