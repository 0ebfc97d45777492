"""Load knowledge files into documents: markdown, text, HTML, PDF, CSV/JSONL FAQs and nested JSON.

Every format is turned into markdown-like text (headings, paragraphs, list items) so one chunker
follows the structure of all of them; chunk offsets refer to that text. Folders are read
recursively; symlinks are never followed (they could lead outside the folders given); unreadable,
empty, binary, encrypted or oversized files are skipped with a reason for the build report.

FAQ files: CSV or JSONL with question/answer columns (configurable, common names are detected),
one pair per section. Nested JSON such as the ABCD agent guidelines (flows -> subflows -> steps)
becomes headings and list items.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

SUFFIXES = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".json": "json",
}
MAX_BYTES = 20 * 1024 * 1024
STRUCTURAL_KEYS = {"subflows", "actions", "steps", "children", "items", "flows", "sections", "data"}
QUESTION_COLUMNS = ("question", "q", "instruction", "query", "title")
ANSWER_COLUMNS = ("answer", "a", "response", "reply", "body")


@dataclass
class Document:
    source: str  # path relative to the root it was found under
    path: str
    kind: str
    text: str
    title: str
    tags: list[str] = field(default_factory=list)


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class LoaderOptions:
    question_column: str | None = None
    answer_column: str | None = None
    max_bytes: int = MAX_BYTES


def _title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return fallback


def _decode(raw: bytes) -> str:
    if b"\x00" in raw[:8192]:
        raise ValueError("binary file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")  # the usual culprit for "wrong encoding"


def iter_files(paths: Sequence[str | Path]) -> tuple[list[tuple[Path, Path]], list[Skipped]]:
    """(file, root) pairs under the given files/folders, never following symlinks."""
    found, skipped = [], []
    for p in map(Path, paths):
        if p.is_symlink():
            skipped.append(Skipped(str(p), "symlink not followed"))
        elif p.is_file():
            found.append((p, p.parent))
        elif p.is_dir():
            stack = [p]
            while stack:  # os.walk-like, but symlinked folders are reported, not entered
                for f in sorted(stack.pop().iterdir()):
                    if f.name.startswith("."):
                        continue
                    if f.is_symlink():
                        skipped.append(Skipped(str(f), "symlink not followed"))
                    elif f.is_dir():
                        stack.append(f)
                    elif f.is_file():
                        found.append((f, p))
        else:
            skipped.append(Skipped(str(p), "no such file or folder"))
    return found, skipped


# --- formats --------------------------------------------------------------------------------
def html_to_markdown(raw: str) -> str:
    """Main text of an HTML page: drop scripts, navigation, headers and footers; keep structure."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    for tag in soup(["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg", "iframe"]):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    lines = [f"# {title}"] if title and not root.find("h1") else []
    for el in root.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "td", "dt", "dd"]):
        if el.find_parent(["li", "p"]) is not None and el.name != "li":
            continue
        text = re.sub(r"\s+", " ", el.get_text(" ", strip=True))
        if not text:
            continue
        if el.name[0] == "h":
            lines.append(f"{'#' * int(el.name[1])} {text}")
        elif el.name == "li":
            lines.append(f"- {text}")
        else:
            lines.append(text)
    return "\n\n".join(lines)


def pdf_to_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise ValueError("encrypted PDF (password required)")
            except (NotImplementedError, PdfReadError) as exc:
                raise ValueError("encrypted PDF (password required)") from exc
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except ValueError:
        raise
    except Exception as exc:  # pypdf raises many types for broken files
        raise ValueError(f"corrupt PDF ({type(exc).__name__}: {exc})") from exc
    body = "\n\n".join(f"## Page {i}\n\n{t}" for i, t in enumerate(pages, 1) if t)
    if not body:
        raise ValueError("PDF has no extractable text (scanned images?)")
    return f"# {path.stem.replace('_', ' ').title()}\n\n{body}"


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str) -> str:
    lower = {c.lower().strip(): c for c in columns}
    if wanted:
        if wanted not in columns and wanted.lower() not in lower:
            raise ValueError(f"no {what} column {wanted!r} (columns: {', '.join(columns)})")
        return lower.get(wanted.lower(), wanted)
    for c in candidates:
        if c in lower:
            return lower[c]
    raise ValueError(f"no {what} column found (columns: {', '.join(columns)}); set it with --{what}-column")


