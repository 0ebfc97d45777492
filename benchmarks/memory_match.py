"""How well the answer memory tells a paraphrase of a stored question from another question, each
knowledge base measured while it was left out of choosing the threshold: table + JSON.

    python benchmarks/memory_match.py [--max-false 0.02]

Data: for four dev KBs, `benchmarks/answer_sets/<kb>/paraphrases.jsonl` — 20 answerable questions of the
blind dev set, each with 3 paraphrases written by a helper session that never saw the matcher. The 20
questions go into the memory (as if an operator had corrected their answers); then
- each paraphrase should get its own entry (`paraphrase hit`: the closest entry is the right one and
  clears the threshold);
- every other single-turn dev question of that KB should get none (`others matched`: a question that is
  not in the memory took an entry's answer).
For each KB the threshold is the lowest cosine at which the *other three* KBs' others-matched rate is at
most `--max-false`; the shipped default (`memory.min_similarity`) is chosen the same way on all four.
Writes `benchmarks/results/memory_match.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SETS = ROOT / "benchmarks" / "answer_sets"
GRID = [round(x, 3) for x in np.arange(0.50, 0.951, 0.01)]


def kb_scores(embedder, kb: str) -> dict:
    from assistant.memory.match import contrast

    """Per paraphrase: (is the closest entry the right one, its cosine); per other question: best cosine."""
    para = [json.loads(x) for x in (SETS / kb / "paraphrases.jsonl").read_text().splitlines() if x.strip()]
    dev = [json.loads(x) for x in (SETS / kb / "dev.jsonl").read_text().splitlines() if x.strip()]
    stored = {p["id"] for p in para}
    entries = embedder.embed([p["question"] for p in para])
    asked = [(p["id"], x) for p in para for x in p["paraphrases"]]
    sims = embedder.embed([x for _, x in asked]) @ entries.T
    ids = [p["id"] for p in para]
    questions = [p["question"] for p in para]
    others = [q["question"] for q in dev if q["id"] not in stored and not q.get("history")]
    other_sims = embedder.embed(others) @ entries.T
    # As `AnswerMemory.lookup`: the closest entry, refused when the two are a minimal pair (cosine -1 here).
    return {
        "right": [ids[int(s.argmax())] == i for s, (i, _) in zip(sims, asked)],
        "best": [-1.0 if contrast(x, questions[int(s.argmax())], embedder) else float(s.max()) for s, (_, x) in zip(sims, asked)],
        "other_best": [
            -1.0 if contrast(x, questions[int(s.argmax())], embedder) else float(s.max()) for s, x in zip(other_sims, others)
        ],
        "contrasted": sum(bool(contrast(x, questions[int(s.argmax())], embedder)) for s, (_, x) in zip(sims, asked)),
    }


def rates(s: dict, t: float) -> tuple[float, float]:
    hit = float(np.mean([r and b >= t for r, b in zip(s["right"], s["best"])]))
    false = float(np.mean([b >= t for b in s["other_best"]]))
    return hit, false


def choose(scores: list[dict], max_false: float) -> float:
    """The lowest threshold whose pooled others-matched rate is at most `max_false`."""
    for t in GRID:
        pooled = [b for s in scores for b in s["other_best"]]
        if float(np.mean([b >= t for b in pooled])) <= max_false:
            return t
    return GRID[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-false", type=float, default=0.02)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "memory_match.json"))
    args = ap.parse_args()

    from assistant.config import load_config
    from index.embedder import SentenceEmbedder

    cfg = load_config()
    embedder = SentenceEmbedder(cfg.models.embedder, cfg.home)
    kbs = sorted(p.parent.name for p in SETS.glob("*/paraphrases.jsonl"))
    scores = {kb: kb_scores(embedder, kb) for kb in kbs}
    rows = {}
    print(f"{'left-out KB':14} {'threshold':>9} {'paraphrase hit':>14} {'others matched':>14} {'n para':>6} {'n other':>7}")
    for kb in kbs:
        t = choose([scores[k] for k in kbs if k != kb], args.max_false)
        hit, false = rates(scores[kb], t)
        rows[kb] = {"threshold": t, "paraphrase_hit": round(hit, 3), "others_matched": round(false, 3),
                    "n_paraphrases": len(scores[kb]["best"]), "n_others": len(scores[kb]["other_best"]),
                    "paraphrases_refused_as_minimal_pairs": scores[kb]["contrasted"]}
        r = rows[kb]
        print(f"{kb:14} {t:>9.2f} {r['paraphrase_hit']:>14.2f} {r['others_matched']:>14.2f} "
              f"{r['n_paraphrases']:>6} {r['n_others']:>7}")
    macro = {k: round(float(np.mean([r[k] for r in rows.values()])), 3) for k in ("paraphrase_hit", "others_matched")}
    shipped = choose(list(scores.values()), args.max_false)
    print(f"{'macro':14} {'':>9} {macro['paraphrase_hit']:>14.2f} {macro['others_matched']:>14.2f}")
    print(f"threshold chosen on all {len(kbs)} KBs (memory.min_similarity): {shipped:.2f}")
    out = {"embedder": cfg.models.embedder, "max_false": args.max_false, "per_kb": rows, "macro": macro,
           "chosen_on_all": shipped}
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
