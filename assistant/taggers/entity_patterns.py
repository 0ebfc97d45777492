"""Exact patterns for support entities: EMAIL, URL, PHONE, MONEY, DATE, ORDER_ID.

Where a pattern is exact (an e-mail address, a link) a regex beats a model; the NER model covers
names, organisations, places and misc. `find_pattern_entities(text)` returns character spans.
"""

from __future__ import annotations

import re

from assistant.types import Entity

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)

PATTERNS: list[tuple[str, re.Pattern]] = [
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.I)),
    ("URL", re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)]", re.I)),
    (
        "ORDER_ID",
        re.compile(
            r"(?:(?<=\border )|(?<=\border: )|(?<=\border #)|(?<=\border number )|(?<=\border no\. )"
            r"|(?<=\bpurchase )|(?<=\bpurchase #)|(?<=\binvoice )|(?<=\binvoice #)|(?<=\btracking number )"
            r"|(?<=#))(?=[A-Z-]*\d)[A-Z0-9][A-Z0-9-]{3,}\b",
            re.I,
        ),
    ),  # an id has a digit: "order details" is no id
    ("ORDER_ID", re.compile(r"\b(?:ORD|INV|NW)-?\d{4,}\b", re.I)),
    (
        "MONEY",
        re.compile(
            r"(?:[$€£¥]\s?\d[\d,]*(?:\.\d{1,2})?|\b\d[\d,]*(?:\.\d{1,2})?\s?(?:usd|eur|gbp|dollars?|euros?|pounds?)\b)",
            re.I,
        ),
    ),
    (
        "DATE",
        re.compile(
            rf"\b(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{2,4}}"
            rf"|{_MONTHS}\.? \d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?"
            rf"|\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTHS}(?:,? \d{{4}})?)\b",
            re.I,
        ),
    ),
    (
        "PHONE",
        re.compile(
            r"(?<![\w-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,4}[\s.-]\d{3,4}(?:[\s.-]\d{2,4})?(?![\w-])"
        ),
    ),
]


def find_pattern_entities(text: str) -> list[Entity]:
    """Non-overlapping pattern matches, earlier patterns winning (an e-mail is not also a URL)."""
    found: list[Entity] = []
    taken: list[tuple[int, int]] = []
    for etype, pattern in PATTERNS:
        for m in pattern.finditer(text):
            s, e = m.span()
            if any(s < te and ts < e for ts, te in taken):
                continue
            taken.append((s, e))
            found.append(Entity(etype, m.group(), s, e, 1.0))
    return sorted(found, key=lambda x: x.start)
