"""Grounded answer quality per knowledge base, readers side by side in one run: table + JSON.

    python benchmarks/answer_quality.py [--kb northwind harbor_bank] [--limit N] [--readers extractive model checked]

Knowledge bases: the demo store (`index/demo_kb`, questions `benchmarks/answer_sets/northwind_questions.jsonl`)
and Harbor Bank (`benchmarks/answer_sets/harbor_bank/kb`, a business the project's adapters never trained
on). Each is indexed into a temp dir with the configured embedder, then every reader answers every
question through `loopdesk eval answers`' code path:
- `extractive`: the trivial reader to beat (two closest sentences of the top 3 passages; never declines);
- `model`: the generator's raw reply (`generation.reader=model`, the decoding of before this change:
  repetition_penalty 1.15, temperature 0.3), unchecked;
- `checked`: the default (`generation.reader=checked`).
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

SETS = {
    "northwind": (ROOT / "index" / "demo_kb", ROOT / "benchmarks" / "answer_sets" / "northwind_questions.jsonl"),
    "harbor_bank": (ROOT / "benchmarks" / "answer_sets" / "harbor_bank" / "kb",
                    ROOT / "benchmarks" / "answer_sets" / "harbor_bank" / "questions.jsonl"),
}
KEYS = ["answer_accuracy", "fact_recall", "decline_rate", "false_decline_rate", "unsupported_number_rate",
        "latency_ms_p50", "latency_ms_p95", "source_hit_at_1", "source_hit_at_3", "reader_ceiling", "n"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kb", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--readers", nargs="+", default=["extractive", "model", "checked"])
    ap.add_argument("--limit", type=int, default=0, help="Only the first N questions of each set.")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "answer_quality.json"))
    args = ap.parse_args()

    import index
    from assistant.config import load_config
    from finetune.answer_eval import extractive_baseline, load_questions, run_answer_eval, summarize
    from index.builder import build_index
    from index.embedder import SentenceEmbedder

    base = load_config()
    results: dict = {"machine": os.uname().machine, "cpus": os.cpu_count(), "sets": {}}
    with tempfile.TemporaryDirectory(prefix="loopdesk-aq-") as tmp:
        embedder = SentenceEmbedder(base.models.embedder, base.home)
        for kb in args.kb:
            kb_dir, qfile = SETS[kb]
            questions = load_questions(qfile)
            if args.limit:
                qfile = Path(tmp) / f"{kb}.jsonl"
                qfile.write_text("".join(json.dumps(q) + "\n" for q in questions[: args.limit]))
                questions = questions[: args.limit]
            idx = Path(tmp) / f"{kb}-index"
            build_index([kb_dir], idx, embedder)
            name = "Northwind Goods" if kb == "northwind" else "Harbor Bank"
            rows = {}
            for reader in args.readers:
                cfg = dataclasses.replace(base, retrieval=dataclasses.replace(base.retrieval, index_dir=str(idx)),
                                          app=dataclasses.replace(base.app, business_name=name))
                if reader == "extractive":
                    retriever = index.open_for_config(cfg)
                    rows[reader] = summarize(questions, extractive_baseline(retriever, questions))
                    continue
                gen = dataclasses.replace(cfg.generation, reader=reader)
                if reader == "model":  # the decoding of before: it penalised copying from passages
                    gen = dataclasses.replace(gen, repetition_penalty=1.15, temperature=0.3)
                cfg = dataclasses.replace(cfg, generation=gen)
                t0 = time.perf_counter()
                rows[reader] = run_answer_eval(cfg, qfile, index.open_for_config,
                                               Path(tmp) / f"{kb}-{reader}.jsonl")
                rows[reader]["wall_s"] = round(time.perf_counter() - t0, 1)
            results["sets"][kb] = rows
            print(f"\n{kb} ({len(questions)} questions)")
            print(f"{'reader':<11}" + "".join(f"{k[:15]:>16}" for k in KEYS))
            for reader, r in rows.items():
                print(f"{reader:<11}" + "".join(f"{str(r.get(k)):>16}" for k in KEYS))
            if "checked" in rows:
                print(f"checked grounding: {rows['checked']['grounding']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
