"""Structure-aware chunking: sections under headings, split at paragraph and list-item borders.

Each chunk stays within the embedding model's token budget (MiniLM: 256 word pieces, measured with
its tokenizer) and overlaps the previous one by a paragraph-sized tail when a section is split.
A chunk keeps its source, heading path ("Returns > How to return ..."), character offsets into the
document and a content hash (used to re-embed only what changed). A chunk that starts inside a markdown
table begins with the table's header lines (not within its offsets), so its rows keep their columns.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from typing import Callable

from index.loaders import Document

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


@dataclass
class Chunk:
    id: str
    source: str
    title: str
    heading: str
    text: str
    start: int
    end: int
    hash: str
    tags: list | None = None

    def embed_text(self) -> str:
        """What gets embedded: the heading path gives a short section its topic."""
        return f"{self.title} > {self.heading}\n{self.text}" if self.heading else f"{self.title}\n{self.text}"

    def to_dict(self) -> dict:
        return asdict(self)


def _sections(doc: Document) -> list[tuple[str, int, int]]:
    """(heading path, start, end) of each section's body."""
    if doc.kind != "markdown":
        return [("", 0, len(doc.text))]
    marks = list(_HEADING.finditer(doc.text))
    out: list = []
    path: list = []
    if marks and marks[0].start() > 0:
        out.append(("", 0, marks[0].start()))
    if not marks:
        return [("", 0, len(doc.text))]
    for i, m in enumerate(marks):
        level = len(m.group(1))
        path = path[: level - 1] + [m.group(2)]
        end = marks[i + 1].start() if i + 1 < len(marks) else len(doc.text)
        # The document title (level 1) is carried by Chunk.title, not repeated in the path.
        out.append((" > ".join(path[1:]) if level > 1 else "", m.end(), end))
    return out


def _blocks(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Paragraphs and list items as (start, end) spans."""
    spans = []
    for m in re.finditer(r"(?:[^\n]+\n?)+", text[start:end]):
        para_s = start + m.start()
        lines = list(re.finditer(r"[^\n]+", m.group()))
        is_list = all(re.match(r"\s*(?:[-*+]|\d+[.)]|\|)", ln.group()) for ln in lines)
        if is_list and len(lines) > 1:
            spans += [(para_s + ln.start(), para_s + ln.end()) for ln in lines]
        else:
            spans.append((para_s, start + m.end()))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def chunk_document(
    doc: Document, count_tokens: Callable[[str], int], max_tokens: int = 256, overlap_blocks: int = 1
) -> list[Chunk]:
    chunks: list[Chunk] = []
    for heading, s, e in _sections(doc):
        blocks = _blocks(doc.text, s, e)
        budget = max_tokens - count_tokens(f"{doc.title} > {heading}") - 2
        i = 0
        while i < len(blocks):
            # A chunk that starts inside a table repeats its header: otherwise its first row reads as
            # the column names ("Over 10kg up to 15kg: Over 15kg up to 20kg; £8.99: £10.99").
            head = _table_header(doc.text, blocks[i][0])
            if head and count_tokens(head) > budget // 2:
                head = ""
            room = budget - (count_tokens(head) + 1 if head else 0)
            j = i + 1
            while j < len(blocks) and count_tokens(doc.text[blocks[i][0] : blocks[j][1]]) <= room:
                j += 1
            cs, ce = blocks[i][0], blocks[j - 1][1]
            if count_tokens(doc.text[cs:ce]) > room:
                ce = _cut(doc.text, cs, ce, count_tokens, room)
            text = doc.text[cs:ce].strip()
            if text and head:
                text = f"{head}\n{text}"
            if text:
                h = hashlib.sha256(f"{doc.title}|{heading}|{text}".encode()).hexdigest()[:16]
                chunks.append(
                    Chunk(
                        f"{doc.source}#{len(chunks)}", doc.source, doc.title, heading, text, cs, ce, h, list(doc.tags)
                    )
                )
            if ce < blocks[j - 1][1]:  # a single over-long block: continue inside it
                blocks[j - 1] = (ce, blocks[j - 1][1])
                i = j - 1
            elif j >= len(blocks):
                break
            else:
                i = j if j - i <= overlap_blocks else j - overlap_blocks
    return chunks


def _table_header(text: str, pos: int) -> str:
    """The header lines (column names and the |---| line) of the markdown table that the line at `pos`
    is a later line of; "" when that line is no table line or the table starts there."""
    line_start = text.rfind("\n", 0, pos) + 1
    if not text[line_start:].lstrip().startswith("|"):
        return ""
    first = line_start
    while first > 0:
        prev = text.rfind("\n", 0, first - 1) + 1
        if not text[prev : first - 1].lstrip().startswith("|"):
            break
        first = prev
    if first == line_start:
        return ""
    lines = text[first:line_start].rstrip("\n").split("\n")
    header = lines[:1]
    if len(lines) > 1 and re.fullmatch(r"\s*\|?(?:\s*:?-{2,}:?\s*\|)+\s*:?-*:?\s*\|?\s*", lines[1]):
        header.append(lines[1])
    return "\n".join(h.strip() for h in header)


def join_chunks(texts: list[str]) -> str:
    """The chunks of one section, in file order, as one text again (what a citation link shows): the
    overlap a chunk repeats from the one before and a table header repeated by `chunk_document` are
    dropped, so a long table reads as one table and no paragraph appears twice."""
    out: list[str] = []
    for text in texts:
        lines = text.split("\n")
        if out:
            prev = out[-1].split("\n")
            head = _table_header(out[-1] + "\n" + "\n".join(lines), len(out[-1]) + 1)
            if head and prev[-1].lstrip().startswith("|") and "\n".join(lines).startswith(head):
                lines = lines[len(head.split("\n")) :]
            k = max((k for k in range(1, min(len(prev), len(lines)) + 1) if prev[-k:] == lines[:k]), default=0)
            lines = lines[k:]
            while lines and not lines[0].strip():
                lines = lines[1:]
            if not lines:
                continue
            glue = "\n" if prev[-1].lstrip().startswith("|") and lines[0].lstrip().startswith("|") else "\n\n"
            out[-1] = out[-1] + glue + "\n".join(lines)
        else:
            out.append(text)
    return out[0] if out else ""


def _cut(text: str, s: int, e: int, count_tokens: Callable[[str], int], budget: int) -> int:
    """Largest end (at a word boundary) that keeps text[s:end] within budget."""
    lo, hi = s + 1, e
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(text[s:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    space = text.rfind(" ", s, lo)
    return space if space > s + (lo - s) // 2 else lo
