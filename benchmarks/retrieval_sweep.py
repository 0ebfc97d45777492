"""Passage retrieval for answering, chosen leave-one-KB-out: dense, BM25 and hybrid, 3 or 5 passages.

    python benchmarks/retrieval_sweep.py [--configs dense:3 hybrid:3 ...] [--kb NAME ...]

`benchmarks/retrieval_quality.py` compares the retrieval modes on Bitext (one short page per intent);
this compares them where answering is hard, on the five dev knowledge bases (long HTML chapters, price
tables), and through the whole answer step, not only the source's rank. For each configuration
(`retrieval.mode:retrieval.k`), in a child process with `LOOPDESK_RETRIEVAL_MODE`/`_K` set:
1. `loopdesk finetune relevance` refits the relevance model and its leave-one-KB-out folds on the rows
   that configuration retrieves (its features read the passages it returns);
2. `benchmarks/answer_quality.py --readers evidence` answers every dev set with the fold that never saw
   it (the evidence reader: the product's declines and kept units without the model, whose accuracy
   matched the checked reader's in every earlier run; minutes, not an hour).
Then, for each KB in turn, the configuration is chosen on the *other* KBs (mean overall accuracy: an
answerable question answered right or an unanswerable one declined) and that KB is reported under it,
next to the default (`dense:3`). Prints a table; writes `benchmarks/results/retrieval_sweep.json`.
About 6 minutes per configuration on 2 cores (the first also indexes the dev KBs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = "dense:3"
METRICS = ("overall_accuracy", "answer_accuracy", "decline_rate", "false_decline_rate", "source_hit_at_1",
           "reader_ceiling", "follow_up_accuracy")


def run_config(config: str, kbs: list[str] | None, work: Path) -> dict:
    """Refit relevance and answer every dev set under one retrieval configuration; its per-KB summaries."""
    mode, _, k = config.partition(":")
    out = work / config.replace(":", "-")
    result = out / "answer_quality.json"
    if result.exists():  # a stopped sweep resumes: finished configurations are kept
        return json.loads(result.read_text())["sets"]
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, LOOPDESK_RETRIEVAL_MODE=mode, LOOPDESK_RETRIEVAL_K=k, HF_HUB_OFFLINE="1")
    kb_args = [a for name in (kbs or []) for a in ("--kb", name)]
    loopdesk = str(Path(sys.executable).parent / "loopdesk")
    if not (out / "relevance.json").exists():  # resumes, too, after a stop between the two steps
        subprocess.run([loopdesk, "finetune", "relevance", "--out", str(out / "relevance.json"), *kb_args],
                       env=env, check=True, cwd=ROOT)
    aq = [sys.executable, str(ROOT / "benchmarks" / "answer_quality.py"), "--readers", "evidence",
          "--model", str(out / "relevance.json"), "--out", str(out / "answer_quality.partial.json")]
    subprocess.run(aq + (["--kb", *kbs] if kbs else []), env=env, check=True, cwd=ROOT)
    (out / "answer_quality.partial.json").rename(result)
    return json.loads(result.read_text())["sets"]


def choose_leave_one_out(by_config: dict[str, dict]) -> dict[str, dict]:
    """For each KB: the configuration with the best mean overall accuracy on the other KBs, and its numbers."""
    names = sorted(next(iter(by_config.values())))
    out = {}
    for held in names:
        others = [n for n in names if n != held]

        def score(c: str) -> float:
            return sum(by_config[c][n]["evidence"]["overall_accuracy"] for n in others) / len(others)

        best = max(sorted(by_config), key=lambda c: (score(c), c == DEFAULT))
        out[held] = {"chosen": best, "score_on_others": round(score(best), 4),
                     **{m: by_config[best][held]["evidence"].get(m) for m in METRICS}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["dense:3", "dense:5", "hybrid:3", "hybrid:5", "bm25:3"])
    ap.add_argument("--kb", nargs="+", default=None)
    ap.add_argument("--work", default=str(Path.home() / ".cache" / "loopdesk" / "retrieval-sweep"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "retrieval_sweep.json"))
    args = ap.parse_args()
    if DEFAULT not in args.configs:
        sys.exit(f"--configs must include the default {DEFAULT} (the row every choice is compared with)")
    for c in args.configs:
        mode, _, k = c.partition(":")
        if mode not in ("dense", "bm25", "hybrid") or not k.isdigit() or int(k) < 1:
            sys.exit(f"bad configuration {c!r}: MODE:K with MODE dense, bm25 or hybrid and K >= 1")
    by_config = {c: run_config(c, args.kb, Path(args.work)) for c in args.configs}
    chosen = choose_leave_one_out(by_config)
    header = f"{'left-out KB':<18} {'config':<10} " + " ".join(f"{m[:14]:>14}" for m in METRICS)
    print("\nEach configuration on each KB (evidence reader, relevance fold without the KB)")
    print(header)
    for name in sorted(chosen):
        for c in args.configs:
            s = by_config[c][name]["evidence"]
            print(f"{name:<18} {c:<10} " + " ".join(f"{_fmt(s.get(m)):>14}" for m in METRICS))
    print("\nChosen on the other KBs, reported on the left-out one")
    print(header)
    for name, r in chosen.items():
        print(f"{name:<18} {r['chosen']:<10} " + " ".join(f"{_fmt(r[m]):>14}" for m in METRICS))
    macro = {m: _mean([r[m] for r in chosen.values()]) for m in METRICS}
    base = {m: _mean([by_config[DEFAULT][n]["evidence"].get(m) for n in chosen]) for m in METRICS}
    print(f"{'macro (chosen)':<29}" + " ".join(f"{_fmt(macro[m]):>14}" for m in METRICS))
    print(f"{'macro (' + DEFAULT + ')':<29}" + " ".join(f"{_fmt(base[m]):>14}" for m in METRICS))
    table = {c: {n: {m: s["evidence"].get(m) for m in METRICS} for n, s in v.items()} for c, v in by_config.items()}
    Path(args.out).write_text(json.dumps({"configs": table, "leave_one_kb_out": chosen, "macro_chosen": macro,
                                          "macro_default": base, "cpus": os.cpu_count()}, indent=1))
    print(f"\nwrote {args.out}")


def _mean(values: list) -> float | None:
    got = [v for v in values if v is not None]
    return round(sum(got) / len(got), 4) if got else None


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.2f}"


if __name__ == "__main__":
    main()
