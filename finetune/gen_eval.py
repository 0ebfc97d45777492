"""Held-out evaluation of generator adapters: `loopdesk finetune eval --adapter VERSION --data PATH`.

For the base model, the candidate adapter and (when different) the live adapter: mean loss per
assistant token with teacher forcing (and its perplexity), ROUGE-L (F) of greedy answers against the
references on a sample, mean answer length in words, and side-by-side samples. With `record=True`
(`--record`) the result is written to `<adapter>/eval.json`, which `promote` compares against the live
adapter's, and the adapter's model card is rewritten; without it nothing beside the adapter changes (an
evaluation on some other data must not replace the evidence a promotion was based on).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from assistant.config import GenerationConfig
from assistant.errors import AdapterError
from assistant.serving.transformers_generator import chat_ids as _ids
from assistant.serving.transformers_generator import check_adapter_dir, sampling_kwargs
from finetune.lora import data_hash, load_conversations


def assistant_token_loss(model, tokenizer, rows: list[dict], max_length: int = 512, on_row=None) -> tuple[float, int]:
    """Mean NLL (nats) over assistant-answer tokens only, and how many tokens were scored.
    `on_row(i)` is called after each row (progress)."""
    import torch

    total, count = 0.0, 0
    device = next(model.parameters()).device
    with torch.inference_mode():
        for i, r in enumerate(rows):
            if on_row:
                on_row(i)
            prompt = _ids(tokenizer, r["messages"][:-1], True)
            full = _ids(tokenizer, r["messages"], False)[:max_length]
            if len(full) <= len(prompt):
                continue
            x = torch.tensor([full], device=device)
            logits = model(input_ids=x).logits[0, :-1].float()
            target = x[0, 1:]
            nll = torch.nn.functional.cross_entropy(logits, target, reduction="none")
            answer = nll[len(prompt) - 1 :]
            total += float(answer.sum())
            count += answer.numel()
    return (total / count if count else float("nan")), count


def generate_answers(
    model, tokenizer, rows: list[dict], max_new_tokens: int, sampling: dict | None = None, on_row=None
) -> list[str]:
    """Answers decoded as serving decodes them (`sampling_kwargs` of the generation config);
    `on_row(i)` is called before each row (progress)."""
    import torch

    sampling = sampling if sampling is not None else sampling_kwargs(GenerationConfig())
    out = []
    device = next(model.parameters()).device
    with torch.inference_mode():
        for i, r in enumerate(rows):
            if on_row:
                on_row(i)
            ids = torch.tensor([_ids(tokenizer, r["messages"][:-1], True)], device=device)
            gen = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                **sampling,
            )
            out.append(tokenizer.decode(gen[0, ids.shape[1] :], skip_special_tokens=True).strip())
    return out


def rouge_l(predictions: list[str], references: list[str]) -> float:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scores = [scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(predictions, references)]
    return round(sum(scores) / len(scores), 4) if scores else 0.0


def evaluate(
    base_ref: str,
    home: Path,
    adapter_dir: Path | None,
    data: str | Path,
    live_dir: Path | None = None,
    max_examples: int = 100,
    generate: int = 8,
    max_new_tokens: int = 96,
    device: str = "auto",
    generation: GenerationConfig | None = None,
    report=None,
    record: bool = False,
) -> dict:
    """Loss, perplexity, ROUGE-L and answer length of the base model, the adapter and the live adapter
    on the held-out rows; `report(stage, done, total)` hears how far it is (a `ProgressFile`). `record`:
    write the result as the adapter's evaluation (`record_evaluation`), the promotion's evidence."""
    from peft import PeftModel

    from assistant.models import load_causal_lm

    p = Path(data)
    rows = load_conversations(p, "eval") if p.is_dir() else load_conversations(p)
    rows = rows[:max_examples]
    model, tokenizer, resolved = load_causal_lm(base_ref, home, device)
    variants: dict[str, Path | None] = {"base": None}
    if adapter_dir is not None:
        check_adapter_dir(adapter_dir, resolved.model_id)
        variants["adapter"] = adapter_dir
    if live_dir is not None and live_dir != adapter_dir:
        check_adapter_dir(live_dir, resolved.model_id)
        variants["live"] = live_dir
    refs = [r["messages"][-1]["content"] for r in rows[:generate]]
    result: dict = {
        "n": len(rows),
        "n_generated": len(refs),
        "base_model": resolved.model_id,
        "data": str(data),
        "data_hash": data_hash(rows),
    }
    answers: dict[str, list[str]] = {}
    per_variant = len(rows) + len(refs)
    for k, name in enumerate(variants):
        path = variants[name]
        stage, start, total = f"held-out loss and sample answers ({name})", k * per_variant, len(variants) * per_variant

        def tick(i, offset=0, stage=stage, start=start, total=total):
            if report:
                report(stage, start + offset + i, total)

        if path is None:
            current = model
        else:
            # Each adapter on a fresh copy of the base: peft cannot hold adapters of different kinds
            # (a LoRA live adapter, a prefix-tuning candidate) in one model.
            base, _, _ = load_causal_lm(base_ref, home, device)
            try:
                current = PeftModel.from_pretrained(base, str(path), adapter_name=name)
            except Exception as exc:
                raise AdapterError(f"adapter {path} cannot be loaded: {exc}") from exc
        current.eval()
        loss, tokens = assistant_token_loss(current, tokenizer, rows, on_row=tick)
        answers[name] = generate_answers(
            current,
            tokenizer,
            rows[:generate],
            max_new_tokens,
            sampling_kwargs(generation or GenerationConfig()),
            on_row=lambda i, tick=tick: tick(i, len(rows)),
        )
        result[f"{name}_loss"] = round(loss, 4)
        result[f"{name}_perplexity"] = round(math.exp(loss), 3) if loss == loss else None
        result[f"{name}_rougeL"] = rouge_l(answers[name], refs)
        result[f"{name}_mean_length"] = round(sum(len(a.split()) for a in answers[name]) / max(1, len(refs)), 1)
        result["tokens_scored"] = tokens
    if "adapter" in variants:
        result["loss_ratio"] = round(result["adapter_loss"] / result["base_loss"], 4)
    result["samples"] = [
        {
            "prompt": rows[i]["messages"][-2]["content"],
            "reference": refs[i],
            **{name: answers[name][i] for name in answers},
        }
        for i in range(min(3, len(refs)))
    ]
    from finetune.registry import provenance

    # What this evaluation compared against: `promote` accepts it only while that adapter is live.
    result["compared_with"] = provenance(live_dir if "live" in variants else None, result["data_hash"])
    if record and adapter_dir is not None:
        record_evaluation(adapter_dir, result)
    return result


def record_evaluation(adapter_dir: Path, result: dict) -> None:
    """Make `result` the adapter's evaluation: `eval.json` (what `promote` checks) and the model card."""
    (adapter_dir / "eval.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    if (adapter_dir / "adapter.json").exists():
        from finetune.lora import write_adapter_card

        write_adapter_card(adapter_dir)


def track_evaluation(
    result: dict,
    adapter_dir: Path,
    live: str | None,
    runs: Path,
    by: str = "",
    seconds: float | None = None,
    started: float | None = None,
    recorded: bool = False,
) -> dict:
    """Record an evaluation in the experiment tracker (`finetune.tracking`): which adapter against which
    live one, the held-out set's and the question set's hashes, held-out loss and answer accuracy of
    both, and the better/worse/same counts of the paired comparison. Returns where it went; a failure to
    record is logged, never raised (the evaluation's result is printed and written all the same)."""
    from finetune.tracking import record_run

    version = Path(adapter_dir).name
    manifest = _json_or_empty(Path(adapter_dir) / "adapter.json")
    other = "live" if "live_loss" in result or "live_answer_accuracy" in result else "base"
    against = f"live adapter {live}" if other == "live" and live else "the base model"
    gate = result.get("answer_gate") or {}
    metrics: dict[str, float | int | None] = {
        "examples": result.get("n"),
        "generated": result.get("n_generated"),
        "loss_ratio": result.get("loss_ratio"),
        "better": gate.get("wins"),
        "worse": gate.get("losses"),
        "same": gate.get("ties"),
    }
    for name in ("adapter", other):
        for key in ("loss", "perplexity", "rougeL", "mean_length", "answer_accuracy"):
            metrics[f"{name}_{key}"] = result.get(f"{name}_{key}")
    try:
        run = record_run(
            runs,
            "eval",
            name=f"eval-{version}",
            what=f"evaluation of {version} against {against}",
            params={
                "compared_with": live if other == "live" and live else "base model",
                "method": manifest.get("method", "lora" if manifest else None),
                "base_model": result.get("base_model"),
                "data": result.get("data"),
                "questions": result.get("answer_questions"),
                "questions_hash": result.get("answer_questions_hash"),
                "recorded_as_evidence": "yes" if recorded else "no",
            },
            metrics=metrics,
            adapter=version,
            data_hash=result.get("data_hash"),
            by=by,
            started=started,
            seconds=seconds,
            artifacts=[Path(adapter_dir) / "eval.json"] if recorded else [],
        )
    except Exception as exc:
        import logging

        logging.getLogger("loopdesk.tracking").warning("evaluation of %s not recorded: %s", version, exc)
        return {"backend": "none", "error": str(exc)}
    return {"backend": run["backend"], "id": run["id"], "store": str(runs)}


def _json_or_empty(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
