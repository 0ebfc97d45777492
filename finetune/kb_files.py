"""Help pages a store owner manages from the console's Settings tab: list the knowledge-base folder,
add or replace a page (markdown, text, HTML, PDF or a CSV FAQ), delete one. `LearningLoop` runs each
change and then rebuilds the index (`finetune.jobs`); this module only checks and touches files.

The folder is the one new Gaps articles go to (`finetune.articles.article_target`): `retrieval.kb_dir`,
or `<home>/kb` beside the bundled demo pages when the app serves the demo index (those are listed,
never written or deleted). Refused, with the reason: a type the index builder does not read (or not
offered here), more than `MAX_BYTES`, an empty file, a name with a path separator, `..` or a leading
dot (the builder skips hidden files), and a bundled page's name.

    folder, pages = list_pages(cfg)                          # [{"name", "size", "modified", "where"}]
    undo = put_page(cfg, "gift-wrapping.md", "/tmp/upload")  # undo() puts the folder back as it was
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from assistant.errors import InputError

MAX_BYTES = 5 * 1024 * 1024
"""Largest help page taken from the browser (a 40-page PDF manual is ~1-2 MB); larger ones go in by
`loopdesk index build`. The page body limit for uploads (`assistant.web.guards`) leaves room for it."""
TYPES = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "HTML",
    ".htm": "HTML",
    ".pdf": "PDF",
    ".csv": "CSV FAQ (question and answer columns)",
}
MAX_NAME = 120


def folders(cfg) -> tuple[Path, list[Path]]:
    """(the folder pages are written to, the folders the index is built from)."""
    from finetune.articles import article_target

    return article_target(cfg)


def safe_name(name: str | None) -> str:
    """A plain file name inside the folder (no path, not hidden); InputError saying why not."""
    name = (name or "").strip()
    if not name:
        raise InputError("give the file a name, like delivery.md")
    if "/" in name or "\\" in name or ".." in name or "\x00" in name:
        raise InputError(f"{name[:60]!r}: a help page's name has no folders, '/', '\\' or '..'")
    if name.startswith("."):
        raise InputError(f"{name[:60]!r}: names starting with a dot are hidden files, which the index skips")
    if len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise InputError(f"a help page's name is at most {MAX_NAME} printable characters")
    return name


def check_name(name: str | None) -> str:
    """The file name an upload is saved as; InputError saying why it cannot be."""
    name = safe_name(name)
    suffix = Path(name).suffix.lower()
    if suffix not in TYPES:
        raise InputError(
            f"{suffix or 'a file without an extension'} is not a help page type: upload "
            + ", ".join(f"{kind} ({ext})" for ext, kind in TYPES.items() if ext not in (".markdown", ".htm"))
        )
    return name


def check_file(path: str | Path) -> int:
    """The size of an uploaded file; InputError when it is empty or larger than MAX_BYTES."""
    try:
        size = Path(path).stat().st_size
    except OSError as exc:
        raise InputError(f"the uploaded file cannot be read ({exc.strerror}); upload it again") from exc
    if size == 0:
        raise InputError("the file is empty")
    if size > MAX_BYTES:
        raise InputError(f"the file is {size / 1024 / 1024:.1f} MB; at most {MAX_BYTES // 1024 // 1024} MB")
    return size


def _bundled(folder: Path, build_from: list[Path]) -> list[Path]:
    """The folders the index is built from that are not the owner's (the bundled demo pages)."""
    return [f for f in build_from if f.resolve() != folder.resolve()]


def list_pages(cfg) -> tuple[Path, list[dict]]:
    """(the owner's folder, its pages and then any bundled ones, by name): name (relative to its folder),
    size in bytes, modified (UTC, to the minute), where ("yours" or "bundled (read-only)")."""
    folder, build_from = folders(cfg)
    out = []
    for root, where in [(folder, "yours")] + [(b, "bundled (read-only)") for b in _bundled(folder, build_from)]:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if any(part.startswith(".") for part in rel.parts) or path.is_symlink() or not path.is_file():
                continue  # what the index builder skips is not listed as a help page
            stat = path.stat()
            out.append(
                {
                    "name": rel.as_posix(),
                    "size": stat.st_size,
                    "modified": datetime.fromtimestamp(stat.st_mtime, timezone.utc).strftime("%Y-%m-%d %H:%M"),
                    "where": where,
                }
            )
    return folder, out


def _not_bundled(folder: Path, build_from: list[Path], name: str) -> None:
    for other in _bundled(folder, build_from):
        if (other / name).exists():
            raise InputError(
                f"{name} is one of the bundled demo pages, which stay as shipped: give your page another name, "
                "or set retrieval.kb_dir to a folder of your own pages"
            )


def put_page(cfg, name: str, upload: str | Path) -> tuple[Path, bool, Callable[[], None]]:
    """Copy an uploaded file into the folder as `name` (replacing a page of that name): (its path,
    whether it replaced one, a function that puts the folder back as it was)."""
    name = check_name(name)
    check_file(upload)
    folder, build_from = folders(cfg)
    _not_bundled(folder, build_from, name)
    target = folder / name
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise InputError(f"{name} in {folder} is not a plain file; change it on the server")
    folder.mkdir(parents=True, exist_ok=True)
    before = target.read_bytes() if target.exists() else None
    tmp = folder / f".{name}.upload"
    shutil.copyfile(upload, tmp)
    os.replace(tmp, target)  # readers (a running build) see the old page or the new one, never half

    def undo() -> None:
        if before is None:
            target.unlink(missing_ok=True)
        else:
            target.write_bytes(before)

    return target, before is not None, undo


def delete_page(cfg, name: str) -> tuple[Path, Callable[[], None]]:
    """Delete a page of the owner's folder: (its path, a function that puts it back)."""
    name = (name or "").strip()
    if not name:
        raise InputError("choose a help page to delete")
    if "/" in name and ".." not in name and not name.startswith("/"):  # a subfolder's page, put there on the server
        raise InputError(f"{name} is in a subfolder; delete it on the server, then rebuild the index")
    name = safe_name(name)
    folder, build_from = folders(cfg)
    _not_bundled(folder, build_from, name)
    target = folder / name
    if not target.is_file() or target.is_symlink():
        raise InputError(f"there is no help page {name} in {folder}")
    before = target.read_bytes()
    target.unlink()

    def undo() -> None:
        target.write_bytes(before)

    return target, undo
