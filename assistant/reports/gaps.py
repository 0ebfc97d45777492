"""Knowledge gaps: the customer questions the assistant declined, gave up on or had rated down,
grouped by topic, biggest first, each with its count, trend, examples and a draft help article.

    loopdesk report gaps [--days 14] --json   # {"gaps": [{"topic", "count", "examples", ...}, ...]}

Grouping: the retrieval embedder's vectors, agglomerative clustering (scikit-learn, average linkage
on cosine distance, cut at `DISTANCE`: two groups merge while their questions are on average within
0.55 cosine distance, i.e. above 0.45 similarity), so the number of topics follows the data. A topic's name is
its most distinctive words (count in the topic x rarity across all gap questions); its examples are
the members closest to its centre. The draft article is a title and the distinct questions it must
answer, for an operator to complete in the console and save into the knowledge-base folder.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np

from assistant.errors import InputError
from assistant.grounding.words import content_words, stem

DISTANCE = 0.55  # cosine distance at which clusters stop merging (0.45 cosine: same subject, other wording)
EXAMPLES = 3
DRAFT_QUESTIONS = 8


@dataclass
class Gap:
    topic: str
    count: int
    examples: list[str]
    why: dict[str, int]
    trend: str
    per_day: dict[str, int] = field(default_factory=dict)
    questions: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "topic": self.topic,
            "count": self.count,
            "examples": self.examples,
            "why": self.why,
            "trend": self.trend,
            "per_day": self.per_day,
        }

    def draft(self) -> str:
        """A help-article skeleton in markdown: the title and the questions it must answer."""
        title = self.topic.replace(" · ", ", ").capitalize()
        lines = [f"# {title}", "", "<!-- Draft from the knowledge-gap report: answer each question below. -->", ""]
        for q in self.questions[:DRAFT_QUESTIONS]:
            q = q.rstrip("?").strip()
            lines += [f"## {q[:1].upper()}{q[1:]}?", "", "TODO: the answer.", ""]
        return "\n".join(lines)


def _name(members: list[str], all_texts: list[str], n: int = 3) -> str:
    """The topic's most telling words: in most of its questions first, then rare among all gap
    questions (a word every topic uses says nothing); "card" and "cards" count as one."""

    def stems(text: str) -> dict[str, str]:
        return {stem(w): w for w in content_words(text)}

    df = Counter(s for t in all_texts for s in stems(t))
    tf: Counter = Counter()
    shown: dict[str, str] = {}
    for t in members:
        for s, w in stems(t).items():
            tf[s] += 1
            shown.setdefault(s, w)
    docs = len(all_texts)
    scored = sorted(tf, key=lambda s: (-tf[s] * (1 + math.log((docs + 1) / (df[s] + 0.5))), s))
    return " · ".join(shown[s] for s in scored[:n]) or members[0][:40]


def _trend(ats: list[datetime], since: datetime, until: datetime) -> str:
    """How the second half of the window compares with the first."""
    mid = since + (until - since) / 2
    before = sum(a < mid for a in ats)
    after = len(ats) - before
    if before == 0:
        return "new"
    if after >= 1.5 * before:
        return "rising"
    if after <= 0.5 * before:
        return "falling"
    return "steady"


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def find_gaps(signals: list[dict], embedder, since: datetime, until: datetime | None = None) -> list[Gap]:
    """Group `signals` (`text`, `at`, `why` rows from `Store.gap_signals`) into topics, biggest first."""
    from sklearn.cluster import AgglomerativeClustering

    until = until or datetime.now(timezone.utc)
    rows = [s for s in signals if (s.get("text") or "").strip()]
    if not rows:
        return []
    texts = [" ".join(s["text"].split())[:500] for s in rows]
    vectors = np.asarray(embedder.embed(texts), dtype="float32")
    if len(rows) == 1:
        labels = np.zeros(1, dtype=int)
    else:
        labels = AgglomerativeClustering(
            n_clusters=None, distance_threshold=DISTANCE, metric="cosine", linkage="average"
        ).fit_predict(vectors)
    gaps = []
    for label in set(labels.tolist()):
        idx = [i for i, x in enumerate(labels) if x == label]
        centre = vectors[idx].mean(axis=0)
        ranked = sorted(idx, key=lambda i: -float(vectors[i] @ centre))
        distinct: list[str] = []
        for i in ranked:
            key = re.sub(r"\W+", " ", texts[i].lower()).strip()
            if key not in {re.sub(r"\W+", " ", d.lower()).strip() for d in distinct}:
                distinct.append(texts[i])
        ats = [_aware(rows[i]["at"]) for i in idx]
        days = Counter(a.date().isoformat() for a in ats)
        gaps.append(
            Gap(
                topic=_name([texts[i] for i in idx], texts),
                count=len(idx),
                examples=distinct[:EXAMPLES],
                why=dict(Counter(rows[i]["why"] for i in idx)),
                trend=_trend(ats, _aware(since), _aware(until)),
                per_day=dict(sorted(days.items())),
                questions=distinct,
            )
        )
    return sorted(gaps, key=lambda g: (-g.count, g.topic))


def gap_report(store, embedder, days: int = 14) -> list[Gap]:
    """The last `days` days of the store's gap signals, grouped."""
    if days < 1:
        raise InputError("days must be at least 1")
    until = datetime.now(timezone.utc)
    since = until - timedelta(days=days)
    return find_gaps(store.gap_signals(since), embedder, since, until)
