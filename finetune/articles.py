"""New help articles from the console (a knowledge-gap draft an operator answered): where they are
saved and which folders the index is rebuilt from afterwards (`LearningLoop.save_article` runs it).

- `retrieval.kb_dir` set: saved there, the index is rebuilt from it;
- the demo index (no `retrieval.index_dir`): saved in `<home>/kb`, rebuilt from the bundled pages plus it
  (the package's pages are never written to);
- an index of its own without `retrieval.kb_dir`: refused, saying what to set.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from assistant.errors import InputError


def article_target(cfg) -> tuple[Path, list[Path]]:
    """Where a new help article is saved, and the folders the index is rebuilt from after it."""
    import index
    from index.builder import current_build

    if cfg.retrieval.kb_dir:
        folder = Path(cfg.retrieval.kb_dir).expanduser()
        return folder, [folder]
    folder = cfg.home / "kb"  # beside the demo pages, which stay untouched in the package
    demo = {p.name for p in index.DEMO_KB.iterdir()} | (
        {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    )
    build = current_build(cfg.index_dir)
    built_from = set(json.loads((build / "manifest.json").read_text()).get("files", {})) if build else set()
    if cfg.retrieval.index_dir or not built_from <= demo:
        # An index built from the shop's own pages: rebuilding it from the demo pages would lose them.
        raise InputError(
            "set retrieval.kb_dir to the folder your index is built from, so a new article is saved "
            "there and the index is rebuilt from all of it"
        )
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
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as fh:  # created only if absent: two saves never overwrite
            fh.write(text.strip() + "\n")
    except FileExistsError:
        raise InputError(f"{path.name} exists already in {folder}: choose another name") from None
    return path
