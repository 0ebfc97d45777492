"""`loopdesk finetune ...`: training commands (taggers now; the generator loop comes next)."""

from __future__ import annotations

import json
from typing import Optional

import typer

app = typer.Typer(help="Train taggers and adapters from data and logs.", no_args_is_help=True)


@app.command("taggers")
def taggers(task: str = typer.Option(..., help="sentiment or ner"),
            train: str = typer.Option(..., help="Training file: tsv/csv (text,label) or CoNLL."),
            out: str = typer.Option(..., help="Output directory (checkpoints go to OUT/checkpoint)."),
            dev: Optional[str] = typer.Option(None, help="Dev file for model selection."),
            neutral: Optional[str] = typer.Option(None, help="Sentiment: csv of neutral customer requests (Bitext)."),
            calibrate: Optional[str] = typer.Option(None, help="Sentiment: 3-class csv to fit temperature + biases."),
            epochs: int = typer.Option(3), batch_size: int = typer.Option(32), lr: float = typer.Option(1e-3),
            rank: int = typer.Option(16), max_length: int = typer.Option(128),
            max_steps: int = typer.Option(0, help="Stop after this many steps (0: all epochs)."),
            save_every: int = typer.Option(200), as_json: bool = typer.Option(False, "--json")) -> None:
    """Train a tagger (LoRA + head on MiniLM) with checkpoints; re-running resumes."""
    from assistant.cli import fail
    from assistant.errors import LoopdeskError
    from finetune.taggers import TaggerTrainConfig, train_tagger

    if task not in {"sentiment", "ner"}:
        fail(LoopdeskError("--task must be sentiment or ner"), as_json)
    cfg = TaggerTrainConfig(task=task, train=train, out=out, dev=dev, neutral=neutral, calibrate=calibrate,
                            epochs=epochs, batch_size=batch_size, lr=lr, rank=rank, max_length=max_length,
                            max_steps=max_steps, save_every=save_every)
    try:
        meta = train_tagger(cfg, log=(lambda *_: None) if as_json else print)
    except LoopdeskError as exc:
        fail(exc, as_json)
    print(json.dumps(meta if as_json else {"out": out, "dev": meta.get("dev"), "steps": meta["steps"]}, indent=1))
