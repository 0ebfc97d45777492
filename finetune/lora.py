"""LoRA SFT of the generator with TRL + peft: `loopdesk finetune lora --data DIR --out models/adapters`.

Data: an export directory (train.jsonl, optional eval.jsonl) or one `messages` JSONL file. Each
conversation becomes TRL's prompt/completion form (everything before the last assistant message ->
its answer), which gives loss on assistant tokens only without `{% generation %}` markers that
SmolLM2's template lacks. bf16 on a GPU, fp32 on the CPU (these CPUs have no native bf16, and TRL's
default bf16 + gradient checkpointing ran 12x slower here). Checkpoints go to
`<home>/checkpoints/<version>/` and a re-run resumes from the newest one. The result is
`<out>/<version>/`: adapter weights (safetensors) and config, `adapter.json` (kind, base model id,
data hash, training config, metrics), `loss.csv` and `loss.png`. The run is recorded in the experiment
tracker (`finetune/tracking.py`: parameters, data hashes, loss curve, minutes, the adapter made).

Several GPUs: `accelerate launch -m assistant.cli.main finetune lora --data DIR --out models/adapters`
(the Trainer shards batches over the processes; only the main process writes the adapter).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from assistant.errors import InputError
from finetune.peft_methods import METHODS, allocation_callback
from finetune.peft_methods import peft_config as peft_method_config


@dataclass
class LoraTrainConfig:
    data: str
    out: str
    version: str = ""
    base: str = "bundled:smollm2-135m-instruct"
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    learning_rate: float = 5e-4
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 384
    packing: bool = False
    max_examples: int = 0
    save_steps: int = 20
    logging_steps: int = 5
    seed: int = 7
    device: str = "auto"
    method: str = "lora"
    """lora, adalora, prefix or ia3 (`finetune.peft_methods`)."""
    progress: str = ""
    """JSON file rewritten at each logged step: step, max_steps, losses (what the console's progress
    bar and live loss curve read)."""


def load_conversations(data: str | Path, split: str = "train") -> list[dict]:
    p = Path(data)
    file = p / f"{split}.jsonl" if p.is_dir() else p
    if not file.is_file():
        raise InputError(f"no {split} data at {file}")
    rows = []
    for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{file}:{n}: invalid JSON ({exc.msg})") from exc
        msgs = row.get("messages") if isinstance(row, dict) else None
        if not msgs or msgs[-1].get("role") != "assistant" or not str(msgs[-1].get("content", "")).strip():
            raise InputError(f"{file}:{n}: expected 'messages' ending with an assistant answer")
        rows.append(row)
    if not rows:
        raise InputError(f"{file}: no examples (export found no usable turns?)")
    return rows


def to_prompt_completion(rows: list[dict]) -> list[dict]:
    return [{"prompt": r["messages"][:-1], "completion": [r["messages"][-1]]} for r in rows]


def data_hash(rows: list[dict]) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:16]


def _last_checkpoint(directory: Path) -> str | None:
    ckpts = sorted(directory.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(ckpts[-1]) if ckpts else None


def plot_loss(history: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(h["step"], h["loss"]) for h in history if "loss" in h]
    (out / "loss.csv").write_text("step,loss\n" + "".join(f"{s},{loss}\n" for s, loss in points))
    if not points:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([s for s, _ in points], [loss for _, loss in points], marker=".")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (nats/token)")
    ax.set_title(out.name)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=100)
    plt.close(fig)


def train_lora(cfg: LoraTrainConfig, home: Path, log=print, runs: Path | None = None, by: str = "") -> dict:
    """Train (or resume) and write `<out>/<version>/`; returns the adapter manifest. The run is recorded
    in the experiment tracker at `runs` (default `<home>/runs`, see `finetune.tracking`); `by`: who
    started it, for that record."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from assistant.models import pick_device, resolve

    if cfg.method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)}")
    rows = load_conversations(cfg.data, "train")
    if cfg.max_examples:
        rows = rows[: cfg.max_examples]
    # Default name from the data: re-running the same command after a kill finds its checkpoints.
    version = cfg.version or f"gen-{data_hash(rows)[:8]}"
    registry = Path(cfg.out)
    if (registry / version).exists():
        raise InputError(f"adapter version {version} already exists in {registry}")
    resolved = resolve(cfg.base, home)
    device, dtype = pick_device(cfg.device)
    tokenizer = AutoTokenizer.from_pretrained(resolved.location)
    model = AutoModelForCausalLM.from_pretrained(resolved.location, dtype=dtype)
    ckpt_dir = home / "checkpoints" / version
    on_gpu = device == "cuda"
    per_step = cfg.batch_size * cfg.grad_accum
    total_steps = cfg.max_steps if cfg.max_steps > 0 else int(-(-len(rows) // per_step) * cfg.epochs)
    args = SFTConfig(
        output_dir=str(ckpt_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, total_steps // 20),
        logging_steps=cfg.logging_steps,
        save_steps=cfg.save_steps,
        save_total_limit=2,
        bf16=on_gpu,
        fp16=False,
        gradient_checkpointing=False,
        use_cpu=not on_gpu,
        max_length=cfg.max_length,
        packing=cfg.packing,
        completion_only_loss=True,
        report_to=[],
        seed=cfg.seed,
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    peft_config = peft_method_config(
        cfg.method, cfg.rank, cfg.alpha, cfg.dropout, list(cfg.target_modules), total_steps
    )
    timing = {"tokens": 0, "seconds": 0.0}

    class Throughput(TrainerCallback):
        """Counts completion+prompt tokens seen, for tokens/s in the manifest."""

        def on_step_begin(self, args, state, control, **kw):
            self.t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            timing["seconds"] += time.perf_counter() - self.t

    class Progress(TrainerCallback):
        """Writes step, planned steps and the loss curve so far, atomically (readers never see half a file)."""

        since = time.time()  # for the console's time-left estimate

        def on_log(self, args, state, control, logs=None, **kw):
            if not cfg.progress:
                return
            losses = [[h["step"], h["loss"]] for h in state.log_history if "loss" in h]
            path = Path(cfg.progress)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(
                json.dumps(
                    {
                        "version": version,
                        "step": state.global_step,
                        "max_steps": state.max_steps,
                        "losses": losses,
                        "stage": "training",
                        "at": time.time(),
                        "since": self.since,
                    }
                )
            )
            os.replace(tmp, path)

    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(to_prompt_completion(rows)),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[Throughput(), Progress()] + ([allocation_callback()] if cfg.method == "adalora" else []),
    )
    lengths = [len(x) for x in trainer.train_dataset["input_ids"]]  # type: ignore[index]  # a datasets.Dataset here
    resume = _last_checkpoint(ckpt_dir)
    if resume:
        log(f"resuming from {resume}")
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    wall = time.perf_counter() - t0
    steps = trainer.state.global_step
    tokens_per_step = cfg.batch_size * cfg.grad_accum * (sum(lengths) / max(1, len(lengths)))
    if not trainer.is_world_process_zero():
        return {}
    tmp = registry / f".{version}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.model.save_pretrained(str(tmp))  # type: ignore[union-attr,operator]  # a PeftModel after training
    conf_path = tmp / "adapter_config.json"
    conf = json.loads(conf_path.read_text())
    conf["base_model_name_or_path"] = resolved.model_id  # portable: the Hub id, not a local cache path
    conf_path.write_text(json.dumps(conf, indent=1))
    history = trainer.state.log_history
    losses = [h["loss"] for h in history if "loss" in h]
    manifest = {
        "version": version,
        "kind": "generator",
        "method": cfg.method,
        "base_model": resolved.model_id,
        "created": datetime.now(timezone.utc).isoformat(),
        "data": str(cfg.data),
        "data_hash": data_hash(rows),
        "examples": len(rows),
        "training_config": asdict(cfg) | {"version": version},
        "device": device,
        # Provenance when training continued from an earlier run's checkpoint (copied in by hand or a kill).
        "resumed_from": Path(resume).name if resume else None,
        "metrics": {
            "train_loss_first": losses[0] if losses else None,
            "train_loss_last": losses[-1] if losses else None,
            "train_loss_mean": round(result.training_loss, 4),
            "steps": steps,
            "train_seconds": round(wall, 1),
            "tokens_per_second": round(steps * tokens_per_step / max(timing["seconds"], 1e-9), 1),
            "adapter_bytes": (tmp / "adapter_model.safetensors").stat().st_size,
        },
    }
    (tmp / "adapter.json").write_text(json.dumps(manifest, indent=1))
    data_card = Path(cfg.data) / "data_card.json"
    if data_card.is_file():  # provenance of the training data travels with the adapter
        shutil.copy(data_card, tmp / "data_card.json")
    plot_loss(history, tmp)
    write_adapter_card(tmp)
    registry.mkdir(parents=True, exist_ok=True)
    os.rename(tmp, registry / version)
    manifest["tracked"] = track_training(manifest, registry / version, runs or home / "runs", by, wall)
    return manifest


def track_training(manifest: dict, adapter_dir: Path, runs: Path, by: str = "", seconds: float | None = None) -> dict:
    """Record a finished training in the experiment tracker: its settings, the export's data hash, the
    loss curve, minutes and the adapter it made (`finetune.tracking`). Returns where it went; a failure
    to record is logged, never raised (the adapter is written already)."""
    from finetune.tracking import record_run

    tc, m = manifest.get("training_config", {}), manifest.get("metrics", {})
    card = _json_or_empty(adapter_dir / "data_card.json")
    dataset = Path(manifest.get("data") or "").name or "?"
    curve = _loss_curve(adapter_dir / "loss.csv")
    try:
        run = record_run(
            runs,
            "train",
            name=manifest["version"],
            what=f"training of adapter {manifest['version']} on {dataset} ({manifest.get('examples')} examples)",
            params={
                "method": manifest.get("method", "lora"),
                "base_model": manifest.get("base_model"),
                "dataset": dataset,
                "data": manifest.get("data"),
                # The export's own hash (its data card) next to the hash of the rows trained on.
                "export_data_hash": card.get("data_hash"),
                "examples": manifest.get("examples"),
                "device": manifest.get("device"),
                "resumed_from": manifest.get("resumed_from"),
                **{k: tc.get(k) for k in TRACKED_SETTINGS if tc.get(k) is not None},
            },
            metrics={
                "steps": m.get("steps"),
                "train_loss_first": m.get("train_loss_first"),
                "train_loss_last": m.get("train_loss_last"),
                "train_loss_mean": m.get("train_loss_mean"),
                "tokens_per_second": m.get("tokens_per_second"),
                "adapter_bytes": m.get("adapter_bytes"),
            },
            adapter=manifest["version"],
            data_hash=manifest.get("data_hash"),
            by=by,
            seconds=seconds if seconds is not None else m.get("train_seconds"),
            curve=curve,
            artifacts=[
                adapter_dir / n for n in ("adapter.json", "loss.csv", "loss.png", "README.md", "data_card.json")
            ],
        )
    except Exception as exc:  # never lose a trained adapter to a tracking problem
        import logging

        logging.getLogger("loopdesk.tracking").warning("training run %s not recorded: %s", manifest["version"], exc)
        return {"backend": "none", "error": str(exc)}
    return {"backend": run["backend"], "id": run["id"], "store": str(runs)}


TRACKED_SETTINGS = (
    "rank",
    "alpha",
    "dropout",
    "learning_rate",
    "epochs",
    "max_steps",
    "batch_size",
    "grad_accum",
    "max_length",
    "max_examples",
    "packing",
    "seed",
    "target_modules",
)


def _json_or_empty(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _loss_curve(loss_csv: Path) -> list[tuple[int, float]]:
    """(step, loss) from the adapter's loss.csv (what `plot_loss` wrote)."""
    try:
        lines = loss_csv.read_text().splitlines()[1:]
    except OSError:
        return []
    out = []
    for line in lines:
        step, _, loss = line.partition(",")
        try:
            out.append((int(step), float(loss)))
        except ValueError:
            continue
    return out


def _data_lines(directory: Path) -> list[str]:
    """The model card's data section, from the dataset's data card when it was copied in."""
    try:
        card = json.loads((Path(directory) / "data_card.json").read_text())
    except (OSError, ValueError):
        return []
    lines = ["## Data", ""]
    if card.get("command"):
        lines += ["```", card["command"], "```", ""]
    for key in ("format", "targets", "knowledge_bases", "counts", "kept", "dropped", "grounded", "ungrounded"):
        if key in card:
            lines.append(f"- {key.replace('_', ' ')}: {card[key]}")
    return lines + [""]


def write_adapter_card(directory: Path) -> Path:
    """README.md model card of a generator adapter from adapter.json (+ eval.json when present)."""
    m = json.loads((directory / "adapter.json").read_text())
    ev = json.loads((directory / "eval.json").read_text()) if (directory / "eval.json").exists() else None
    tc = m.get("training_config", {})
    lines = [
        f"# Generator adapter `{m['version']}`",
        "",
        f"LoRA adapter for `{m['base_model']}`, trained with TRL's SFTTrainer (prompt/completion, loss on the "
        f"answer tokens only) on {m['examples']} examples from `{m['data']}` (data hash `{m['data_hash']}`).",
        "",
        *_data_lines(directory),
        "## Command",
        "",
        "```",
        f"loopdesk finetune lora --data {m['data']} --out {Path(directory).parent} --version {m['version']} "
        f"--max-examples {tc.get('max_examples')} --max-length {tc.get('max_length')} "
        f"--batch-size {tc.get('batch_size')} "
        f"--learning-rate {tc.get('learning_rate')} --rank {tc.get('rank')} --alpha {tc.get('alpha')}"
        + (f" --max-steps {tc['max_steps']}" if (tc.get("max_steps") or -1) > 0 else ""),
        "```",
        "",
        "## Hyperparameters",
        "",
        "```json",
        json.dumps(tc, indent=1),
        "```",
        "",
        "## Training",
        "",
        f"`{json.dumps(m.get('metrics'))}` on {m.get('device')}; loss curve: `loss.png`, `loss.csv`.",
    ]
    if m.get("resumed_from"):
        lines += [
            "",
            f"Training resumed from the trainer checkpoint `{m['resumed_from']}` found in this version's "
            "checkpoint directory; steps before it (and their data) belong to the run that wrote it.",
        ]
    if ev:
        lines += [
            "",
            "## Held-out evaluation (`loopdesk finetune eval`)",
            "",
            f"{ev['n']} eval conversations ({ev['tokens_scored']} answer tokens scored), "
            f"{ev['n_generated']} generated:",
            "",
            "| model | loss/token | perplexity | ROUGE-L | words |",
            "|---|---|---|---|---|",
        ]
        for k in ("base", "adapter", "live"):
            if f"{k}_loss" in ev:
                lines.append(
                    f"| {k} | {ev[k + '_loss']} | {ev[k + '_perplexity']} | {ev[k + '_rougeL']} "
                    f"| {ev[k + '_mean_length']} |"
                )
        if "loss_ratio" in ev:
            lines += ["", f"Adapter / base loss ratio: **{ev['loss_ratio']}**."]
        if "answer_eval" in ev:
            lines += [
                "",
                f"## Answer accuracy through the pipeline (`{ev['answer_questions']}`)",
                "",
                "| model | answer accuracy | fact recall | decline rate | unsupported numbers | p50 ms | grounding |",
                "|---|---|---|---|---|---|---|",
            ]
            for k, r in ev["answer_eval"].items():
                lines.append(
                    f"| {k} | {r['answer_accuracy']} | {r['fact_recall']} | {r['decline_rate']} | "
                    f"{r['unsupported_number_rate']} | {r['latency_ms_p50']} | {r['grounding']} |"
                )
    (directory / "README.md").write_text("\n".join(lines) + "\n")
    return directory / "README.md"
