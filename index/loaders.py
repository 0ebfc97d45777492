"""Load knowledge files into documents: markdown and plain text (more formats come later).

Folders are read recursively; symlinks are never followed (they could lead outside the folders
given); unreadable, empty, binary or oversized files are skipped with a reason for the build report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text"}
MAX_BYTES = 20 * 1024 * 1024


@dataclass
class Document:
    source: str  # path relative to the root it was found under
    path: str
    kind: str
    text: str
    title: str


@dataclass
class Skipped:
    path: str
    reason: str


def _title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return fallback


def iter_files(paths: list[str | Path]) -> tuple[list[tuple[Path, Path]], list[Skipped]]:
    """(file, root) pairs under the given files/folders, not following symlinks."""
    found, skipped = [], []
    for p in map(Path, paths):
        if p.is_symlink():
            skipped.append(Skipped(str(p), "symlink not followed"))
        elif p.is_file():
            found.append((p, p.parent))
        elif p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_symlink():
                    skipped.append(Skipped(str(f), "symlink not followed"))
                elif f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts):
                    found.append((f, p))
        else:
            skipped.append(Skipped(str(p), "no such file or folder"))
    return found, skipped


def load_file(path: Path, root: Path) -> Document:
    """Read one file; raise ValueError with a human reason when it cannot be used."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"unsupported file type {path.suffix or '(none)'}")
    size = path.stat().st_size
    if size == 0:
        raise ValueError("empty file")
    if size > MAX_BYTES:
        raise ValueError(f"file too large ({size / 1e6:.0f} MB > {MAX_BYTES / 1e6:.0f} MB)")
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise ValueError("binary file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # the usual culprit for "wrong encoding"
    if not text.strip():
        raise ValueError("no text")
    rel = path.relative_to(root).as_posix()
    return Document(rel, str(path), kind, text, _title(text, path.stem.replace("_", " ").title()))


def load_documents(paths: list[str | Path]) -> tuple[list[Document], list[Skipped]]:
    files, skipped = iter_files(paths)
    docs = []
    for f, root in files:
        try:
            docs.append(load_file(f, root))
        except (ValueError, OSError) as exc:
            skipped.append(Skipped(str(f), str(exc)))
    return docs, skipped
