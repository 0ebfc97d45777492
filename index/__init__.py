"""index: turning knowledge files into a searchable FAISS index.

    loopdesk index build index/demo_kb --out ~/.cache/loopdesk/index
    loopdesk index search "how do I return a shirt" --index ~/.cache/loopdesk/index -k 5

Modules: `loaders` (files -> documents), `chunking` (documents -> chunks with heading paths and
offsets), `embedder` (sentence-transformers), `builder` (chunks -> FAISS + chunk store + manifest,
swapped in atomically), `searcher` (`Index.search`), `cli` (the Typer subcommands).
"""

from pathlib import Path

DEMO_KB = Path(__file__).parent / "demo_kb"
