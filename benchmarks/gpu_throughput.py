"""GPU speed of the generator's architecture: bf16 decoding (batch 1 and a batch of 50 customers) and
LoRA training steps, on SmolLM2-135M's config with random weights (speed does not depend on the
weights, and a device without network cannot fetch them).

    python benchmarks/gpu_throughput.py [--config benchmarks/configs/smollm2-135m.json] [--out FILE]

Prompt 313 tokens, 64 new tokens forced (min_new_tokens), greedy; LoRA r=16 on every projection,
batch 4 x 256 tokens, AdamW. Prints a table and writes JSON (benchmarks/results/gpu_throughput.json).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "benchmarks/configs/smollm2-135m.json"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/gpu_throughput.json"))
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    cfg = AutoConfig.for_model(
        **{k: v for k, v in json.loads(Path(args.config).read_text()).items() if not k.startswith("_")}
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16).cuda().eval()
    rows = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    prompt_len, new = 313, 64
    for batch in (1, 50):
        ids = torch.randint(3, cfg.vocab_size, (batch, prompt_len), device="cuda")
        kw = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=cfg.pad_token_id)
        with torch.no_grad():
            model.generate(ids, **kw)  # warm-up
            torch.cuda.synchronize()
            t = time.perf_counter()
            first = model.generate(ids, max_new_tokens=1, min_new_tokens=1, do_sample=False,
                                   pad_token_id=cfg.pad_token_id)
            torch.cuda.synchronize()
            ttft = time.perf_counter() - t
            t = time.perf_counter()
            out = model.generate(ids, **kw)
            torch.cuda.synchronize()
            wall = time.perf_counter() - t
        assert first.shape[1] == prompt_len + 1 and out.shape[1] == prompt_len + new
        rows[f"batch {batch}: tokens/s (all sequences)"] = round(batch * new / wall, 1)
        rows[f"batch {batch}: tokens/s per sequence"] = round(new / wall, 1)
        rows[f"batch {batch}: time to first token ms"] = round(ttft * 1000, 1)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16).cuda().train()
    lora = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, task_type="CAUSAL_LM", target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    opt = torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad], lr=5e-4)
    x = torch.randint(3, cfg.vocab_size, (4, 256), device="cuda")
    times = []
    for step in range(12):
        torch.cuda.synchronize()
        t = time.perf_counter()
        loss = lora(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        torch.cuda.synchronize()
        if step >= 2:
            times.append(time.perf_counter() - t)
    rows["LoRA step ms (batch 4 x 256, bf16, median of 10)"] = round(sorted(times)[len(times) // 2] * 1000, 1)
    rows["LoRA tokens/s"] = round(4 * 256 / (sorted(times)[len(times) // 2]), 1)
    for k, v in rows.items():
        print(f"{k:<52}{v}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
