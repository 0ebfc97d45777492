"""Fine-tune the unit encoder (`assistant.grounding.unit_encoder`): MiniLM + LoRA, question -> answering unit.

Called by `loopdesk finetune relevance --unit-encoder` (leave-one-KB-out: one encoder per held-out KB,
and one on every KB for the shipped model) and by a learning-loop round (`benchmarks/loop_gain.py`: the
deployment's reviewed traffic added to the dev KBs' rows).

Training pairs come from relevance rows (`finetune.relevance.collect_kb`): for each answerable question,
each picked unit that holds one of its facts is a positive and a picked unit that holds none is its hard
negative (units of the same retrieved passages: the choice the chat actually has to make). Loss:
multiple-negatives ranking (the other questions' units in the batch are negatives too). Only the LoRA
matrices train (rank 16 on attention and feed-forward), so the adapter is ~2.7 MB of safetensors.

Measured before building (`/tmp` proxy on the relevance rows, each KB's encoder trained on the other
four, first picked unit holding every fact): abcd 0.30 -> 0.35, debian 0.29 -> 0.31, northwind 0.70
-> 0.71, harbor_bank 0.62 -> 0.61 (full fine-tune, 2 epochs); the answer benchmarks are the result.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from assistant.errors import InputError

RANK = 16
TARGETS = ["query", "key", "value", "dense"]
PORTABLE_BASE = "sentence-transformers/all-MiniLM-L6-v2"


@contextlib.contextmanager
def _offline():
    """HF_HUB_OFFLINE=1 for the block (peft reads it at call time), then as it was; peft's note that it
    could not check is expected then, and not shown."""
    import warnings

    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Could not find a config file")
            yield
    finally:
        if before is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = before


def training_pairs(rows: list[dict], seed: int = 0, repeat: dict[str, int] | None = None) -> list[tuple[str, str, str]]:
    """(question, answering unit, non-answering unit of the same retrieval) triples. `repeat`: how many
    times the rows of a KB count (a deployment's own reviewed traffic weighs more than other KBs')."""
    rng = random.Random(seed)
    out = []
    for r in rows:
        if not r.get("answerable") or not r.get("unit_texts"):
            continue
        pos = [t for t, label in zip(r["unit_texts"], r["unit_labels"]) if label]
        neg = [t for t, label in zip(r["unit_texts"], r["unit_labels"]) if not label]
        if not pos or not neg:
            continue
        for _ in range((repeat or {}).get(r["kb"], 1)):
            for p in pos[:2]:
                out.append((r["query"], p, rng.choice(neg)))
    return out


def train_unit_encoder(
    rows: list[dict],
    out: Path,
    base: str | Path,
    epochs: int = 2,
    learning_rate: float = 3e-4,
    seed: int = 0,
    repeat: dict[str, int] | None = None,
    report=print,
    start_from: Path | None = None,
) -> dict:
    """Train on `rows` and write the adapter (safetensors) and `unit_encoder.json` (what it was trained
    on) to `out`. `base`: the folder of the bundled MiniLM sentence-transformers model. `start_from`: an
    adapter to continue training (a learning-loop round starts from the live one) instead of a new one."""
    import torch
    from peft import LoraConfig
    from sentence_transformers import InputExample, SentenceTransformer
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from torch.utils.data import DataLoader

    pairs = training_pairs(rows, seed, repeat)
    if len(pairs) < 4:
        raise InputError(f"too few question/unit pairs to train a unit encoder ({len(pairs)}; 4 at least)")
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    model = SentenceTransformer(str(base), device="cpu")
    if start_from is not None:
        model.load_adapter(str(start_from), is_trainable=True)
    else:
        model.add_adapter(LoraConfig(r=RANK, lora_alpha=2 * RANK, lora_dropout=0.05, target_modules=TARGETS))
    examples: list = [InputExample(texts=list(p)) for p in pairs]
    loader: DataLoader = DataLoader(examples, shuffle=True, batch_size=16)  # type: ignore[arg-type]  # a list works
    loss = MultipleNegativesRankingLoss(model)
    report(f"unit encoder: {len(pairs)} pairs, {epochs} epochs")
    # The trainer prints its summary dict to stdout: keep stdout for the CLI's --json output.
    with contextlib.redirect_stdout(sys.stderr):
        model.fit(
            train_objectives=[(loader, loss)],
            epochs=epochs,
            warmup_steps=min(10, len(loader) * epochs // 10),  # a short round is not all warm-up
            optimizer_params={"lr": learning_rate},
            show_progress_bar=False,
        )
    out.mkdir(parents=True, exist_ok=True)
    transformer: Any = model[0]
    with _offline():  # peft would ask the Hub whether the base's vocabulary changed: embeddings are not trained
        transformer.auto_model.save_pretrained(str(out))  # the LoRA matrices only, as safetensors
    conf_path = out / "adapter_config.json"
    conf = json.loads(conf_path.read_text())
    conf["base_model_name_or_path"] = PORTABLE_BASE  # not this machine's site-packages path
    conf_path.write_text(json.dumps(conf, indent=1))
    card = {
        "kind": "unit_encoder",
        "base": PORTABLE_BASE,
        "pairs": len(pairs),
        "knowledge_bases": sorted({r["kb"] for r in rows}),
        "repeat": repeat or {},
        "epochs": epochs,
        "learning_rate": learning_rate,
        "rank": RANK,
        "seed": seed,
        "started_from": str(start_from) if start_from is not None else None,
        "seconds": round(time.perf_counter() - t0, 1),
        "how": "finetune/unit_encoder.py: LoRA on all-MiniLM-L6-v2, multiple-negatives ranking loss, "
        "positives = picked units holding a fact of the question, hard negatives = picked units holding none",
    }
    (out / "unit_encoder.json").write_text(json.dumps(card, indent=1))
    return card
