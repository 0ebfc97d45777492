"""NER tagger: PER/ORG/LOC/MISC from the `ner` LoRA adapter, plus exact support-entity patterns.

Text is split into CoNLL-like words with offsets, tokenized with `word_ids` alignment (the first
sub-token of each word decides its tag), and long texts are processed in overlapping windows so
nothing is cut: each word takes its tag from the window where it sits furthest from an edge.
Output: character spans (type, text, start, end, score). Pattern entities (e-mail, URL, phone,
money, date, order id) win over overlapping model spans.
"""

from __future__ import annotations


from assistant.taggers.entity_patterns import find_pattern_entities
from assistant.taggers.network import encode_words, split_words
from assistant.types import Entity
from assistant.taggers.registry import TaggerKind


class TransformerNer:
    name = "ner"

    def __init__(self, backbone, meta: dict, window: int = 200, stride: int = 100) -> None:
        self.backbone = backbone
        self.labels = list(meta["labels"])
        self.window, self.stride = window, stride  # in words; a word is rarely > 1.3 word pieces

    def _windows(self, n: int) -> list[tuple[int, int]]:
        if n <= self.window:
            return [(0, n)]
        spans, start = [], 0
        while True:
            end = min(n, start + self.window)
            spans.append((start, end))
            if end == n:
                return spans
            start += self.stride

    def word_tags(self, words: list[str]) -> list[tuple[str, float]]:
        """(tag, probability) per word, windowed so no word is dropped."""
        best: list[tuple[float, str, float]] = [(-1.0, "O", 1.0)] * len(words)
        spans = self._windows(len(words))
        for s, e in spans:
            chunk = words[s:e]
            enc, word_ids, shapes = encode_words(self.backbone.tokenizer, [chunk], max_length=512)
            probs = self.backbone.logits(self.name, enc, shapes)[0].softmax(-1)
            seen = set()
            for pos, w in enumerate(word_ids[0]):
                if w is None or w in seen:
                    continue
                seen.add(w)
                centrality = min(w, len(chunk) - 1 - w) if len(spans) > 1 else 0
                p, j = probs[pos].max(-1)
                if centrality > best[s + w][0]:
                    best[s + w] = (centrality, self.labels[int(j)], float(p))
            # A word the tokenizer truncated away keeps the tag of a later window that covers it.
        return [(tag, p) for _, tag, p in best]

    def model_entities(self, text: str) -> list[Entity]:
        words = split_words(text)
        if not words:
            return []
        tags = self.word_tags([w for w, _, _ in words])
        spans: list[Entity] = []
        cur: tuple[str, int, int, list[float]] | None = None
        for (word, s, e), (tag, p) in zip(words, tags):
            kind = tag[2:] if tag != "O" else None
            if cur and (kind is None or tag.startswith("B-") or kind != cur[0]):
                spans.append(Entity(cur[0], text[cur[1] : cur[2]], cur[1], cur[2], round(sum(cur[3]) / len(cur[3]), 4)))
                cur = None
            if kind:
                cur = (kind, cur[1] if cur else s, e, (cur[3] if cur else []) + [p])
        if cur:
            spans.append(Entity(cur[0], text[cur[1] : cur[2]], cur[1], cur[2], round(sum(cur[3]) / len(cur[3]), 4)))
        return spans

    def tag(self, text: str) -> list[Entity]:
        if not text.strip():
            return []
        patterns = find_pattern_entities(text)
        model = [m for m in self.model_entities(text) if not any(m.start < p.end and p.start < m.end for p in patterns)]
        return sorted(patterns + model, key=lambda x: x.start)


KIND = TaggerKind(
    "ner",
    "NER tagger",
    directory=lambda cfg: cfg.models.ner,
    make=lambda backbone, meta, cfg: TransformerNer(backbone, meta),
)
