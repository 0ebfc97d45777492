"""`Index`: search an index directory (dense, BM25 or fused), with metadata filters; follows rebuilds.

Each search checks (one small read) whether `CURRENT` names a new build and, if so, loads it, so
the running app picks up `loopdesk index build` output at its next question. Filters (`source`
substring, `tag`) search exactly within the matching chunks. `hybrid` fuses the dense and BM25
rankings by reciprocal rank fusion; scores of fused results stay the dense cosine similarity so
one threshold (`retrieval.min_score`) keeps working.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from assistant.errors import IndexUnavailableError
from assistant.grounding.kb_terms import Vocabulary
from assistant.types import Passage
from index.builder import current_build
from index.chunking import join_chunks

log = logging.getLogger("loopdesk.index")

MODES = ("dense", "bm25", "hybrid")


class _Build:
    def __init__(self, build: Path) -> None:
        import faiss
        import numpy as np

        self.name = build.name
        self.manifest = json.loads((build / "manifest.json").read_text())
        self.index = faiss.read_index(str(build / "index.faiss"))
        self.chunks = [json.loads(line) for line in (build / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]
        self.vectors = np.load(build / "vectors.npy", mmap_mode="r", allow_pickle=False)
        self.bm25_dir = build / "bm25"
        self._bm25 = None
        titles = json.loads((build / "titles.json").read_text()) if (build / "titles.json").exists() else []
        self.title_vectors = np.load(build / "title_vectors.npy") if titles else None
        position = {t: i for i, t in enumerate(titles)}
        self.title_of = np.array([position.get(c.get("title"), -1) for c in self.chunks], dtype=int)
        self._vocabulary: Vocabulary | None = None

    @property
    def vocabulary(self) -> Vocabulary:
        if self._vocabulary is None:
            self._vocabulary = Vocabulary.from_texts(
                " ".join((c["text"], c.get("heading", ""), c.get("title", ""))) for c in self.chunks
            )
        return self._vocabulary

    @property
    def bm25(self):
        if self._bm25 is None:
            import bm25s

            if not self.bm25_dir.is_dir():
                raise IndexUnavailableError(
                    f"index build {self.name} has no BM25 part (built for retrieval.mode=dense): "
                    "rebuild it with `loopdesk --set retrieval.mode=hybrid index build ...` to search it by words"
                )

            self._bm25 = bm25s.BM25.load(str(self.bm25_dir), show_progress=False)
        return self._bm25


class Index:
    """`Retriever` implementation over a build directory."""

    def __init__(
        self, directory: str | Path, embedder, mode: str = "dense", fusion_k: int = 60, title_weight: float = 0.5
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.directory, self.embedder, self.mode, self.fusion_k = Path(directory), embedder, mode, fusion_k
        self.title_weight = title_weight
        self.pointer = None
        """Optional callable -> the build name every replica should serve (`Store.deployed("index_build")`);
        without one (or before a build is recorded) the directory's CURRENT file decides."""
        self._lock = threading.Lock()
        self._build = self._load()

    def _load(self, name: str | None = None) -> _Build:
        build = current_build(self.directory) if name is None else self.directory / "builds" / name
        if name is not None and build is not None and not build.is_dir():
            raise IndexUnavailableError(f"index build {name} is not in {self.directory / 'builds'}")
        if build is None:
            raise IndexUnavailableError(
                f"no index at {self.directory} (run: loopdesk index build PATH --out {self.directory})"
            )
        try:
            b = _Build(build)
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise IndexUnavailableError(f"index at {build} is corrupt: {exc}") from exc
        if b.index.ntotal != len(b.chunks) or len(b.vectors) != len(b.chunks):
            raise IndexUnavailableError(
                f"index at {build} is corrupt: {b.index.ntotal} vectors for {len(b.chunks)} chunks"
            )
        m = b.manifest
        if m.get("dimension") != self.embedder.dim or m.get("embedding_model") != self.embedder.model_id:
            raise IndexUnavailableError(
                f"index at {build} was built with {m.get('embedding_model')} ({m.get('dimension')}d), "
                f"not {self.embedder.model_id}; rebuild it"
            )
        return b

    @property
    def manifest(self) -> dict:
        return self._build.manifest

    def vocabulary(self) -> Vocabulary:
        """The words of the current build's chunks (with headings and titles) and their chunk counts."""
        self._maybe_reload()
        return self._build.vocabulary

    def _maybe_reload(self) -> None:
        name = None
        if self.pointer is not None:
            try:
                name = self.pointer()
            except Exception as exc:  # the database is down: keep serving the build we have
                log.error("index build record unreadable, still serving %s: %s", self._build.name, exc)
                return
        try:
            name = name or (self.directory / "CURRENT").read_text().strip()
        except OSError:
            return  # keep serving the build we have
        if name != self._build.name:
            with self._lock:
                if name != self._build.name:
                    try:
                        self._build = self._load(name)
                        log.info("switched to index build %s", name)
                    except IndexUnavailableError as exc:  # a broken new build never replaces a working one
                        log.error("index build %s not used, still serving %s: %s", name, self._build.name, exc)

    def section(self, passage_id: str) -> list[Passage]:
        """The section of the passage with this id (same file and heading) as one passage: its chunks
        in file order joined back into one text (`join_chunks`: no overlap twice, a long table as one
        table): what a citation link opens. Empty when the id is not in the current build."""
        self._maybe_reload()
        chunks = self._build.chunks
        hit = next((c for c in chunks if c["id"] == passage_id), None)
        if hit is None:
            return []
        parts = [c for c in chunks if c["source"] == hit["source"] and c["heading"] == hit["heading"]]
        whole = self._passage(parts[0], 1.0)
        whole.text = join_chunks([c["text"] for c in parts])
        return [whole]

    # --- rankings -----------------------------------------------------------------------------
    def _dense(self, b: _Build, qvec, n: int, allowed) -> list[tuple[int, float]]:
        """Chunks by cosine, re-ranked with the document-title field: cos(q, chunk) + w * cos(q, title).

        The title is a short, clean statement of what a page is about; on the Bitext check it
        lifted hit@1 by about three points. Returned scores stay the plain chunk cosine.
        """
        import numpy as np

        depth = n if not self.title_weight or b.title_vectors is None else max(n, 50)
        if allowed is None:
            scores, ids = b.index.search(qvec, min(depth, len(b.chunks)))
            cand = [(int(i), float(s)) for s, i in zip(scores[0], ids[0]) if i >= 0]
        else:
            idx = np.flatnonzero(allowed)
            sims = np.asarray(b.vectors[idx]) @ qvec[0]
            cand = [(int(idx[j]), float(sims[j])) for j in np.argsort(-sims)[:depth]]
        if depth == n or not cand:
            return cand[:n]
        title_sims = b.title_vectors @ qvec[0]
        boost = {
            i: s + self.title_weight * (float(title_sims[b.title_of[i]]) if b.title_of[i] >= 0 else 0.0)
            for i, s in cand
        }
        return sorted(cand, key=lambda x: -boost[x[0]])[:n]

    def _lexical(self, b: _Build, query: str, n: int, allowed) -> list[tuple[int, float]]:
        import bm25s

        # Strings, not ids: ids from a fresh tokenize() call belong to a different vocabulary.
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False, return_ids=False)
        if not tokens[0]:
            return []
        mask = None if allowed is None else allowed.astype("float32")
        ids, scores = b.bm25.retrieve(tokens, k=min(n, len(b.chunks)), show_progress=False, weight_mask=mask)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if s > 0]

    def _allowed(self, b: _Build, source: str | None, tag: str | None):
        if not source and not tag:
            return None
        import numpy as np

        return np.array(
            [(not source or source in c["source"]) and (not tag or tag in (c.get("tags") or [])) for c in b.chunks],
            dtype=bool,
        )

    def search(
        self, query: str, k: int = 5, mode: str | None = None, source: str | None = None, tag: str | None = None
    ) -> list[Passage]:
        if k <= 0 or not query.strip():
            return []
        self._maybe_reload()
        b, mode = self._build, mode or self.mode
        if not b.chunks:
            return []
        allowed = self._allowed(b, source, tag)
        if allowed is not None and not allowed.any():
            return []
        qvec = self.embedder.embed([query])  # also for bm25: results report the dense cosine
        if mode == "bm25":
            ranked = self._lexical(b, query, k, allowed)
        else:
            depth = k if mode == "dense" else max(50, 4 * k)
            dense = self._dense(b, qvec, depth, allowed)
            ranked = dense[:k] if mode == "dense" else self._fuse(dense, self._lexical(b, query, depth, allowed), k)
        if mode != "dense":
            # Report the dense cosine for every passage so thresholds and the UI mean one thing.
            sims = (b.vectors[[i for i, _ in ranked]] @ qvec[0]) if ranked else []
            ranked = [(i, float(s)) for (i, _), s in zip(ranked, sims)]
        return [self._passage(b.chunks[i], s) for i, s in ranked]

    def _fuse(self, dense, lexical, k: int) -> list[tuple[int, float]]:
        scores: dict[int, float] = {}
        for ranking in (dense, lexical):
            for rank, (i, _) in enumerate(ranking):
                scores[i] = scores.get(i, 0.0) + 1.0 / (self.fusion_k + rank + 1)
        return sorted(scores.items(), key=lambda x: -x[1])[:k]

    @staticmethod
    def _passage(c: dict, score: float) -> Passage:
        return Passage(
            id=c["id"], text=c["text"], source=c["source"], heading=c["heading"], score=score, title=c.get("title", "")
        )


def open_index(
    directory: str | Path, embedder, mode: str = "dense", fusion_k: int = 60, title_weight: float = 0.5
) -> Index:
    return Index(directory, embedder, mode, fusion_k, title_weight)
