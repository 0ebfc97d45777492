"""The promotion gate: is the candidate adapter measurably better than the live one on the same questions?

Both adapters answer the same held-out questions through the real pipeline (`finetune.answer_eval`);
each question is a pair of outcomes (right / wrong). Questions both get right or both get wrong
say nothing about which is better (ties); the decision rests on the discordant pairs — questions
one adapter gets right and the other wrong — with the exact one-sided McNemar test (a binomial test
on the discordant pairs at p = 1/2). Why this test: the outcomes are paired and binary, the sets are
small (tens of questions), and an exact test needs no normal approximation; a tie on every question
has no discordant pair and is "no measurable difference", never "better". The 95% interval of the
accuracy difference comes from a seeded paired bootstrap over questions, shown with n so an operator
sees how much the numbers can be trusted.

    python -m finetune.gate CANDIDATE.jsonl LIVE.jsonl     # two `loopdesk eval answers --out` files
"""

from __future__ import annotations

import math
import random

ALPHA = 0.05  # one-sided: the candidate must be better, not merely different
BOOTSTRAP_ROUNDS = 2000


def mcnemar_one_sided(wins: int, losses: int) -> float:
    """P(at least `wins` of the wins + losses discordant pairs favour the candidate | no difference)."""
    d = wins + losses
    if d == 0:
        return 1.0
    return sum(math.comb(d, k) for k in range(wins, d + 1)) / 2**d


def paired_comparison(candidate: dict[str, bool], live: dict[str, bool], seed: int = 13) -> dict:
    """Wins, losses, ties, the McNemar p-value and a bootstrap interval of accuracy(candidate) - accuracy(live),
    over the questions both answered."""
    ids = sorted(set(candidate) & set(live))
    n = len(ids)
    wins = sum(1 for i in ids if candidate[i] and not live[i])
    losses = sum(1 for i in ids if live[i] and not candidate[i])
    diffs = [int(candidate[i]) - int(live[i]) for i in ids]
    rng = random.Random(seed)
    means = sorted(sum(rng.choice(diffs) for _ in range(n)) / n for _ in range(BOOTSTRAP_ROUNDS)) if n else [0.0]
    lo, hi = means[int(0.025 * (len(means) - 1))], means[int(0.975 * (len(means) - 1))]
    p = mcnemar_one_sided(wins, losses)
    return {
        "n": n,
        "wins": wins,
        "losses": losses,
        "ties": n - wins - losses,
        "difference": round(sum(diffs) / n, 4) if n else 0.0,
        "interval_95": [round(lo, 4), round(hi, 4)],
        "p_value": round(p, 4),
        "test": "exact one-sided McNemar on discordant pairs; paired bootstrap interval",
        "better": n > 0 and wins > losses and p < ALPHA,
    }


def round_verdict(reach: tuple[dict, dict], held: tuple[dict, dict]) -> dict:
    """The gate of a learning round whose candidate learnt from some questions (corrections, labels).

    `reach`: (candidate, live) outcomes on new wordings of the questions the round learnt from; `held`:
    on questions unrelated to them. Each is {question id: right?}. A round is promoted only when the
    reach part is better on its own (`paired_comparison`: exact one-sided McNemar) **and** the held part
    is not worse (no more questions lost than won there).

    Why two parts: the reach part asks "did it learn what it was taught", the held part "did it break
    anything else"; a threshold moved by a day's labels can win every paraphrase and still decline
    unrelated questions. Why not one McNemar over both pooled (the rule until 2026-12-05): the held
    part's ties and single wins and losses dilute the reach part, and on `benchmarks/loop_gain.py` the
    pooled rule refused Northwind's candidates that were 8 and 14 points better on the test half. This
    rule, written after one split and checked on another (`--split b`), promoted Northwind's two better
    candidates there (+22, +14), refused every candidate that was worse, and like the pooled rule missed
    Parcelwise's +20. With tens of held questions it catches net losses, not one-question differences.
    The pooled comparison is still reported."""

    def tagged(side: int) -> dict[str, bool]:  # the two parts' ids may overlap
        return {f"{part}:{i}": ok for part, pair in (("reach", reach), ("held", held)) for i, ok in pair[side].items()}

    both = paired_comparison(tagged(0), tagged(1))
    kept = paired_comparison(*held)
    learnt = paired_comparison(*reach)
    held_ok = kept["losses"] <= kept["wins"]
    why = (
        "learnt what it was taught, held questions not worse"
        if learnt["better"] and held_ok
        else f"held questions worse ({kept['wins']} won, {kept['losses']} lost)"
        if not held_ok
        else "no measurable gain on what it was taught"
    )
    return {
        **both,
        "better": learnt["better"] and held_ok,
        "reach": {k: learnt[k] for k in ("n", "wins", "losses", "ties", "p_value")},
        "held": {k: kept[k] for k in ("n", "wins", "losses", "ties")},
        "why": why,
    }


def describe(result: dict, who: str) -> str:
    """One plain sentence for the operator."""
    lo, hi = result["interval_95"]
    return (
        f"{result['wins']} better, {result['losses']} worse, {result['ties']} the same as {who} "
        f"on {result['n']} questions (difference {result['difference']:+.3f}, 95% interval {lo:+.3f} to "
        f"{hi:+.3f}, p = {result['p_value']})"
    )


if __name__ == "__main__":
    import json
    import sys

    def outcomes(path: str) -> dict[str, bool]:
        rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
        return {str(r["id"]): bool(r["correct"]) for r in rows}

    r = paired_comparison(outcomes(sys.argv[1]), outcomes(sys.argv[2]))
    print(json.dumps(r, indent=1))
    print(describe(r, "the live adapter"))
