"""The words a knowledge base uses: `Vocabulary` (each word and in how many chunks it occurs).

The learned relevance model (`assistant.grounding.relevance`) reads it to tell which of a question's
words the knowledge base knows. Words it never uses are deliberately no decline signal: customers use
everyday words (a relative, a city, a product) that no help page mentions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from assistant.grounding.words import words_of


@dataclass(frozen=True)
class Vocabulary:
    """The words of a knowledge base and in how many of its chunks each occurs."""

    df: dict
    docs: int

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> "Vocabulary":
        df: dict[str, int] = {}
        n = 0
        for t in texts:
            n += 1
            for w in set(words_of(t)):
                df[w] = df.get(w, 0) + 1
        return cls(df, n)

    def idf(self, df: int) -> float:
        # Smoothed: a word in every chunk still weighs 1, a word in none weighs the most.
        return math.log((self.docs + 1) / (df + 1)) + 1
