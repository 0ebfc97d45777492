"""`Index`: search an index directory; follows rebuilds without a restart.

Each search checks (one stat call) whether `CURRENT` names a new build and, if so, loads it, so
the running app picks up `loopdesk index build` output at its next question.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from assistant.errors import IndexUnavailableError
from assistant.types import Passage
from index.builder import current_build


class Index:
    """`Retriever` implementation over a FAISS build directory."""

    def __init__(self, directory: str | Path, embedder) -> None:
        self.directory = Path(directory)
        self.embedder = embedder
        self._lock = threading.Lock()
        self._loaded: tuple[str, object, list[dict], dict] | None = None
        self._load()

    def _load(self) -> None:
        import faiss

        build = current_build(self.directory)
        if build is None:
            raise IndexUnavailableError(f"no index at {self.directory} (run: loopdesk index build PATH --out {self.directory})")
        try:
            manifest = json.loads((build / "manifest.json").read_text())
            index = faiss.read_index(str(build / "index.faiss"))
            chunks = [json.loads(line) for line in (build / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]
        except (OSError, RuntimeError, ValueError) as exc:
            raise IndexUnavailableError(f"index at {build} is corrupt: {exc}") from exc
        if index.ntotal != len(chunks):
            raise IndexUnavailableError(f"index at {build} is corrupt: {index.ntotal} vectors for {len(chunks)} chunks")
        if manifest.get("dimension") != self.embedder.dim or manifest.get("embedding_model") != self.embedder.model_id:
            raise IndexUnavailableError(
                f"index at {build} was built with {manifest.get('embedding_model')} ({manifest.get('dimension')}d), "
                f"not {self.embedder.model_id}; rebuild it")
        self._loaded = (build.name, index, chunks, manifest)

    @property
    def manifest(self) -> dict:
        return self._loaded[3]

    def _maybe_reload(self) -> None:
        marker = self.directory / "CURRENT"
        try:
            name = marker.read_text().strip()
        except OSError:
            return  # keep serving the build we have
        if self._loaded and name != self._loaded[0]:
            with self._lock:
                if name != self._loaded[0]:
                    try:
                        self._load()
                    except IndexUnavailableError:
                        pass  # a broken new build never replaces a working one

    def search(self, query: str, k: int = 5) -> list[Passage]:
        if k <= 0 or not query.strip():
            return []
        self._maybe_reload()
        _, index, chunks, _ = self._loaded
        vec = self.embedder.embed([query])
        scores, ids = index.search(vec, min(k, len(chunks)))
        out = []
        for score, i in zip(scores[0], ids[0]):
            if i < 0:
                continue
            c = chunks[i]
            out.append(Passage(id=c["id"], text=c["text"], source=c["source"], heading=c["heading"],
                               score=float(score), title=c.get("title", "")))
        return out


def open_index(directory: str | Path, embedder) -> Index:
    return Index(directory, embedder)
