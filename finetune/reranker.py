"""Fine-tune the reranker (`assistant.grounding.reranker`): MiniLM as a cross-encoder for question → unit relevance.

Called by `loopdesk finetune relevance` once per held-out knowledge base (leave-one-KB-out) and once on
all of them. Pairs come from the relevance rows (`finetune/relevance.py`): every picked unit of every
question, labelled 1 when it holds one of the question's facts (unanswerable questions: all 0).
The classification head is new; the encoder starts from the bundled all-MiniLM-L6-v2 (embeddings and the
lower three layers frozen). A plain loop
(AdamW, linear decay, binary cross-entropy on one logit), fp32 on the CPU; saved as safetensors.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Callable, Sequence

from assistant.grounding.reranker import MAX_LENGTH

FROZEN = ("bert.embeddings.", "bert.encoder.layer.0.", "bert.encoder.layer.1.", "bert.encoder.layer.2.")


def pairs_from_rows(rows: Sequence[dict]) -> list[tuple[str, str, float]]:
    out = []
    for r in rows:
        for text, label in zip(r["unit_texts"], r["unit_labels"]):
            out.append((r["query"], text, 1.0 if (label and r["answerable"]) else 0.0))
    return out


def train_reranker(
    pairs: list[tuple[str, str, float]],
    out: Path,
    base: Path,
    epochs: int = 1,
    batch_size: int = 16,
    lr: float = 4e-5,
    seed: int = 13,
    report: Callable[[str], None] = print,
) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1)
    # The lower half stays as MiniLM learned it (a few thousand pairs would only blur it) and the
    # backward pass costs half: 2 cores train a fold in minutes instead of a quarter of an hour.
    for name, param in model.named_parameters():
        if name.startswith(FROZEN):
            param.requires_grad = False
    model.train()
    steps = epochs * ((len(pairs) + batch_size - 1) // batch_size)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, int(0.1 * steps), steps)
    positives = sum(p[2] for p in pairs)
    # Positives are a minority (1-2 of ~6 units): weigh them up so the logit is not pulled to "no".
    pos_weight = torch.tensor((len(pairs) - positives) / max(1.0, positives))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    t0, step, last = time.perf_counter(), 0, 0.0
    for epoch in range(epochs):
        order = list(range(len(pairs)))
        rng.shuffle(order)
        for i in range(0, len(order), batch_size):
            chunk = [pairs[j] for j in order[i : i + batch_size]]
            batch = tokenizer(
                [q for q, _, _ in chunk],
                [t for _, t, _ in chunk],
                truncation="longest_first",
                max_length=MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            logits = model(**batch).logits.reshape(-1)
            loss = loss_fn(logits, torch.tensor([y for _, _, y in chunk]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            last = float(loss.detach())
            if step % 50 == 0:
                report(f"reranker step {step}/{steps} loss {last:.3f} ({time.perf_counter() - t0:.0f} s)")
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return {
        "pairs": len(pairs),
        "positives": int(positives),
        "steps": step,
        "last_loss": round(last, 4),
        "seconds": round(time.perf_counter() - t0, 1),
    }
