"""Checkable claims in a text: numbers, prices, percentages, durations, phone numbers, e-mails.

`claims(text)` normalises them (`num:12.99`, `phone:5550102030`, `email:a@b.c`); citation marks
like `[2]` and list markers ("1. Sign in") are not claims. `unsupported_claims(reply, sources)`
names the claims of a reply found in none of the sources: the pipeline passes the passages plus
the customer's own words, `loopdesk eval answers` the passages only.
"""

from __future__ import annotations

import re
from typing import Iterable
from assistant.grounding.citations import CITE

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A phone number: 7+ digits with the usual separators (checked before plain numbers).
_PHONE = re.compile(r"(?<![\w$])\+?\d[\d ().-]{6,}\d(?![\w%])")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
CITATION = re.compile(CITE)
# A list marker opens a line or follows the end of a sentence ("... steps: 1. Sign in. 2. Choose").
_LIST_MARKER = re.compile(r"(?:^|(?<=\n)|(?<=[.!?:] ))\s*(?:\d+[.)]|[-*•])(?=\s|$)")


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def claims(text: str) -> set[str]:
    """Normalised claims: `email:x@y.z`, `phone:<digits>`, `num:<digits[.digits]>`."""
    text = _LIST_MARKER.sub(" ", CITATION.sub(" ", text or ""))
    found: set[str] = set()
    for m in _EMAIL.finditer(text):
        found.add("email:" + m.group(0).lower().rstrip("."))
    text = _EMAIL.sub(" ", text)
    for m in _PHONE.finditer(text):
        digits = _digits(m.group(0))
        # "3–5" or "2,500" are not phone numbers; real ones have 7+ digits in separated groups.
        if len(digits) >= 7 and re.search(r"\d[ ().-]+\d", m.group(0)):
            found.add("phone:" + digits[-10:])
            text = text.replace(m.group(0), " ")
    for m in _NUMBER.finditer(text):
        raw = m.group(0).replace(",", "")
        if raw.endswith(".0"):
            raw = raw[:-2]
        found.add("num:" + raw.rstrip("."))
    return found


def supported_claims(sources: Iterable[str]) -> frozenset[str]:
    """Every claim made by any of the sources."""
    out: set[str] = set()
    for s in sources:
        out |= claims(s)
    return frozenset(out)


def unsupported_claims(reply: str, sources: Iterable[str] | frozenset[str]) -> set[str]:
    """Claims of `reply` that occur in none of `sources` (passage texts, the customer's words), or
    that are not among `supported_claims(sources)` computed once (the checked stream, per sentence)."""
    supported = sources if isinstance(sources, frozenset) else supported_claims(sources)
    supported_phones = {c for c in supported if c.startswith("phone:")}
    out = set()
    for c in claims(reply):
        if c in supported:
            continue
        if c.startswith("phone:") and any(p.endswith(c[6:]) or c.endswith(p[6:]) for p in supported_phones):
            continue
        out.add(c)
    return out
