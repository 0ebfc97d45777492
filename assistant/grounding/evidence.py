"""Evidence: the citable pieces of retrieved passages and the ones that answer the question.

`evidence_units(passages)` splits passages into sentences, bullet items, whole numbered procedures
and table rows ("option: Express; time: 1–2 business days; price: $12.99."); `pick_evidence` ranks
them by cosine with the question (each unit embedded with its section heading); `extractive_reply`
quotes the picked units (a table row as a sentence), the best passage first, each passage cited once as [n].
`covers(reply, evidence, question)` says whether a generated reply carries what the evidence adds
to the question (`coverage` how much of it, as a number that grows with each sentence that adds
some); `key_evidence` lists the picked units a generated reply must carry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from assistant.grounding.claims import claims
from assistant.types import Passage
from assistant.grounding.words import content_words, stem
from assistant.grounding.citations import CITE
from assistant.grounding.table_ranges import range_rows


@dataclass
class Unit:
    """One citable piece of a passage: a sentence, a list item, a whole procedure or a table row."""

    text: str
    passage: int  # 0-based index into the passages it came from
    order: int


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(*])")


def _table_rows(lines: list[str]) -> list[str]:
    cells = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
    cells = [r for r in cells if not all(re.fullmatch(r":?-{2,}:?", c) for c in r if c)]
    if len(cells) < 2:
        return [" ".join(" ".join(r) for r in cells)]
    head, body = cells[0], cells[1:]
    return ["; ".join(f"{h}: {c}" if h else c for h, c in zip(head, row)) + "." for row in body]


def split_units(text: str) -> list[str]:
    """Sentences of paragraphs, bullet items, numbered procedures (kept whole) and table rows."""
    units: list[str] = []
    lines = [ln.rstrip() for ln in (text or "").splitlines()]
    i = 0
    while i < len(lines):
        ln = lines[i].strip()
        if not ln or ln.startswith("#"):
            i += 1
            continue
        if ln.startswith("|"):
            block = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                block.append(lines[i])
                i += 1
            units += _table_rows(block)
            continue
        if re.match(r"\d+[.)]\s", ln):
            block = []
            while i < len(lines) and re.match(r"\s*\d+[.)]\s", lines[i]):
                block.append(lines[i].strip())
                i += 1
            units.append("\n".join(block))
            continue
        if re.match(r"[-*•]\s", ln):
            units.append(ln[2:].strip())
            i += 1
            continue
        para = []
        while i < len(lines) and lines[i].strip() and not re.match(r"\s*(?:#|\||\d+[.)]\s|[-*•]\s)", lines[i]):
            para.append(lines[i].strip())
            i += 1
        units += [s.strip() for s in _SENTENCE_END.split(" ".join(para)) if s.strip()]
    return units


def evidence_units(passages: Sequence[Passage]) -> list[Unit]:
    out: list[Unit] = []
    for pi, p in enumerate(passages):
        for u in split_units(p.text):
            out.append(Unit(u, pi, len(out)))
    return out


def pick_evidence(
    question: str | Sequence[str],
    units: Sequence[Unit],
    embedder,
    n: int = 2,
    heading_of: Sequence[str] | None = None,
    lookup: bool = False,
) -> list[tuple[Unit, float]]:
    """The `n` units closest to the question (cosine of unit vectors), best first.

    A unit is embedded with its section heading in front, so "Premier Checking costs $15 per
    month" still knows which account it is about. Several questions (a follow-up alone and with
    its context) are averaged, so the follow-up's own words lead and the context only steers.
    `lookup`: in a table whose rows are ranges ("Over 2kg up to 5kg"), the row holding the message's
    quantity takes the place of the closest unit (`table_ranges`; the chat does this, the extractive
    baseline, a cosine reader, does not).
    """
    if not units:
        return []
    questions = [question] if isinstance(question, str) else list(question)
    texts = [(f"{heading_of[u.passage]}: " if heading_of else "") + u.text for u in units]
    # The knowledge base's sentences come back turn after turn: their vectors are kept when the
    # embedder can (index.embedder.SentenceEmbedder.embed_known).
    unit_vecs = getattr(embedder, "embed_known", embedder.embed)(texts)
    sims = unit_vecs @ embedder.embed(questions).mean(axis=0)
    if lookup:
        sims = _rows_by_range(questions, units, sims, heading_of)
    ranked = sorted(range(len(units)), key=lambda i: -float(sims[i]))[:n]
    return [(units[i], float(sims[i])) for i in ranked]


def _rows_by_range(questions: Sequence[str], units: Sequence[Unit], sims, heading_of: Sequence[str] | None):
    """Swap the scores of the closest unit and of a range table's row that holds the message's quantity
    ("3kg" -> "Over 2kg up to 5kg"): a number the customer names and a row's range holds is the most
    specific match there is, and the cosine cannot see it. The set of scores (what the relevance model
    reads) stays the same; only which unit leads changes. The quantity must be in the message itself
    (`questions[0]`), not only in the conversation: "does that discount apply to the surcharge too?"
    after "around 300 parcels a month" asks about the surcharge, not the 200–499 row."""
    sims = sims.copy()
    for table in _tables(units, heading_of):
        distinct, seen = [], set()
        for i in table:  # overlapping chunks repeat rows: each row once, in table order
            if units[i].text not in seen:
                seen.add(units[i].text)
                distinct.append(i)
        hit = range_rows(questions[:1], [row_cells(units[i].text) for i in distinct])
        if hit is None:
            continue
        best = max(range(len(units)), key=lambda i: float(sims[i]))
        row = distinct[hit]
        sims[row], sims[best] = sims[best], sims[row]
    return sims


def _tables(units: Sequence[Unit], heading_of: Sequence[str] | None) -> list[list[int]]:
    """Indexes of the rows of each table: row units with the same columns under the same section heading
    (a table cut across two chunks, or repeated by their overlap, is still one table)."""
    tables: dict[tuple, list[int]] = {}
    for i, u in enumerate(units):
        cells = row_cells(u.text)
        if cells:
            heading = heading_of[u.passage] if heading_of else ""
            tables.setdefault((heading, tuple(c for c, _ in cells)), []).append(i)
    return [t for t in tables.values() if len(t) > 1]


# A column name may hold a colon itself ("Pre-10:30: £11.99"): the cell splits at the first ": ".
_ROW_CELL = re.compile(r"[^;\n]{1,40}?: \S")


def row_cells(unit: str) -> list[tuple[str, str]]:
    """A table row's (column, value) cells; empty for any other unit."""
    cells = unit.strip().rstrip(".").split("; ")
    if len(cells) < 2 or not all(_ROW_CELL.match(c) for c in cells):
        return []
    return [(c.split(": ", 1)[0], c.split(": ", 1)[1]) for c in cells]


