"""How often does the policy offer a person to calm customers, and how often to angry ones?

    python benchmarks/escalation_rate.py [--turns 3] [--out benchmarks/results/escalation_rate.json]

Conversations of `--turns` customer messages are run through the real sentiment tagger and the
policy's streak rule (`assistant.turn.policy.decide`), with the old rule (label "negative") and the
current one (negative probability >= `policy.negative_score`) side by side, and for comparison the
upset model the apology reads (`policy.upset_score`; not used for offers: it measured worse here). A conversation "triggers" when the policy
offers or hands over a person at any turn.

- choose: half of the airline tweets (every other row; negative vs. neutral/positive, labelled by
  people) and Bitext's rude requests (`W` tag: offensive language). The threshold is the lowest
  (catching the most negative customers) whose neutral/positive conversations trigger at most
  `--calm-budget` (3%, a margin under the 5% target) while >= 95% of rude ones still do.
- report (not used to choose): the other half of the airline tweets, Bitext's polite requests
  (no `W` tag; conversations of one intent; they include real complaints), and the project's
  answer-set questions with follow-ups (calm support questions, many of them problem reports).
Needs ../shared/data; prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
FOLLOW_UPS = ["How long does that take?", "And how much does it cost?", "Can I do it online?", "What if I lost the receipt?",
              "Where do I find my order number?", "Does that apply to sale items too?", "I still have not received it.",
              "ok, and what about the refund?", "How do I return it?", "Is there a fee?"]


def conversations(texts: list[str], turns: int, n: int, rng: random.Random) -> list[list[str]]:
    return [rng.sample(texts, turns) for _ in range(n)] if len(texts) >= turns else []


def triggers(scores: list[list[float]], rule, negative_turns: int = 2) -> float:
    """Share of conversations with `negative_turns` consecutive upset turns somewhere."""
    hit = 0
    for conv in scores:
        streak = best = 0
        for s in conv:
            streak = streak + 1 if rule(s) else 0
            best = max(best, streak)
        hit += best >= negative_turns
    return round(hit / max(1, len(scores)), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--n", type=int, default=400, help="Conversations per set.")
    ap.add_argument("--calm-budget", type=float, default=0.03)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/escalation_rate.json"))
    args = ap.parse_args()
    from assistant.config import load_config
    from assistant.taggers.loader import load_taggers

    cfg = load_config()
    sentiment, _, problems = load_taggers(cfg)
    if sentiment is None:
        raise SystemExit(f"no sentiment tagger: {problems}")
    rng = random.Random(7)
    bitext = list(csv.DictReader(open(DATA / "bitext/customer_support_3997.csv", encoding="utf-8")))
    by_intent: dict[str, list[str]] = {}
    rude = []
    for r in bitext:
        if r["intent"] == "contact_human_agent":  # they ask for a person: a handover, not a false alarm
            continue
        (rude if "W" in r["tags"] else by_intent.setdefault(r["intent"], [])).append(r["instruction"])
    polite = [c for intent in sorted(by_intent) for c in conversations(by_intent[intent], args.turns,
                                                                         max(1, args.n // len(by_intent)), rng)]
    air = list(csv.DictReader(open(DATA / "airline_sentiment/dev_1000.csv", encoding="utf-8")))
    # Halves by position in the file (the ids were saved in float notation, so not usable).
    half = {"choose": air[0::2], "report": air[1::2]}
    questions = []
    for f in ("northwind_questions.jsonl", "harbor_bank/questions.jsonl"):
        questions += [json.loads(x)["question"] for x in open(ROOT / "benchmarks/answer_sets" / f) if x.strip()]
    sets = {
        "bitext polite (report)": polite,
        "bitext rude (choose)": conversations(rude, args.turns, args.n, rng),
        **{f"airline {label} ({part})": conversations([r["text"] for r in rows if (r["label"] == "negative") == neg],
                                                      args.turns, args.n, rng)
           for part, rows in half.items() for label, neg in (("negative", True), ("neutral/positive", False))},
        "support questions + follow-ups (report)": [[q, *rng.sample(FOLLOW_UPS, args.turns - 1)]
                                                    for q in rng.sample(questions, min(len(questions), args.n))],
    }
    cache: dict[str, tuple[float, float]] = {}

    def tagged(text: str) -> tuple[float, float]:
        """(negative probability, upset model's probability; -1 without the model)."""
        if text not in cache:
            sc = sentiment.tag(text).scores
            cache[text] = (float(sc.get("negative", 0.0)), float(sc.get("upset", -1.0)))
        return cache[text]
    both = {name: [[tagged(t) for t in conv] for conv in convs] for name, convs in sets.items()}
    scores = {name: [[n for n, _ in conv] for conv in convs] for name, convs in both.items()}
    # Choose on the "choose" sets only: the lowest threshold within the calm budget on both calm sets.
    grid = [round(0.5 + 0.01 * i, 2) for i in range(50)]
    chosen = min((t for t in grid
                  if triggers(scores["airline neutral/positive (choose)"], lambda s, t=t: s >= t) <= args.calm_budget
                  and triggers(scores["bitext rude (choose)"], lambda s, t=t: s >= t) >= 0.95), default=0.99)
    # The streak reads the negative probability (`policy.negative_score`); the upset model (what the
    # apology reads, `policy.upset_score`) is shown for comparison: it is not used for offers.
    ns, us = cfg.policy.negative_score, cfg.policy.upset_score
    rules = {"old: label negative (p >= 0.5)": lambda s: s[0] >= 0.5,
             f"now: p(negative) >= {ns} (config)": lambda s: s[0] >= ns,
             f"not used: p(upset) >= {us}": lambda s: s[1] >= us}
    rows = {name: {rule: triggers(sc, fn, cfg.policy.negative_turns) for rule, fn in rules.items()}
            for name, sc in both.items()}
    result = {"turns_per_conversation": args.turns, "negative_turns": cfg.policy.negative_turns,
              "threshold_chosen": chosen, "calm_budget": args.calm_budget, "config_negative_score": ns, "config_upset_score": us,
              "conversations": {k: len(v) for k, v in sets.items()}, "trigger_rate": rows}
    width = max(len(k) for k in rows) + 2
    print(f"share of {args.turns}-message conversations where a person is offered "
          f"({cfg.policy.negative_turns} upset turns in a row)")
    print(" " * width + "".join(f"{r[:34]:>36}" for r in rules))
    for name, r in rows.items():
        print(f"{name:<{width}}" + "".join(f"{r[k]:>36.1%}" for k in rules) + f"   n={len(sets[name])}")
    print(f"threshold chosen on the 'choose' sets (calm conversations <= {args.calm_budget:.0%}): {chosen}")
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
