"""Sentence-transformers embedder (the bundled MiniLM by default): batched, L2-normalised float32.

`embed_known(texts)` keeps the vectors of texts it has embedded (least recently used first out):
for the knowledge base's sentences, which every turn embeds again to pick its evidence (30-50 of
them, most of a turn's 100-230 ms of retrieval on one thread, measured) and which come back across
turns because the knowledge base is finite. A single text's vector is also kept for a while (the
last 256): a turn embeds its question twice, to search and to pick its evidence. Used by `index.searcher`
(queries, the knowledge base's vocabulary) and `assistant.grounding.evidence` (evidence sentences).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence


class SentenceEmbedder:
    """`Embedder` implementation: `embed(texts)` -> (n, dim) float32 unit vectors."""

    def __init__(self, ref: str, home: Path, device: str = "cpu", known_size: int = 20000) -> None:
        from assistant.models import load_sentence_transformer

        self.model, resolved = load_sentence_transformer(ref, home, device)
        self.model_id = resolved.model_id
        self.dim = int(
            self.model.get_embedding_dimension()
            if hasattr(self.model, "get_embedding_dimension")
            else self.model.get_sentence_embedding_dimension()
        )
        self.max_tokens = int(self.model.max_seq_length)
        self.tokenizer = self.model.tokenizer
        self.known_size = known_size  # 20,000 vectors of 384 floats: 31 MB
        self._known: OrderedDict[str, Any] = OrderedDict()
        self._recent: OrderedDict[str, Any] = OrderedDict()  # single texts (questions), 256 at most
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])

    def embed(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False):
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype="float32")
        if len(texts) == 1:
            with self._lock:
                hit = self._recent.get(texts[0])
                if hit is not None:
                    self._recent.move_to_end(texts[0])
                    return hit[None, :].copy()
        vecs = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        vecs = np.asarray(vecs, dtype="float32")
        if len(texts) == 1:
            with self._lock:
                self._recent[texts[0]] = vecs[0].copy()
                if len(self._recent) > 256:
                    self._recent.popitem(last=False)
        return vecs

    def embed_known(self, texts: Sequence[str]):
        """`embed`, reusing the vectors of texts seen before (knowledge-base sentences)."""
        import numpy as np

        with self._lock:
            found = {t: self._known[t] for t in texts if t in self._known}
            for t in found:
                self._known.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            fresh = self.embed(missing)
            with self._lock:
                for t, v in zip(missing, fresh):
                    found[t] = self._known[t] = v
                while len(self._known) > self.known_size:
                    self._known.popitem(last=False)
        if not texts:
            return np.zeros((0, self.dim), dtype="float32")
        return np.stack([found[t] for t in texts]).astype("float32", copy=False)
