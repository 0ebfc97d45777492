"""Answer quality on every dev knowledge base, each one measured while it was left out: table + JSON.

    python benchmarks/answer_quality.py [--kb NAME ...] [--readers extractive evidence checked] [--limit N]

The dev KBs and their blind question sets are listed in `benchmarks/answer_sets/catalog.json` (the demo
store, Harbor Bank, Parcelwise with price tables, the Debian Reference's long HTML chapters, ABCD's agent
guidelines). For each KB, the assistant uses the relevance model and reranker that
`loopdesk finetune relevance` fitted *without* that KB (`without-<kb>.json` in its fold folder), so
every number here is from a KB that played no part in choosing the thresholds or training the relevance
models. The generator's adapter is another matter: the KBs its data card lists (grounded-v3: northwind,
harbor_bank, abcd) are marked `kb_in_adapter_data` and printed as not held out for the checked reader;
`--adapters DIR ...` runs other adapters beside the live one (`checked@<folder>`).
Readers, side by side in one run:
- `extractive`: the trivial reader to beat (two closest sentences of the top 3 passages; never declines);
- `evidence`: the pipeline with `generation.reader=extractive` (learned declines, quoted kept units, no model);
- `checked`: the default (the model writes; its reply is checked and replaced by the evidence when it fails).
Columns: accuracy on answerable questions, unanswerable declined, false declines, unsupported numbers,
source hit@1, facts in the passages given, follow-up accuracy, the model-written share of answered turns
(an idle machine: evaluations wait for the model), p50/p95 latency. The last row is the macro average.
Writes `benchmarks/results/answer_quality.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

COLUMNS = [
    ("answer_accuracy", "accuracy"),
    ("decline_rate", "unans.declined"),
    ("false_decline_rate", "false declines"),
    ("unsupported_number_rate", "unsupported #"),
    ("source_hit_at_1", "hit@1"),
    ("reader_ceiling", "facts in psg"),
    ("follow_up_accuracy", "follow-ups"),
    ("model_written_rate", "model-written"),
    ("apology_rate", "apologised"),
    ("latency_ms_p50", "p50 ms"),
    ("latency_ms_p95", "p95 ms"),
]


def follow_up_accuracy(questions: list[dict], replies: Path) -> float | None:
    records = {r["id"]: r for r in map(json.loads, replies.read_text().splitlines())}
    ups = [q for q in questions if q.get("history")]
    if not ups:
        return None
    return round(sum(bool(records[q["id"]]["correct"]) for q in ups) / len(ups), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kb", nargs="+", default=None)
    ap.add_argument("--readers", nargs="*", default=["extractive", "evidence", "checked"])
    ap.add_argument("--adapters", nargs="+", default=[],
                    help="Adapter folders (or 'base' for none) whose checked reader runs beside the live one, "
                         "as reader 'checked@<folder name>': a candidate compared side by side in one run.")
    ap.add_argument("--limit", type=int, default=0, help="Only the first N questions of each set.")
    ap.add_argument("--model", default=str(ROOT / "models" / "relevance" / "relevance.json"),
                    help="The shipped relevance model; its meta names the fold folder.")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "answer_quality.json"))
    args = ap.parse_args()
    adapter_dirs = adapters_by_name(args.adapters)
    args.readers = list(args.readers) + [f"checked@{n}" for n in adapter_dirs]
    unknown = [r for r in args.readers if r.partition("@")[0] not in ("extractive", "evidence", "checked")
               or (r.partition("@")[2] and r.partition("@")[2] not in adapter_dirs)]
    if unknown:
        sys.exit(f"unknown readers {unknown}: extractive, evidence, checked (adapters: --adapters DIR ...)")

    import index
    from assistant.config import load_config
    from finetune.answer_eval import extractive_baseline, load_questions, run_answer_eval, summarize
    from finetune.dev_kbs import load_catalog, prepare
    from index.embedder import SentenceEmbedder

    base = load_config()
    meta = json.loads(Path(args.model).read_text())["meta"]
    folds = Path(meta["folds"])
    catalog = load_catalog()
    names = args.kb or [k for k, v in catalog.items() if not v.missing()]
    results: dict = {"machine": os.uname().machine, "cpus": os.cpu_count(), "folds": str(folds), "sets": {}}
    embedder = SentenceEmbedder(base.models.embedder, base.home)
    with tempfile.TemporaryDirectory(prefix="loopdesk-aq-") as tmp:
        for name in names:
            kb = catalog[name]
            fold = folds / f"without-{name}.json"
            if not fold.exists():
                sys.exit(f"{fold} is missing: run `loopdesk finetune relevance` first")
            questions = load_questions(kb.dev)
            qfile = kb.dev
            if args.limit:
                questions = questions[: args.limit]
                qfile = Path(tmp) / f"{name}.jsonl"
                qfile.write_text("".join(json.dumps(q) + "\n" for q in questions))
            idx = prepare(kb, embedder, base.home / "dev-kbs")
            cfg = dataclasses.replace(
                base,
                retrieval=dataclasses.replace(base.retrieval, index_dir=str(idx), relevance_model=str(fold)),
                app=dataclasses.replace(base.app, business_name=kb.business),
            )
            rows = {}
            for reader in args.readers:
                t0 = time.perf_counter()
                if reader == "extractive":
                    rows[reader] = summarize(questions, extractive_baseline(index.open_for_config(cfg), questions))
                    continue
                kind, _, adapter = reader.partition("@")
                gen = dataclasses.replace(cfg.generation, reader="extractive" if kind == "evidence" else kind)
                rcfg = dataclasses.replace(cfg, generation=gen)
                if adapter:
                    registry = registry_with(adapter_dirs[adapter], Path(tmp) / f"{name}-adapters-{len(rows)}")
                    models = dataclasses.replace(rcfg.models, adapters_dir=str(registry))
                    rcfg = dataclasses.replace(rcfg, models=models)
                replies = Path(tmp) / f"{name}-{len(rows)}.jsonl"
                rows[reader] = run_answer_eval(rcfg, qfile, index.open_for_config, replies)
                # An adapter that did not load would measure the base model under its name.
                if adapter not in ("", "base") and rows[reader].get("adapter") != adapter:
                    sys.exit(f"{name}: adapter {adapter} did not load (served: {rows[reader].get('adapter')})")
                if kind == "checked":  # a KB whose questions trained the adapter is no result for the generator
                    trained = adapter_data_kbs(adapter_dirs.get(adapter) if adapter else None, base)
                    rows[reader]["kb_in_adapter_data"] = name in trained
                    if name in trained:
                        print(f"note: {name} is in the data of the adapter behind {reader}: not a held-out result")
                rows[reader]["follow_up_accuracy"] = follow_up_accuracy(questions, replies)
                rows[reader]["wall_s"] = round(time.perf_counter() - t0, 1)
                rows[reader]["replies"] = [json.loads(x) for x in replies.read_text().splitlines()]
            results["sets"][name] = rows
            print_table(f"{name} ({len(questions)} questions, left out)", rows)
    macro = {}
    for reader in args.readers:
        got = [s[reader] for s in results["sets"].values() if reader in s]
        macro[reader] = {k: _mean([g.get(k) for g in got]) for k, _ in COLUMNS}
    results["macro"] = macro
    print_table("macro average over the left-out KBs", macro)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"\nwrote {args.out}")


def adapters_by_name(dirs: list[str]) -> dict[str, str]:
    """--adapters as {folder name: folder}, checked before anything runs."""
    out: dict[str, str] = {}
    for a in dirs:
        name = "base" if a == "base" else Path(a).resolve().name
        if a != "base" and not (Path(a) / "adapter_model.safetensors").exists():
            sys.exit(f"{a} is not an adapter folder (no adapter_model.safetensors)")
        if name in out:
            sys.exit(f"two adapters named {name}: {out[name]} and {a}")
        out[name] = a
    return out


def adapter_data_kbs(adapter: str | None, cfg) -> set[str]:
    """The dev KBs whose questions an adapter was trained on (its data card; the live one when None)."""
    if adapter == "base":
        return set()
    folder = Path(adapter) if adapter else None
    if folder is None:
        registry = Path(cfg.models.adapters_dir)
        registry = registry if registry.is_absolute() else ROOT / registry
        try:
            folder = registry / json.loads((registry / "live.json").read_text())["version"]
        except (OSError, ValueError, KeyError, TypeError):
            return set()
    try:
        return set(json.loads((folder / "data_card.json").read_text()).get("knowledge_bases", []))
    except (OSError, ValueError):
        return set()


def registry_with(adapter: str, where: Path) -> Path:
    """An adapter registry whose live adapter is `adapter` (a folder), or none at all ('base')."""
    where.mkdir(parents=True, exist_ok=True)
    if adapter != "base":
        src = Path(adapter).resolve()
        if not (src / "adapter_model.safetensors").exists():
            sys.exit(f"{src} is not an adapter folder (no adapter_model.safetensors)")
        (where / src.name).symlink_to(src, target_is_directory=True)
        (where / "live.json").write_text(json.dumps({"version": src.name}))
    return where


def _mean(values: list) -> float | None:
    v = [x for x in values if x is not None]
    return round(sum(v) / len(v), 4) if v else None


def print_table(title: str, rows: dict) -> None:
    print(f"\n{title}")
    print(f"{'reader':<20}" + "".join(f"{label:>15}" for _, label in COLUMNS))
    for reader, r in rows.items():
        print(f"{reader:<20}" + "".join(f"{_fmt(r.get(k)):>15}" for k, _ in COLUMNS))


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.0f}" if isinstance(v, float) and v > 10 else (f"{v:.2f}" if isinstance(v, float) else str(v))


if __name__ == "__main__":
    main()
