"""The reranker: a MiniLM cross-encoder that reads a question and a passage unit together and scores
whether the unit answers the question (a logit; higher is more relevant).

It is fine-tuned from the bundled all-MiniLM-L6-v2 by `loopdesk finetune relevance` (finetune/reranker.py)
on the dev knowledge bases' questions and saved as safetensors in `models/relevance/reranker/`. Its
scores are features of the learned relevance model (`assistant.grounding.relevance`); torch and
transformers load on the first call, so importing this module is cheap.

    from assistant.grounding.reranker import Reranker
    Reranker("models/relevance/reranker").score("how much is express?", ["Express: 1-2 days; $12.99."])
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Sequence

MAX_LENGTH = 128  # question + one unit with its heading; the longer of the two is cut first


class Reranker:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        with self._lock:
            if self._model is None:
                tokenizer = AutoTokenizer.from_pretrained(str(self.directory))
                model = AutoModelForSequenceClassification.from_pretrained(str(self.directory))
                model.eval()
                self._tokenizer, self._model = tokenizer, model

    def score(self, question: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        if self._model is None:
            self._load()
        import torch

        assert self._tokenizer is not None and self._model is not None
        batch = self._tokenizer(
            [question] * len(texts),
            list(texts),
            truncation="longest_first",
            max_length=MAX_LENGTH,
            padding=True,
            return_tensors="pt",
        )
        with torch.inference_mode():
            logits = self._model(**batch).logits
        return [float(x) for x in logits.reshape(-1)]
