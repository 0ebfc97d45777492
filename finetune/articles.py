"""New help articles from the console (a knowledge-gap draft an operator answered): where they are
saved and which folders the index is rebuilt from afterwards (`LearningLoop.save_article` runs it).

- `retrieval.kb_dir` set: saved there, the index is rebuilt from it;
- the demo index (no `retrieval.index_dir`): saved in `<home>/kb`, rebuilt from the bundled pages plus it
  (the package's pages are never written to);
- an index of its own without `retrieval.kb_dir`: refused, saying what to set.
"""

from __future__ import annotations

import re
from pathlib import Path

from assistant.errors import InputError


def article_target(cfg) -> tuple[Path, list[Path]]:
    """Where a new help article is saved, and the folders the index is rebuilt from after it."""
    import index

    if cfg.retrieval.kb_dir:
        folder = Path(cfg.retrieval.kb_dir).expanduser()
        return folder, [folder]
    if cfg.retrieval.index_dir:
        raise InputError(
            "set retrieval.kb_dir to the folder your index is built from, so a new article is saved "
            "there and the index is rebuilt from all of it"
        )
    folder = cfg.home / "kb"  # the demo index: the bundled pages stay untouched in the package
    return folder, [index.DEMO_KB, folder]


def save_article(cfg, name: str, text: str) -> Path:
    """Write a markdown article into the knowledge-base folder (never over an existing page)."""
    folder, _ = article_target(cfg)
    slug = re.sub(r"[^a-z0-9]+", "-", (name or "").lower()).strip("-")[:60]
    if not slug:
        raise InputError("give the article a file name (letters or digits)")
    if not (text or "").strip():
        raise InputError("the article is empty")
    if "TODO: the answer." in text:
        raise InputError("answer every question of the draft first (it still says 'TODO: the answer.')")
    path = folder / f"{slug}.md"
    if path.exists():
        raise InputError(f"{path.name} exists already in {folder}: choose another name")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text.strip() + "\n", encoding="utf-8")
    tmp.rename(path)
    return path