def _column(name: str) -> str:
    # "Price" reads "price" inside a sentence; "UK Saver" or "Pre-10:30" keep their capitals.
    return name[:1].lower() + name[1:] if name[1:] == name[1:].lower() else name


def readable(unit: str) -> str:
    """A table row as a sentence a customer reads: "option: Express; time: 1–2 business days; price:
    $12.99." becomes "For Express, the time is 1–2 business days and the price is $12.99." (the first
    cell names the row; its column name says nothing). Any other unit is returned as it is."""
    cells = row_cells(unit)
    if not cells:
        return unit
    parts = [f"the {_column(k)} is {v.rstrip('.')}" for k, v in cells[1:]]
    said = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"For {cells[0][1]}, {said}."


_TRAILING_CITES = re.compile(rf"((?:\s*{CITE})*\s*)$")


def readable_sentence(sentence: str) -> str:
    """`readable` for a sentence of a generated reply: a table row the model copied from its prompt
    ("option: Express; time: ...; price: $12.99. [1]") reads as a sentence, as the evidence is quoted."""
    lead = sentence[: len(sentence) - len(sentence.lstrip())]
    body = sentence.strip()
    tail = _TRAILING_CITES.search(body)
    cites = tail.group(1) if tail else ""
    core = body[: len(body) - len(cites)] if cites else body
    nice = readable(core)
    return sentence if nice == core else lead + nice + cites