def faq_to_markdown(rows: list[dict], title: str, opts: LoaderOptions) -> str:
    if not rows:
        raise ValueError("no rows")
    columns = list(rows[0].keys())
    q = _pick(columns, opts.question_column, QUESTION_COLUMNS, "question")
    a = _pick(columns, opts.answer_column, ANSWER_COLUMNS, "answer")
    parts = [f"# {title}"]
    for row in rows:
        question, answer = str(row.get(q) or "").strip(), str(row.get(a) or "").strip()
        if question and answer:
            parts.append(f"## {' '.join(question.split())}\n\n{answer}")
    if len(parts) == 1:
        raise ValueError("no complete question/answer pairs")
    return "\n\n".join(parts)


def json_to_markdown(data, title: str) -> str:
    """Nested JSON -> headings (object keys), paragraphs (strings), list items (arrays)."""
    lines = [f"# {title}"]

    def scalar(v) -> str:
        return " ".join(str(v).split())

    def walk(node, depth: int, indent: int = 0) -> None:
        if isinstance(node, dict):
            # A step-like object ({button/name/type, text, subtext}) reads best as one list item.
            label = node.get("button") or node.get("name") or node.get("title")
            if "text" in node and isinstance(node["text"], str):
                prefix = f"[{label}] " if label else ""
                lines.append("  " * indent + f"- {prefix}{scalar(node['text'])}")
                for sub in node.get("subtext") or []:
                    walk([sub] if not isinstance(sub, (dict, list)) else sub, depth, indent + 1)
                return
            for key, value in node.items():
                if key.lower() in STRUCTURAL_KEYS and isinstance(value, (dict, list)):
                    walk(value, depth, indent)  # "subflows", "actions": containers, not topics
                elif isinstance(value, (dict, list)):
                    lines.append(f"{'#' * min(depth, 6)} {key}")
                    walk(value, depth + 1)
                else:
                    lines.append(f"{key}: {scalar(value)}" if key not in ("description",) else scalar(value))
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, (dict, list)):
                    walk(item, depth, indent)
                else:
                    lines.append("  " * indent + f"- {scalar(item)}")
        elif node is not None:
            lines.append("  " * indent + scalar(node))

    walk(data, 2)
    return "\n\n".join(_group_list_lines(lines))


def _group_list_lines(lines: list[str]) -> list[str]:
    """Join consecutive list items into one block so the chunker sees them as a list."""
    out: list[str] = []
    for line in lines:
        if out and line.lstrip().startswith("- ") and out[-1].lstrip().startswith("- "):
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out


def load_file(path: Path, root: Path, opts: LoaderOptions | None = None) -> Document:
    """Read one file; raise ValueError with a human reason when it cannot be used."""
    opts = opts or LoaderOptions()
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"unsupported file type {path.suffix or '(none)'}")
    size = path.stat().st_size
    if size == 0:
        raise ValueError("empty file")
    if size > opts.max_bytes:
        raise ValueError(f"file too large ({size / 1e6:.0f} MB > {opts.max_bytes / 1e6:.0f} MB)")
    fallback = path.stem.replace("_", " ").replace("-", " ").strip().capitalize()
    if kind == "pdf":
        text, kind = pdf_to_text(path), "markdown"
    else:
        raw = _decode(path.read_bytes())
        if kind == "html":
            text, kind = html_to_markdown(raw), "markdown"
        elif kind == "csv":
            dialect = "excel-tab" if "\t" in raw.split("\n", 1)[0] else "excel"
            text, kind = (
                faq_to_markdown(list(csv.DictReader(io.StringIO(raw), dialect=dialect)), fallback, opts),
                "markdown",
            )
        elif kind == "jsonl":
            try:
                rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
            except json.JSONDecodeError as exc:
                raise ValueError(f"invalid JSONL ({exc})") from exc
            text, kind = faq_to_markdown([r for r in rows if isinstance(r, dict)], fallback, opts), "markdown"
        elif kind == "json":
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"invalid JSON ({exc})") from exc
            text, kind = json_to_markdown(data, fallback), "markdown"
        else:
            text = raw
    if not text.strip():
        raise ValueError("no text")
    rel = path.relative_to(root).as_posix()
    tags = [rel.split("/", 1)[0]] if "/" in rel else []
    return Document(rel, str(path), kind, text, _title(text, fallback), tags)


def load_documents(
    paths: Sequence[str | Path], opts: LoaderOptions | None = None
) -> tuple[list[Document], list[Skipped]]:
    files, skipped = iter_files(paths)
    docs = []
    for f, root in files:
        try:
            docs.append(load_file(f, root, opts))
        except (ValueError, OSError, UnicodeError) as exc:
            skipped.append(Skipped(str(f), str(exc)))
    return docs, skipped
