"""LoRA training throughput: loopdesk's TRL trainer vs a plain peft loop, same data, same model, side by side.

    .venv/bin/python benchmarks/lora_throughput.py --data var/bitext_ds [--steps 6] [--batch-size 4]

Both train the same LoRA config (rank 16, all attention and MLP projections) on the same first
examples, fp32 on the CPU (bf16 on a GPU), and count the tokens they process per second (prompt +
answer tokens; loss on the answer only in both). Writes benchmarks/results/lora_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent


def plain_loop(location: str, rows: list[dict], steps: int, batch: int, max_length: int, device: str, dtype) -> float:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assistant.serving.transformers_generator import chat_ids as _ids

    tok = AutoTokenizer.from_pretrained(location)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(location, dtype=dtype).to(device),
                           LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, task_type="CAUSAL_LM",
                                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-4)
    examples = []
    for r in rows:
        prompt = _ids(tok, r["messages"][:-1], True)
        full = _ids(tok, r["messages"], False)[:max_length]
        examples.append((full, [-100] * len(prompt) + full[len(prompt):]))
    tokens, elapsed = 0, 0.0
    for s in range(steps):
        chunk = examples[s * batch:(s + 1) * batch]
        width = max(len(f) for f, _ in chunk)
        ids = torch.tensor([f + [tok.eos_token_id] * (width - len(f)) for f, _ in chunk], device=device)
        labels = torch.tensor([l + [-100] * (width - len(l)) for _, l in chunk], device=device)
        mask = torch.tensor([[1] * len(f) + [0] * (width - len(f)) for f, _ in chunk], device=device)
        t0 = time.perf_counter()
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if s > 0:  # the first step warms caches up; both sides skip it
            elapsed += time.perf_counter() - t0
            tokens += sum(len(f) for f, _ in chunk)
    return tokens / elapsed


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from assistant.config import load_config
    from assistant.models import pick_device, resolve
    from finetune.lora import LoraTrainConfig, load_conversations, train_lora

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/lora_throughput.json"))
    args = ap.parse_args()
    cfg = load_config(env={})
    device, dtype = pick_device("auto")
    rows = load_conversations(args.data)[: args.steps * args.batch_size]
    location = resolve(cfg.models.generator, cfg.home).location
    plain = plain_loop(location, rows, args.steps, args.batch_size, args.max_length, device, dtype)
    tmp = Path(tempfile.mkdtemp())
    data = tmp / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    manifest = train_lora(LoraTrainConfig(data=str(data), out=str(tmp / "reg"), version="bench", base=cfg.models.generator,
                                          max_steps=args.steps, batch_size=args.batch_size, max_length=args.max_length,
                                          save_steps=10_000, logging_steps=1), tmp / "home", log=lambda *_: None)
    trl_rate = manifest["metrics"]["tokens_per_second"]
    result = {"device": device, "steps": args.steps, "batch_size": args.batch_size,
              "tokens_per_s": {"trl_sfttrainer": trl_rate, "plain_peft_loop": round(plain, 1)},
              "ratio_trl_vs_plain": round(trl_rate / plain, 3)}
    print(json.dumps(result, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
