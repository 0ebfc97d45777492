"""index: turning knowledge files into a searchable FAISS index.

    loopdesk index build index/demo_kb --out ~/.cache/loopdesk/index
    loopdesk index search "how do I return a shirt" --index ~/.cache/loopdesk/index -k 5

Modules: `loaders` (files -> documents), `chunking` (documents -> chunks with heading paths and
offsets), `embedder` (sentence-transformers), `builder` (chunks -> FAISS + chunk store + manifest,
swapped in atomically), `searcher` (`Index.search`), `cli` (the Typer subcommands).
"""

from pathlib import Path

DEMO_KB = Path(__file__).parent / "demo_kb"


def open_for_config(cfg):
    """The `Retriever` for a loopdesk config (embedder + index directory); raises IndexUnavailableError."""
    from assistant.errors import IndexUnavailableError
    from index.builder import current_build
    from index.embedder import SentenceEmbedder
    from index.searcher import open_index

    if current_build(cfg.index_dir) is None:  # fail fast, before loading the embedder
        raise IndexUnavailableError(f"no index at {cfg.index_dir} (run: make install, or loopdesk index build)")
    return open_index(
        cfg.index_dir,
        SentenceEmbedder(cfg.models.embedder, cfg.home),
        cfg.retrieval.mode,
        cfg.retrieval.fusion_k,
        cfg.retrieval.title_weight,
    )