def extractive_reply(picked: Sequence[tuple[Unit, float]]) -> str:
    """The picked units (table rows made readable), each passage cited once as [n].

    The passage holding the best unit comes first. Within a passage, sentences keep the passage's
    order (a later one may lean on an earlier: "The fee is waived when ..."), but table rows come best
    first: they stand alone, and "How much is Express?" should not open with the Standard row.
    """
    groups: dict[int, list[tuple[Unit, float]]] = {}
    for unit, sim in sorted(picked, key=lambda p: -p[1]):
        groups.setdefault(unit.passage, []).append((unit, sim))
    chosen: list[Unit] = []
    for units in groups.values():
        rows = all(row_cells(u.text) for u, _ in units)
        chosen += [u for u, _ in units] if rows else sorted((u for u, _ in units), key=lambda u: u.order)
    parts: list[str] = []
    for j, u in enumerate(chosen):
        text = readable(u.text.strip())
        last_of_passage = j + 1 == len(chosen) or chosen[j + 1].passage != u.passage
        if last_of_passage:
            text = text.rstrip() + f" [{u.passage + 1}]"
        parts.append(text)
    return "\n".join(parts) if any("\n" in p for p in parts) else " ".join(parts)


def covers(reply: str, evidence: str, question: str = "") -> bool:
    """Whether a reply carries what the evidence adds to the question.

    The reply must state every claim of the evidence that the question does not (a price, a number
    of days, a phone number): one of them was not enough, "open Monday to Friday from 9 am to 1 pm"
    passed for "9 am to 5 pm ... Saturday from 9 am to 1 pm". Either way, of the evidence's content
    words that the question does not already use (the new information: "Privacy" in "delete it under
    Account settings > Privacy"), the reply must carry more than half.
    """
    ev_claims = new_claims(evidence, question)
    if not ev_claims <= claims(reply):
        return False
    new = informative_words(evidence, question)
    if not new:
        return bool(ev_claims)  # evidence that adds nothing to the question proves nothing
    got = {stem(w) for w in content_words(reply)}
    return len(new & got) / len(new) > 0.5


def coverage(reply: str, evidence: Sequence[str], question: str = "") -> int:
    """How much of the evidence a reply carries so far: for each evidence text, the number of its
    new claims the reply states plus the number of its informative words the reply uses. It grows
    while a reply moves toward the evidence (`covers` is the yes/no judgement)."""
    said, got = claims(reply), {stem(w) for w in content_words(reply)}
    return sum(len(new_claims(e, question) & said) + len(informative_words(e, question) & got) for e in evidence)


def new_claims(evidence: str, question: str) -> set[str]:
    """The evidence's claims that the question does not state ("12" in "rate on a 12 month CD" is
    no sign that a reply gives the 12-month rate)."""
    return claims(evidence) - claims(question)


def informative_words(evidence: str, question: str) -> set[str]:
    """Stems of the evidence's content words that the question does not already use. A table row's
    column names are left out: every row has them, so a reply quoting another row ("Express — time:
    1–2 business days") would otherwise carry most of this row's new words."""
    asked = {stem(w) for w in content_words(question)}
    cells = row_cells(evidence)
    text = " ".join(v for _, v in cells) if cells else evidence
    return {stem(w) for w in content_words(text)} - asked


def key_evidence(picked: Sequence[tuple[Unit, float]], question: str, margin: float = 1.0) -> list[Unit]:
    """The picked units that say something the question does not (a claim or new words) and are
    within `margin` cosine of the best such unit, best first: a generated reply must carry every one
    of them, or the evidence is shown instead."""
    adds = [(u, sim) for u, sim in picked if new_claims(u.text, question) or informative_words(u.text, question)]
    informative = sorted(adds, key=lambda p: -p[1])
    if not informative:
        return []
    best = informative[0][1]
    return [unit for unit, sim in informative if sim >= best - margin]
