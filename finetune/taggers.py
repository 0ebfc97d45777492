"""Train the sentiment and NER taggers: LoRA on the bundled MiniLM backbone plus a small head.

    loopdesk finetune taggers --task sentiment --train ../shared/data/sst2/train.tsv \
        --dev ../shared/data/sst2/dev.tsv --neutral ../shared/data/bitext/customer_support_3997.csv \
        --calibrate ../shared/data/airline_sentiment/dev_1000.csv --out models/taggers/sentiment
    loopdesk finetune taggers --task ner --train ../shared/data/conll2003/train.txt \
        --dev ../shared/data/conll2003/valid.txt --out models/taggers/ner

Training checkpoints to `<out>/checkpoint/` every `--save-every` steps (adapter, head, optimizer
state, all safetensors, plus `progress.json`) and resumes from there when re-run; the best epoch on
the dev set is written to `<out>/` with `tagger.json` and a model card `README.md`.
Sentiment is 3-class: SST-2 gives negative/positive, Bitext customer requests give neutral (and
their complaints and offensive-language rows negative), `--service-messages N` adds authored failure
reports / questions / thanks (`finetune.service_messages`); an optional calibration file fits scales,
biases and a separate traffic prior (5 numbers, by log-loss; `fit_calibration`) so the probabilities
match real customer messages.
`--init DIR` continues from an existing tagger.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import random
import shutil
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.taggers.sentiment import apply_calibration, normalize_social  # noqa: F401  (re-exported)
from assistant.taggers.network import build_heads, encode_words
from finetune.tagger_data import LABELS3, read_conll, read_sentiment

NER_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


@dataclass
class TaggerTrainConfig:
    task: str
    train: str
    out: str
    dev: str | None = None
    neutral: str | None = None
    calibrate: str | None = None
    backbone: str = "bundled:all-minilm-l6-v2"
    epochs: int = 3
    batch_size: int = 32
    lr: float = 1e-3
    head_lr: float = 2e-3
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.1
    max_length: int = 128
    max_steps: int = 0
    save_every: int = 200
    seed: int = 13
    neutral_repeat: int = 3
    init: str | None = None
    """An existing tagger directory of the same task to start from (warm start; rank comes from it)."""
    eval_every: int = 0
    """Also evaluate on the dev set every N steps (0: at the end of each epoch only)."""
    calibration: str = "prior"
    """Sentiment calibration fitted on --calibrate: `prior`, `vector`, `tied` or `bias` (see `fit_calibration`)."""
    service_messages: int = 0
    """Sentiment: add this many authored customer-service messages (`finetune.service_messages`)."""
    extra_examples: list = field(default_factory=list)
    """Extra (text or words, label or tags) pairs, such as operator corrections from the store."""


def _sha(paths: list[str | None]) -> str:
    h = hashlib.sha256()
    for p in paths:
        if p:
            h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


# Bitext intents whose requests report a problem ("I cannot pay"): neither calm questions nor
# clearly upset, so they are left out of both classes rather than taught as neutral.
_PROBLEM_INTENTS = {"payment_issue", "registration_problems"}


def customer_requests(path: str, limit: int = 4000) -> tuple[list[str], list[str]]:
    """(neutral, negative) customer turns from a Bitext-style csv (`instruction`, `intent`, `tags`).

    Negative: complaints and rows tagged `W` (offensive language, "where is my goddamn parcel").
    Neutral: every other request except problem reports. SST-2 is movie reviews; these teach the
    model what calm and upset *customer* messages look like.
    """
    neutral, negative = [], []
    with open(path, encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            text, intent = r.get("instruction", "").strip(), r.get("intent", "")
            if not text:
                continue
            if intent == "complaint" or "W" in r.get("tags", ""):
                negative.append(text)
            elif intent not in _PROBLEM_INTENTS:
                neutral.append(text)
    return neutral[:limit], negative[:limit]


def _examples(cfg: TaggerTrainConfig):
    if cfg.task == "sentiment":
        texts, labels, _ = read_sentiment(cfg.train, "text", "label")
        train = list(zip(texts, labels))
        if cfg.neutral:
            neutral, negative = customer_requests(cfg.neutral)
            train += ([(t, 1) for t in neutral] + [(t, 0) for t in negative]) * cfg.neutral_repeat
        if cfg.service_messages:
            from finetune.service_messages import service_messages

            train += service_messages(cfg.service_messages, seed=cfg.seed)
        dev = None
        if cfg.dev:
            dt, dl, _ = read_sentiment(cfg.dev, "text", "label")
            dev = list(zip(dt, dl))
        return train + list(cfg.extra_examples), dev
    train = read_conll(cfg.train) + list(cfg.extra_examples)
    return train, (read_conll(cfg.dev) if cfg.dev else None)


def _batch(task, tokenizer, items, max_length):
    import torch

    if task == "sentiment":
        enc = tokenizer(
            [normalize_social(t) for t, _ in items],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        return enc, None, torch.tensor([y for _, y in items])
    enc, word_ids, shapes = encode_words(tokenizer, [w for w, _ in items], max_length)
    index = {t: i for i, t in enumerate(NER_LABELS)}
    labels = []
    for (words, tags), ids in zip(items, word_ids):
        prev, row = None, []
        for w in ids:
            row.append(-100 if w is None or w == prev else index.get(tags[w], 0))
            prev = w
        labels.append(row)
    return enc, shapes, torch.tensor(labels)


def _length_buckets(train: list, batch_size: int, seed: int) -> list[list[int]]:
    """Deterministic batches of similar length (less padding, ~2x faster on the CPU), in random order."""
    rng = random.Random(seed)
    order = list(range(len(train)))
    rng.shuffle(order)

    def size(i: int) -> int:
        return len(train[i][0]) if isinstance(train[i][0], list) else len(train[i][0].split())

    batches = []
    for c in range(0, len(order), batch_size * 50):
        chunk = sorted(order[c : c + batch_size * 50], key=size)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _check_init(cfg: TaggerTrainConfig) -> None:
    """Validate a warm-start tagger directory and adopt its LoRA rank/alpha (weights must fit)."""
    from assistant.errors import AdapterError

    d = Path(cfg.init or "")
    try:
        meta = json.loads((d / "tagger.json").read_text())
        conf = json.loads((d / "adapter_config.json").read_text())
    except (OSError, ValueError) as exc:
        raise AdapterError(f"cannot start from {d}: {exc}") from exc
    if meta.get("task") != cfg.task:
        raise AdapterError(f"cannot start a {cfg.task} tagger from {d}: it is a {meta.get('task')} tagger")
    if not (d / "adapter_model.safetensors").is_file() or not (d / "head.safetensors").is_file():
        raise AdapterError(f"cannot start from {d}: weights are missing")
    cfg.rank, cfg.alpha = int(conf["r"]), int(conf["lora_alpha"])


def _save_state(directory: Path, model, head, optimizer=None, progress: dict | None = None) -> None:
    """Adapter + head (+ optimizer moments) as safetensors, written to a temp dir then swapped in."""
    from safetensors.torch import save_file

    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp))  # adapter_config.json + adapter_model.safetensors
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(tmp / "head.safetensors"))
    if optimizer is not None:
        flat, groups = {}, optimizer.state_dict()
        for pid, st in groups["state"].items():
            for k, v in st.items():
                flat[f"{pid}.{k}"] = v.contiguous() if hasattr(v, "contiguous") else v
        save_file(flat, str(tmp / "optimizer.safetensors"))
        (tmp / "progress.json").write_text(json.dumps(progress or {}, indent=1))
    old = directory.with_name(directory.name + ".old")
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)


def _load_optimizer(optimizer, path: Path) -> None:
    from safetensors.torch import load_file

    flat = load_file(str(path))
    sd = optimizer.state_dict()
    state: dict = {}
    for key, v in flat.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    sd["state"] = state
    optimizer.load_state_dict(sd)


def evaluate(task: str, model, head, tokenizer, data, max_length: int, batch_size: int = 64) -> dict:
    """Dev metrics: binary accuracy for sentiment (SST-2 style), seqeval entity F1 for NER."""
    import torch

    model.eval(), head.eval()
    correct, gold_all, pred_all = 0, [], []
    with torch.inference_mode():
        for i in range(0, len(data), batch_size):
            items = data[i : i + batch_size]
            enc, shapes, labels = _batch(task, tokenizer, items, max_length)
            out = model(
                input_ids=enc["input_ids"],
                attention_mask=enc["attention_mask"],
                token_type_ids=enc.get("token_type_ids"),
            )
            logits = head(out.last_hidden_state, enc["attention_mask"], shapes)
            if task == "sentiment":
                pred = torch.where(logits[:, 2] > logits[:, 0], 2, 0)
                correct += int((pred == labels).sum())
            else:
                best = logits.argmax(-1)
                for row, (words, tags), lab in zip(best, items, labels):
                    keep = lab != -100
                    pred_tags = [NER_LABELS[j] for j in row[keep].tolist()]
                    gold_all.append(tags[: len(pred_tags)])
                    pred_all.append(pred_tags)
    model.train(), head.train()
    if task == "sentiment":
        return {"accuracy": correct / max(1, len(data))}
    from seqeval.metrics import f1_score

    return {"f1": float(f1_score(gold_all, pred_all))}


def fit_calibration(logits, labels, method: str = "prior") -> dict:
    """Calibrate logits on a labelled sample by log-loss. Methods:

    - `prior` (default): negative and positive share one scale and one bias (neutral has its own), plus
      a separate class-prior term, the negative-vs-positive log-odds of the sample's traffic (5 numbers,
      stored as `scale`, `bias` and `prior`). The first part calibrates what the text says; the prior
      says what customers tend to write. The product applies both; `policy.sentiment_prior = false`
      drops the prior, and `loopdesk eval sentiment` on a binary file scores the decision without it
      (a balanced polarity benchmark is not support traffic; label-shift correction, Saerens et al. 2002).
    - `vector`: per-class scales and biases (Guo et al. 2017, 6 numbers); the prior is folded into the
      biases and cannot be taken out again.
    - `tied`: `prior` without the prior term. `bias`: per-class biases only.

    Measured on the airline tweets, shipped tagger (checkpoint mean, authored service messages), accuracy
    / macro-F1, full fit (5-fold held-out): `prior` 0.781 / 0.711 (0.780 / 0.709), and without the prior
    its negative-vs-positive decision is the uncalibrated one, SST-2 0.906 (0.895 with it); `vector`
    0.782 / 0.711 (0.781 / 0.711) but SST-2 0.893, the prior baked in; `tied` 0.775 / 0.705.
    Vector-type fits shrink the neutral logit's scale to ~0.07, so neutral is mostly a margin
    decision: neutral unless a polar class is confident. Check a
    handful of customer questions after refitting (tests/test_taggers_real.py does).
    """
    import torch

    z = torch.as_tensor(logits, dtype=torch.float32)
    y = torch.as_tensor(labels)
    # `tied` and `prior`: negative and positive share index 0, neutral has index 1.
    expand = torch.tensor([0, 1, 0]) if method in {"tied", "prior"} else torch.arange(z.shape[1])
    n = int(expand.max()) + 1
    log_scale = torch.zeros(n, requires_grad=method in {"vector", "tied", "prior"})
    bias = torch.zeros(n, requires_grad=True)
    # The prior term: +d/2 on negative, -d/2 on positive (neutral's own bias absorbs its share).
    log_odds = torch.zeros(1, requires_grad=method == "prior")
    params = [bias] + [p for p in (log_scale, log_odds) if p.requires_grad]
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=500, line_search_fn="strong_wolfe")
    sign = torch.tensor([0.5, 0.0, -0.5])

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z * log_scale.exp()[expand] + bias[expand] + log_odds * sign, y)
        loss = loss + 1e-3 * sum((p**2).sum() for p in params)
        loss.backward()
        return loss

    opt.step(closure)
    out = {
        "method": {"vector": "vector_scaling", "tied": "tied_polarity", "prior": "tied_polarity_with_prior"}.get(
            method, "bias"
        ),
        "scale": [float(v) for v in log_scale.detach().exp()[expand]],
        "bias": [float(b) for b in bias.detach()[expand]],
    }
    if method == "prior":
        out["prior"] = [float(v) for v in (log_odds.detach() * sign)]
    return out


def train_tagger(cfg: TaggerTrainConfig, log=print, home: Path | None = None) -> dict:
    """Train (or resume) one tagger and write it to `cfg.out`; returns the metrics written.
    `home`: where bundled models are converted and cached (the CLI passes the configured one)."""
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup
    from tqdm import tqdm

    from assistant.config import Config
    from assistant.models import resolve

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint"
    backbone = resolve(cfg.backbone, home or Config().home)
    tokenizer = AutoTokenizer.from_pretrained(backbone.location)
    base = AutoModel.from_pretrained(backbone.location)
    labels = LABELS3 if cfg.task == "sentiment" else NER_LABELS
    if cfg.init:
        _check_init(cfg)
    lora = LoraConfig(
        r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=["query", "key", "value", "dense"]
    )
    model = get_peft_model(base, lora)
    head = build_heads(cfg.task, base.config.hidden_size, len(labels))
    train, dev = _examples(cfg)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = cfg.max_steps or steps_per_epoch * cfg.epochs
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in model.parameters() if p.requires_grad], "lr": cfg.lr},
            {"params": list(head.parameters()), "lr": cfg.head_lr},
        ],
        weight_decay=0.01,
    )
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.06 * total), total)
    progress: dict[str, Any] = {"step": 0, "best": None, "history": []}
    if (ckpt / "progress.json").exists():
        progress = json.loads((ckpt / "progress.json").read_text())
        set_peft_model_state_dict(model, load_file(str(ckpt / "adapter_model.safetensors")))
        head.load_state_dict(load_file(str(ckpt / "head.safetensors")))
        _load_optimizer(optimizer, ckpt / "optimizer.safetensors")
        with warnings.catch_warnings():
            # Fast-forwarding the schedule before any optimizer step is intended here; torch warns about it.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            for _ in range(progress["step"]):
                schedule.step()
        log(f"resuming from step {progress['step']} of {total}")
    elif cfg.init:
        set_peft_model_state_dict(model, load_file(str(Path(cfg.init) / "adapter_model.safetensors")))
        head.load_state_dict(load_file(str(Path(cfg.init) / "head.safetensors")))
        log(f"starting from the weights in {cfg.init}")
    model.train(), head.train()
    started, step = time.time(), progress["step"]
    bar = tqdm(total=total, initial=step, desc=f"train {cfg.task}", file=sys.stderr, mininterval=5)
    while step < total:
        epoch, offset = divmod(step, steps_per_epoch)
        batches = _length_buckets(train, cfg.batch_size, cfg.seed + epoch)
        for b in range(offset, steps_per_epoch):
            items = [train[i] for i in batches[b]]
            enc, shapes, y = _batch(cfg.task, tokenizer, items, cfg.max_length)
            out_h = model(
                input_ids=enc["input_ids"],
                attention_mask=enc["attention_mask"],
                token_type_ids=enc.get("token_type_ids"),
            ).last_hidden_state
            logits = head(out_h, enc["attention_mask"], shapes)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(labels)), y.reshape(-1), ignore_index=-100)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(head.parameters()), 1.0)
            optimizer.step(), schedule.step(), optimizer.zero_grad()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            end_of_epoch = b == steps_per_epoch - 1 or step == total
            if dev and (end_of_epoch or (cfg.eval_every and step % cfg.eval_every == 0)):
                metrics = evaluate(cfg.task, model, head, tokenizer, dev, cfg.max_length)
                metrics["step"] = step
                progress["history"].append(metrics)
                key = "accuracy" if cfg.task == "sentiment" else "f1"
                log(f"step {step}: dev {key} {metrics[key]:.4f}")
                if progress["best"] is None or metrics[key] > progress["best"][key]:
                    progress["best"] = metrics
                    _save_state(out / "best", model, head)
            if step % cfg.save_every == 0 or end_of_epoch:
                progress["step"] = step
                _save_state(ckpt, model, head, optimizer, progress)
            if step >= total:
                break
    bar.close()
    progress["step"] = step
    final = out / "best" if (out / "best").exists() else None
    if final is None:
        _save_state(out / "best", model, head)
    for name in ("adapter_config.json", "adapter_model.safetensors", "head.safetensors"):
        shutil.copy2(out / "best" / name, out / name)
    meta = {
        "task": cfg.task,
        "labels": list(labels),
        "max_length": cfg.max_length,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "backbone": backbone.model_id,
        "train_config": asdict(cfg) | {"extra_examples": len(cfg.extra_examples)},
        "data_hash": _sha([cfg.train, cfg.dev, cfg.neutral]),
        "dev": progress["best"],
        "history": progress["history"],
        "steps": step,
        "train_seconds": round(time.time() - started, 1),
    }
    (out / "tagger.json").write_text(json.dumps(meta, indent=1))
    if cfg.task == "sentiment" and cfg.calibrate:
        meta["calibration"] = calibrate_dir(out, backbone.location, cfg.calibrate, cfg.calibration)
        (out / "tagger.json").write_text(json.dumps(meta, indent=1))
    return meta


def calibrate_dir(directory: str | Path, backbone_location: str, path: str, method: str = "prior") -> dict:
    """Load the sentiment tagger in `directory` on its backbone and fit its calibration on `path`."""
    from assistant.taggers.sentiment import TransformerSentiment

    return calibrate(TransformerSentiment.from_dir(directory, backbone_location), path, method)


def calibrate(tagger, path: str, method: str = "prior") -> dict:
    """Fit the calibration (`method`) on a 3-class file; report the 5-fold held-out scores of such a fit."""
    import numpy as np

    texts, labels, _ = read_sentiment(path, "text", "label")
    logits = np.asarray(tagger.raw_logits(texts))
    fit = fit_calibration(logits, labels, method)
    y = np.asarray(labels)
    folds = np.arange(len(y)) % 5
    rng = np.random.default_rng(0)
    rng.shuffle(folds)
    pred = np.zeros(len(y), dtype=int)
    for k in range(5):
        part = fit_calibration(logits[folds != k], y[folds != k], method)
        pred[folds == k] = apply_calibration(logits[folds == k], part).argmax(1)
    from finetune.tagger_eval import sentiment_metrics

    held_out = sentiment_metrics(list(y), list(pred), [0, 1, 2])
    fit["cv_accuracy"], fit["cv_macro_f1"] = held_out["accuracy"], held_out["macro_f1"]
    fit["source"] = Path(path).name
    return fit


def write_model_card(out: str | Path, command: str, evaluation: dict | None = None) -> Path:
    """README.md next to a tagger: data, command, hyperparameters, metrics (from tagger.json)."""
    out = Path(out)
    meta = json.loads((out / "tagger.json").read_text())
    tc = meta.get("train_config", {})
    hp = {
        k: tc.get(k)
        for k in (
            "epochs",
            "max_steps",
            "batch_size",
            "lr",
            "head_lr",
            "rank",
            "alpha",
            "dropout",
            "max_length",
            "seed",
            "neutral_repeat",
        )
        if k in tc
    }
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file() and f.suffix == ".safetensors")
    lines = [
        f"# loopdesk {meta['task']} tagger",
        "",
        "LoRA adapter + "
        f"{'mean-pooled sequence' if meta['task'] == 'sentiment' else 'token (with word-shape embedding)'} "
        f"head on `{meta.get('backbone')}`; labels: {', '.join(meta['labels'])}. Weights: safetensors, "
        f"{size / 1e6:.1f} MB.",
        "",
        "## Data",
        "",
    ]
    lines += [f"- train: `{tc.get('train')}`", f"- dev (model selection): `{tc.get('dev')}`"]
    if tc.get("neutral"):
        lines.append(
            f"- customer turns from `{tc.get('neutral')}`: requests as neutral, complaints and "
            f"offensive-language requests as negative, problem reports left out; repeated "
            f"x{tc.get('neutral_repeat')}"
        )
    if tc.get("service_messages"):
        lines.append(
            f"- {tc['service_messages']} authored customer-service messages (`finetune.service_messages`, seed "
            f"{tc.get('seed')}): failure reports negative, questions and statements neutral, thanks positive"
        )
    if tc.get("init"):
        lines.append(
            f"- warm start: continued from the tagger that was in `{tc.get('init')}` "
            "(its recipe is in the command below)"
        )
    if meta.get("averaged_from"):
        lines.append(
            f"- weights: the element-wise mean of {len(meta['averaged_from'])} checkpoints of one lineage "
            f"(`loopdesk finetune average-taggers`): {', '.join(f'`{m}`' for m in meta['averaged_from'])}; "
            f"their SST-2 dev accuracies during training: "
            f"{[round(d['accuracy'], 4) if d and 'accuracy' in d else None for d in meta.get('member_dev', [])]}"
        )
    if meta.get("calibration"):
        c = meta["calibration"]
        lines.append(
            f"- calibration only (not training): `{c.get('source')}`: {c.get('method', 'temperature')}, scales "
            f"{[round(v, 3) for v in c.get('scale', [])]}, biases {[round(b, 3) for b in c['bias']]}"
            + (f", traffic prior {[round(b, 3) for b in c['prior']]}" if c.get("prior") else "")
            + "; 5-fold "
            f"held-out accuracy {c['cv_accuracy']:.4f}, macro-F1 {c.get('cv_macro_f1', float('nan')):.4f}"
        )
    lines += [
        f"- data hash: `{meta.get('data_hash')}`",
        "",
        "## Command",
        "",
        "```",
        command,
        "```",
        "",
        "## Hyperparameters",
        "",
        "```json",
        json.dumps(hp, indent=1),
        "```",
        "",
        "## Metrics",
        "",
        f"- best dev during training: `{json.dumps(meta.get('dev'))}`",
        f"- history: `{json.dumps(meta.get('history'))}`",
        f"- steps: {meta.get('steps')}, training time: {meta.get('train_seconds')} s (CPU, shared with other jobs)",
    ]
    if evaluation:
        lines += ["", "## Evaluation (loopdesk eval)", "", "```json", json.dumps(evaluation, indent=1)[:3000], "```"]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    return out / "README.md"
