"""The unit encoder: the retrieval embedder (all-MiniLM-L6-v2) with a LoRA adapter fine-tuned to put a
customer's question next to the sentence, list item or table row that answers it.

The bundled MiniLM was trained for general semantic similarity; in a help page it often prefers a
sentence that shares the question's words over the one that answers it ("What rate would I get on a
CD?" -> "The minimum deposit for a CD is $1,000"). `loopdesk finetune relevance --unit-encoder`
(`finetune/unit_encoder.py`) fine-tunes it on the dev knowledge bases' questions, with the units that
held an answer as positives and the other picked units as hard negatives; a round of the learning loop
(`benchmarks/loop_gain.py`) continues that training on one deployment's reviewed traffic. Passages are
still found by the index's own vectors; this encoder only ranks the units inside the retrieved passages
(`assistant.grounding.evidence.pick_evidence`), so no index has to be rebuilt when it changes.

The adapter (safetensors, ~1 MB) sits next to the relevance model that was fitted on its scores
(`"unit_encoder"` in relevance.json). Loading it costs a second copy of MiniLM (~90 MB of memory).

    from assistant.grounding.unit_encoder import load_unit_encoder
    from index.embedder import SentenceEmbedder
    enc = load_unit_encoder("models/relevance/unit-encoder", lambda: SentenceEmbedder(cfg.models.embedder, cfg.home))
    enc.embed(["how much is express?", "Express: 1-2 days; $12.99."])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from assistant.errors import ModelNotFoundError

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def check_folder(folder: str | Path) -> str:
    """Why `folder` is not a unit-encoder adapter ("" when it is one)."""
    p = Path(folder)
    missing = [f for f in ADAPTER_FILES if not (p / f).is_file()]
    return f"{p} lacks {', '.join(missing)}" if missing else ""


def load_unit_encoder(folder: str | Path, make_embedder: Callable[[], Any]):
    """The adapter in `folder` loaded on a fresh copy of the retrieval embedder (`make_embedder()`: an
    `index.embedder.SentenceEmbedder`, whose `embed`/`embed_known` and vector cache it keeps; passed in,
    since `assistant` does not import `index`). Raises ModelNotFoundError with the reason."""
    why = check_folder(folder)
    if why:
        raise ModelNotFoundError(f"unit encoder: {why}")
    enc = make_embedder()
    try:
        enc.model.load_adapter(str(folder))
    except Exception as exc:  # a corrupt file raises the reader's own errors (safetensors: SafetensorError)
        raise ModelNotFoundError(f"unit encoder {folder} is unreadable ({type(exc).__name__}: {exc})") from exc
    enc.model.eval()
    return enc
