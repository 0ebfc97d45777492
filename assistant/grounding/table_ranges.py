"""Table lookup by quantity: the row of a price or tier table whose range holds the customer's number.

"How much to send a 3kg parcel next day?" should read the row "Over 2kg up to 5kg", and "we ship about
600 orders a month" the row "500–1,999"; a sentence embedding cannot tell which range holds 3 or 600,
so the cosine ranks those rows at random. `range_rows(question_texts, rows)` parses each row's first
cell as a range ("Up to 1kg", "Over 2kg up to 5kg", "50–199", "2,000 or more", and single values under
a header that says "up to": "Cover up to | £150") and returns the one row that holds a quantity of the
question in the same unit (kg with kg, £ with £, a bare count with a bare count). No row, or several
rows for several quantities ("I booked 4kg but it's 6kg"), returns None: the cosine's order stands.

Used by `assistant.grounding.evidence.pick_evidence` (the chat's unit ranking); no thresholds.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

# Units a quantity can carry, normalised; a currency symbol is a unit too ("£900" is not "900 parcels").
_UNITS = {
    "kg": "kg",
    "kgs": "kg",
    "kilo": "kg",
    "kilos": "kg",
    "kilogram": "kg",
    "kilograms": "kg",
    "g": "g",
    "gram": "g",
    "grams": "g",
    "lb": "lb",
    "lbs": "lb",
    "pound": "lb",
    "pounds": "lb",
    "cm": "cm",
    "mm": "mm",
    "m": "m",
    "km": "km",
    "mi": "mi",
    "miles": "mi",
    "mile": "mi",
    "gb": "gb",
    "mb": "mb",
    "tb": "tb",
    "%": "%",
    "day": "day",
    "days": "day",
    "week": "week",
    "weeks": "week",
    "month": "month",
    "months": "month",
    "year": "year",
    "years": "year",
}
_CURRENCY = {"£": "£", "$": "$", "€": "€"}
# Times and ordinals ("10.30am", "the 3rd") are no quantity a tier table is about.
_NOT_QUANTITIES = {"am", "pm", "st", "nd", "rd", "th", "h", "hrs"}
_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_QUANTITY = re.compile(rf"(?P<cur>[£$€])?\s?(?P<num>{_NUMBER})\s?(?P<unit>[a-z%]+)?(?![\w.])", re.IGNORECASE)
# "5.99" in "£5.99" is a price, not a range end; times ("10.30") and dates carry no unit and are ignored
# by any table whose labels have one.


def quantities(text: str) -> list[tuple[float, str]]:
    """(value, unit) for each number of `text`; unit "" for a bare count ("600 orders", "3 parcels")."""
    out = []
    for m in _QUANTITY.finditer(text or ""):
        value = _value(m.group("num"))
        word = (m.group("unit") or "").lower()
        if value is None or word in _NOT_QUANTITIES or text[max(0, m.start() - 1) : m.start()] == ":":
            continue
        unit = _CURRENCY.get(m.group("cur") or "", "")
        if not unit and word in _UNITS:
            unit = _UNITS[word]
        out.append((value, unit))
    return out


def _value(s: str) -> float | None:
    try:
        return float(s.replace(",", ""))
    except ValueError:
        return None


_LOW = r"(?:over|more than|above|from|at least)"
_HIGH = r"(?:up to|under|less than|below|to|max(?:imum)?|no more than)"


def parse_range(label: str) -> tuple[float, float, str] | None:
    """A row label as (low, high, unit): "Over 2kg up to 5kg" -> (2, 5, "kg") (low exclusive does not
    matter for lookup: the neighbouring row ends where this one starts); "Up to 1kg" -> (0, 1, "kg");
    "50–199" -> (50, 199, ""); "2,000 or more" -> (2000, inf, ""). None when it is not a range."""
    text = re.sub(r"\([^)]*\)", "", label).strip().lower()
    qs = quantities(text)
    if not qs or len(qs) > 2:
        return None
    units = {u for _, u in qs if u}
    if len(units) > 1:
        return None
    unit = units.pop() if units else ""
    if len(qs) == 2:
        (a, _), (b, _) = qs
        if re.search(rf"{_LOW}.*{_HIGH}", text) or re.search(rf"{_NUMBER}\s*\S*\s*(?:–|-|to)\s*[£$€]?{_NUMBER}", text):
            return (min(a, b), max(a, b), unit) if a != b else None
        return None
    value = qs[0][0]
    if re.search(rf"\b{_HIGH}\b", text):
        return (0.0, value, unit)
    if re.search(rf"\b{_LOW}\b", text) or re.search(r"(?:or more|or over|\+)\s*$", text):
        return (value, math.inf, unit)
    return None


def _tiers(labels: Sequence[str], header: str) -> list[tuple[float, float, str]] | None:
    """Single values under a header that says they are upper bounds ("Cover up to": £150, £300, ...)."""
    if not re.search(rf"\b{_HIGH}\b", header.lower()):
        return None
    values = [quantities(re.sub(r"\([^)]*\)", "", label)) for label in labels]
    if not all(len(v) == 1 for v in values):
        return None
    out, low = [], 0.0
    for [(value, unit)] in values:
        if value <= low:
            return None  # not ascending: not tiers
        out.append((low, value, unit))
        low = value
    return out


def range_rows(question_texts: Sequence[str], rows: Sequence[list[tuple[str, str]]]) -> int | None:
    """Index of the one row (each a list of (column, value) cells of one table) whose first cell's
    range holds a quantity of the questions in the same unit; None when no row or more than one does."""
    if len(rows) < 2:
        return None
    labels = [cells[0][1] for cells in rows]
    ranges = [parse_range(label) for label in labels]
    if not all(ranges):
        tiers = _tiers(labels, rows[0][0][0])
        if tiers is None:
            return None
        ranges = list(tiers)
    asked = {q for text in question_texts for q in quantities(text)}
    hits = set()
    for value, unit in asked:
        for i, r in enumerate(ranges):
            assert r is not None
            low, high, runit = r
            if runit == unit and low <= value <= high:
                # A value on a shared edge (2kg in "Up to 2kg" and "Over 2kg up to 5kg") belongs to
                # the row it closes; an open low end ("Over 2kg") does not hold it.
                if value == low and i > 0 and ranges[i - 1] is not None and ranges[i - 1][1] == value:  # type: ignore[index]
                    continue
                hits.add(i)
    return hits.pop() if len(hits) == 1 else None
