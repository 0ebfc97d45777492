"""Operator labels from the store as tagger training examples (`finetune taggers --from-store`).

Sentiment labels become (text, class) pairs; entity labels ({type, text} spans on the customer's
message) become (words, IOB tags) sentences with the same word splitting the NER tagger uses at
chat time. Spans that cannot be found in the message are reported, not guessed.
"""

from __future__ import annotations

from assistant.taggers.network import split_words
from finetune.tagger_data import LABELS3


def sentiment_examples(store) -> list[tuple[str, int]]:
    return [(r["text"], LABELS3.index(r["value"])) for r in store.labels_for("sentiment") if r["value"] in LABELS3]


def entity_tags(text: str, entities: list[dict]) -> tuple[list[str], list[str], list[str]]:
    """(words, IOB tags, problems) for a message and its corrected entity spans."""
    words = split_words(text)
    tags = ["O"] * len(words)
    problems = []
    for ent in entities:
        etype, value = str(ent.get("type", "")).upper(), str(ent.get("text", ""))
        start = ent["start"] if isinstance(ent.get("start"), int) else text.find(value)
        if not etype or not value or start < 0 or text[start : start + len(value)] != value:
            problems.append(f"span {value!r} not found in the message")
            continue
        end = start + len(value)
        inside = [i for i, (_, s, e) in enumerate(words) if s >= start and e <= end]
        if not inside:
            problems.append(f"span {value!r} does not align with word boundaries")
            continue
        for n, i in enumerate(inside):
            tags[i] = ("B-" if n == 0 else "I-") + etype
    return [w for w, _, _ in words], tags, problems


def ner_examples(store) -> tuple[list[tuple[list[str], list[str]]], list[str]]:
    out, problems = [], []
    for r in store.labels_for("ner"):
        words, tags, issues = entity_tags(r["text"], r["value"] or [])
        problems += [f"turn {r['turn_id']}: {p}" for p in issues]
        if words:
            out.append((words, tags))
    return out, problems
