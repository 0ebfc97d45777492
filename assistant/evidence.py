"""Evidence: the citable pieces of retrieved passages and the ones that answer the question.

`evidence_units(passages)` splits passages into sentences, bullet items, whole numbered procedures
and table rows ("option: Express; time: 1–2 business days; price: $12.99."); `pick_evidence` ranks
them by cosine with the question (each unit embedded with its section heading); `extractive_reply`
quotes the picked units, each passage cited once as [n]. `covers(reply, evidence, question)` says
whether a generated reply carries what the evidence adds to the question (`coverage` how much of
it, as a number that grows with each sentence that adds some); `key_evidence` lists the picked units
that add anything at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from assistant.claims import claims
from assistant.types import Passage
from assistant.words import content_words, stem


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
    question: str | Sequence[str], units: Sequence[Unit], embedder, n: int = 2, heading_of: Sequence[str] | None = None
) -> list[tuple[Unit, float]]:
    """The `n` units closest to the question (cosine of unit vectors), best first.

    A unit is embedded with its section heading in front, so "Premier Checking costs $15 per
    month" still knows which account it is about. Several questions (a follow-up alone and with
    its context) are averaged, so the follow-up's own words lead and the context only steers.
    """
    if not units:
        return []
    questions = [question] if isinstance(question, str) else list(question)
    texts = [(f"{heading_of[u.passage]}: " if heading_of else "") + u.text for u in units]
    # The knowledge base's sentences come back turn after turn: their vectors are kept when the
    # embedder can (index.embedder.SentenceEmbedder.embed_known).
    unit_vecs = getattr(embedder, "embed_known", embedder.embed)(texts)
    sims = unit_vecs @ embedder.embed(questions).mean(axis=0)
    ranked = sorted(range(len(units)), key=lambda i: -float(sims[i]))[:n]
    return [(units[i], float(sims[i])) for i in ranked]


_ROW_CELL = re.compile(r"[^:;\n]{1,40}: \S")


def readable(unit: str) -> str:
    """A table row as a customer reads it: "option: Express; time: 1–2 business days; price: $12.99."
    becomes "Express — time: 1–2 business days; price: $12.99." (the first cell names the row; its
    column name says nothing). Any other unit is returned as it is."""
    cells = unit.rstrip(".").split("; ")
    if len(cells) < 2 or not all(_ROW_CELL.match(c) for c in cells):
        return unit
    first = cells[0].split(": ", 1)[1]
    return f"{first} — " + "; ".join(cells[1:]) + "."


def extractive_reply(picked: Sequence[tuple[Unit, float]]) -> str:
    """The picked units in passage order (table rows made readable), each passage cited once as [n]."""
    chosen = sorted((u for u, _ in picked), key=lambda u: u.order)
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

    With claims in the evidence (a price, a number of days, a phone number) the reply must state
    at least one of them. Either way, of the evidence's content words that the question does not
    already use (the new information: "Privacy" in "delete it under Account settings > Privacy"),
    the reply must carry more than half.
    """
    ev_claims = claims(evidence)
    if ev_claims and not ev_claims & claims(reply):
        return False
    new = informative_words(evidence, question)
    if not new:
        return bool(ev_claims)  # evidence that adds nothing to the question proves nothing
    got = {stem(w) for w in content_words(reply)}
    return len(new & got) / len(new) > 0.5


def coverage(reply: str, evidence: Sequence[str], question: str = "") -> int:
    """How much of the evidence a reply carries so far: for each evidence text, 1 if the reply
    states one of its claims, plus the number of its informative words the reply uses. It grows
    while a reply moves toward the evidence (`covers` is the yes/no judgement)."""
    said, got = claims(reply), {stem(w) for w in content_words(reply)}
    return sum(bool(claims(e) & said) + len(informative_words(e, question) & got) for e in evidence)


def informative_words(evidence: str, question: str) -> set[str]:
    """Stems of the evidence's content words that the question does not already use."""
    asked = {stem(w) for w in content_words(question)}
    return {stem(w) for w in content_words(evidence)} - asked


def key_evidence(picked: Sequence[tuple[Unit, float]], question: str) -> list[Unit]:
    """The picked units that say something the question does not (a claim or new words): a
    generated reply must carry every one of them, or the evidence is shown instead, so a generated
    reply never holds fewer facts than the quoted evidence would."""
    return [unit for unit, _ in picked if claims(unit.text) or informative_words(unit.text, question)]
