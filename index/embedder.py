"""Sentence-transformers embedder (the bundled MiniLM by default): batched, L2-normalised float32."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


class SentenceEmbedder:
    """`Embedder` implementation: `embed(texts)` -> (n, dim) float32 unit vectors."""

    def __init__(self, ref: str, home: Path, device: str = "cpu") -> None:
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

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])

    def embed(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False):
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype="float32")
        vecs = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(vecs, dtype="float32")
