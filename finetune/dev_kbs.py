"""The dev knowledge bases of `benchmarks/answer_sets/catalog.json`: their files, question sets and indexes.

    from finetune.dev_kbs import load_catalog, prepare
    kbs = load_catalog()                      # name -> DevKB (skips none; `available` says what is missing)
    index_dir = prepare(kbs["abcd"], embedder, cache)   # builds (incrementally) and returns the index folder

Used by `loopdesk finetune relevance` (training rows) and `benchmarks/answer_quality.py` (leave-one-KB-out).
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "benchmarks" / "answer_sets" / "catalog.json"
SHARED_ABCD = ROOT.parent / "shared" / "data" / "abcd"


@dataclass
class DevKB:
    name: str
    business: str
    kb: str
    dev: Path
    extra: list[Path] = field(default_factory=list)
    needs: str = ""

    def files(self, cache: Path) -> list[Path]:
        """The knowledge files (ABCD's are generated into `cache` from ../shared/data)."""
        if self.kb == "abcd":
            import importlib.util

            spec = importlib.util.spec_from_file_location(
                "abcd_make_kb", ROOT / "benchmarks" / "answer_sets" / "abcd" / "make_kb.py"
            )
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module.write_kb(cache / "abcd-kb", SHARED_ABCD)
        pattern = self.kb if Path(self.kb).is_absolute() else str(ROOT / self.kb)
        if any(ch in pattern for ch in "*?["):
            return sorted(Path(p) for p in glob.glob(pattern))
        return [Path(pattern)] if Path(pattern).exists() else []

    def missing(self) -> str:
        """Why this KB cannot be used here ("" when it can)."""
        if not self.dev.exists():
            return f"no question set at {self.dev}"
        if self.kb == "abcd":
            return "" if (SHARED_ABCD / "guidelines.json").exists() else f"no {SHARED_ABCD}/guidelines.json"
        pattern = self.kb if Path(self.kb).is_absolute() else str(ROOT / self.kb)
        if not glob.glob(pattern):
            return f"no files at {self.kb}" + (f" ({self.needs})" if self.needs else "")
        return ""


def load_catalog(path: str | Path = CATALOG) -> dict[str, DevKB]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the dev KB catalogue {path}: {exc}") from exc
    out = {}
    for name, d in data["kbs"].items():
        out[name] = DevKB(
            name,
            d["business"],
            d["kb"],
            ROOT / d["dev"],
            [ROOT / e for e in d.get("extra", [])],
            d.get("needs", ""),
        )
    return out


def prepare(kb: DevKB, embedder, cache: Path) -> Path:
    """Index `kb` into `cache/<name>-index` (incremental: unchanged chunks keep their vectors)."""
    from index.builder import build_index

    cache.mkdir(parents=True, exist_ok=True)
    out = cache / f"{kb.name}-index"
    files = kb.files(cache)
    if not files:
        raise InputError(f"{kb.name}: {kb.missing() or 'no knowledge files'}")
    build_index(files, out, embedder, keep_builds=1)
    return out
