"""What a knowledge base never mentions: the decline signal.

`Vocabulary` holds a knowledge base's words with their chunk counts (and, from the index, a
synonym check by MiniLM cosine). `unknown_terms(question, vocabulary)` finds the question's
content words the knowledge base never uses, forgiving typos, word families, synonyms, generic
words and people's names, and weighs them by inverse document frequency: when they carry enough
of the question (`policy.decline_unknown_share`), the assistant declines and offers a human.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from assistant.grounding.words import STOPWORDS, content_words, generic_typo, similar, stem, words_of

# MiniLM cosine of two single words above which they count as one meaning: shipment ~ shipping 0.83,
# reimbursed ~ refunds 0.67, broken ~ damaged 0.69; unrelated pairs stay near 0.45-0.55.
SYNONYM_COSINE = 0.65


@dataclass(frozen=True)
class Vocabulary:
    """The words of a knowledge base and in how many of its chunks each occurs."""

    df: dict
    docs: int
    similarity: Callable[[list[str]], list[float]] | None = None
    """Optional: each word's best cosine with a knowledge-base word, to forgive synonyms ("shipment")."""

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


def _match(t: str, vocab: Vocabulary, stems: dict[str, str], prefixes: dict[str, str]) -> str | None:
    """The knowledge-base word a question word stands for: itself, a word of the same family (same
    stem, or the same first 6 letters: "receiving" / "receive") or the same word with one typo."""
    if t in vocab.df:
        return t
    if stem(t) in stems:
        return stems[stem(t)]
    if len(t) >= 6 and t[:6] in prefixes:
        return prefixes[t[:6]]
    if len(t) >= 5:
        return next((v for v in vocab.df if abs(len(v) - len(t)) <= 2 and similar(t, v)), None)
    return None


def unknown_terms(question: str, vocab: Vocabulary, names: Sequence[str] = ()) -> tuple[list[str], list[str], float]:
    """(content words of the question, those the knowledge base never uses, their share of the question).

    The share weighs each word by its inverse document frequency in the knowledge base, so a word the
    KB never uses ("student", "euros") outweighs the ones it uses everywhere ("account"). Typos of
    generic words ("lnog") are dropped like the words themselves, and so are `names` (people the
    NER tagger found: "my invoices from David Miller" is about invoices).
    """
    skip = {w for n in names for w in content_words(n)}
    terms = [
        t
        for t in dict.fromkeys(content_words(question))
        if t not in skip and stem(t) not in STOPWORDS and not generic_typo(t)
    ]
    if not terms or not vocab.df:
        return terms, [], 0.0
    stems = {stem(v): v for v in vocab.df}
    prefixes = {v[:6]: v for v in vocab.df if len(v) >= 6}
    hits = {t: _match(t, vocab, stems, prefixes) for t in terms}
    missing = [t for t in terms if hits[t] is None]
    if missing and vocab.similarity is not None:
        synonyms = {t for t, sim in zip(missing, vocab.similarity(missing)) if sim >= SYNONYM_COSINE}
    else:
        synonyms = set()
    unknown, weight, total = [], 0.0, 0.0
    for t in terms:
        w = vocab.idf(vocab.df[hits[t]] if hits[t] else (1 if t in synonyms else 0))
        total += w
        if hits[t] is None and t not in synonyms:
            unknown.append(t)
            weight += w
    return terms, unknown, weight / total
