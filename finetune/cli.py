"""`loopdesk finetune ...`: training commands (taggers now; the generator loop comes next)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from assistant.cli.common import handles_errors

_CALIBRATIONS = ("prior", "vector", "tied", "bias")
_CALIBRATION_HELP = (
    "Sentiment: prior (negative/positive share a scale and bias, plus a separate traffic prior), "
    "vector (per-class scales + biases), tied (prior without the prior term) or bias."
)
app = typer.Typer(help="Train taggers and adapters from data and logs.", no_args_is_help=True)


@app.command("taggers")
@handles_errors
def taggers(
    task: str = typer.Option(..., help="sentiment or ner"),
    train: str = typer.Option(..., help="Training file: tsv/csv (text,label) or CoNLL."),
    out: str = typer.Option(..., help="Output directory (checkpoints go to OUT/checkpoint)."),
    dev: Optional[str] = typer.Option(None, help="Dev file for model selection."),
    neutral: Optional[str] = typer.Option(None, help="Sentiment: csv of neutral customer requests (Bitext)."),
    calibrate: Optional[str] = typer.Option(None, help="Sentiment: 3-class csv to fit the calibration on."),
    calibration: str = typer.Option("prior", help=_CALIBRATION_HELP),
    init: Optional[str] = typer.Option(None, help="Start from this tagger directory (same task)."),
    service_messages: int = typer.Option(
        0, help="Sentiment: add N authored customer-service messages (failure reports / questions / thanks)."
    ),
    eval_every: int = typer.Option(0, help="Evaluate on --dev every N steps too (0: each epoch end)."),
    epochs: int = typer.Option(3),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(1e-3),
    rank: int = typer.Option(16),
    max_length: int = typer.Option(128),
    max_steps: int = typer.Option(0, help="Stop after this many steps (0: all epochs)."),
    save_every: int = typer.Option(200),
    seed: int = typer.Option(13, help="Shuffling, initialisation and authored-message seed."),
    from_store: bool = typer.Option(False, "--from-store", help="Merge operator labels from the store."),
    store_repeat: int = typer.Option(5, help="How often each operator label is repeated (they are few)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Train a tagger (LoRA + head on MiniLM) with checkpoints; re-running resumes."""
    from assistant.errors import LoopdeskError
    from finetune.taggers import TaggerTrainConfig, train_tagger, write_model_card

    if task not in {"sentiment", "ner"}:
        raise LoopdeskError("--task must be sentiment or ner")
    _check_calibration(calibration, as_json)
    extra: list = []
    if from_store:
        from assistant.build import open_store
        from finetune.store_labels import ner_examples, sentiment_examples

        store = open_store(_cfg())
        if task == "sentiment":
            extra = sentiment_examples(store)
        else:
            extra, problems = ner_examples(store)
            for p in problems:
                print(f"skipped label: {p}")
        if not extra:
            raise LoopdeskError("no operator labels for this task in the store")
        print(f"merging {len(extra)} operator labels (x{store_repeat}) into {train}")
        extra = extra * store_repeat
    cfg = TaggerTrainConfig(
        task=task,
        train=train,
        out=out,
        dev=dev,
        neutral=neutral,
        calibrate=calibrate,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        rank=rank,
        max_length=max_length,
        max_steps=max_steps,
        save_every=save_every,
        extra_examples=extra,
        init=init,
        eval_every=eval_every,
        service_messages=service_messages,
        seed=seed,
        calibration=calibration,
    )
    meta = train_tagger(cfg, log=(lambda *_: None) if as_json else print, home=_cfg().home)
    write_model_card(out, _command_line())
    print(json.dumps(meta if as_json else {"out": out, "dev": meta.get("dev"), "steps": meta["steps"]}, indent=1))


@app.command("average-taggers")
@handles_errors
def average_taggers_cmd(
    sources: list[str] = typer.Argument(..., help="Checkpoint dirs of one tagger lineage."),
    out: str = typer.Option(..., help="Directory to write the averaged tagger to."),
    calibrate: Optional[str] = typer.Option(None, help="Sentiment: 3-class csv to refit the calibration on."),
    calibration: str = typer.Option("prior", help=_CALIBRATION_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Average checkpoints (same task and LoRA rank) into one tagger of the same size (a model soup)."""
    from finetune.tagger_soup import average_taggers
    from finetune.taggers import write_model_card

    _check_calibration(calibration, as_json)
    meta = average_taggers(sources, out, calibrate, calibration, home=_cfg().home)
    write_model_card(out, _command_line())
    print(
        json.dumps(
            meta
            if as_json
            else {"out": out, "averaged_from": meta["averaged_from"], "calibration": meta.get("calibration")},
            indent=1,
            default=str,
        )
    )


def _check_calibration(calibration: str, as_json: bool) -> None:
    """Refuse an unknown --calibration before any training or averaging starts."""
    from assistant.errors import LoopdeskError

    if calibration not in _CALIBRATIONS:
        raise LoopdeskError(f"--calibration must be one of {', '.join(_CALIBRATIONS)}")


def _command_line() -> str:
    """The command as typed (for model cards), with the program shown as `loopdesk`."""
    import shlex
    import sys

    return "loopdesk " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _os_user() -> str:
    """Who runs a command typed in a terminal (the console passes the operator's name with --by)."""
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""


def _cfg():
    from assistant.cli.common import get_config

    return get_config()


def _registry(cfg) -> Path:
    from assistant.config import local_path
    from assistant.errors import ConfigError

    registry = local_path(cfg.models.adapters_dir)
    if registry is None:
        raise ConfigError("models.adapters_dir is empty: set the adapter registry's directory")
    return registry


def _out(data: dict, as_json: bool, text: str) -> None:
    print(json.dumps(data, indent=1, ensure_ascii=False, default=str) if as_json else text)


@app.command("relevance")
@handles_errors
def relevance_cmd(
    out: str = typer.Option("models/relevance/relevance.json", help="Where the model (JSON) is written."),
    kb: Optional[list[str]] = typer.Option(None, help="Only these dev KBs of the catalogue (default: all)."),
    rows: Optional[str] = typer.Option(None, help="Also write the feature rows (JSONL) here."),
    reranker: bool = typer.Option(
        False, "--reranker/--no-reranker", help="Also fine-tune the MiniLM cross-encoder (measured: no better; README)."
    ),
    rows_from: Optional[str] = typer.Option(None, help="Reuse feature rows written by --rows (skips collecting)."),
    unit_encoder: bool = typer.Option(
        False,
        "--unit-encoder/--no-unit-encoder",
        help="Also fine-tune MiniLM (LoRA) to rank the units that answer (finetune/unit_encoder.py), cross-fitted.",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Train the learned relevance model on the dev KBs; print its leave-one-KB-out scores."""
    import sys

    from finetune.relevance import train

    result = train(
        _cfg(),
        Path(out),
        kb,
        report=lambda m: print(m, file=sys.stderr),
        rows_out=Path(rows) if rows else None,
        reranker=reranker,
        rows_from=Path(rows_from) if rows_from else None,
        unit_encoder=unit_encoder,
    )
    lines = [f"wrote {result['out']}", "held-out KB        declined  false declines  units: all facts  stray"]
    for name, r in result["leave_one_kb_out"].items():
        lines.append(
            f"{name:<18} {r['decline_rate'] or 0:>8.2f} {r['false_decline_rate'] or 0:>15.2f}"
            f" {r['units_all_facts_kept']:>17.2f} {r['units_stray_rate']:>6.2f}"
        )
    _out(result, as_json, "\n".join(lines))


@app.command("upset")
@handles_errors
def upset_cmd(
    out: str = typer.Option("models/upset/upset.json", help="Where the model (JSON) is written."),
    sets: str = typer.Option("benchmarks/upset_sets", help="Folder of labelled message sets (*.jsonl)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Train the upset model (when the reply apologises); print each set's scores while it was held out."""
    import sys

    from assistant.config import local_path
    from assistant.errors import ConfigError
    from assistant.taggers.loader import open_taggers
    from finetune.upset import train

    cfg = _cfg()
    taggers, problems = open_taggers(cfg)
    sentiment = taggers["sentiment"]
    if not hasattr(sentiment, "probabilities"):
        raise ConfigError(f"the upset model reads the sentiment tagger's scores: {sentiment}")
    folder = local_path(sets) or Path(sets)
    result = train(sentiment, folder, Path(out), report=lambda m: print(m, file=sys.stderr))
    lines = [
        f"wrote {result['out']} (threshold {result['threshold']}: set policy.upset_score to it)",
        "held-out set   reader        calm apologised  upset apologised   AUC",
    ]
    for name, r in result["held_out"].items():
        for who in ("model", "tagger_alone"):
            x = r[who]
            lines.append(
                f"{name:<14} {who:<13} {x['calm_apologised']:>15.2f} {x['upset_apologised']:>17.2f} {x['auc']:>5.2f}"
            )
    _out(result, as_json, "\n".join(lines))


@app.command("import")
@handles_errors
def import_cmd(
    file: str = typer.Argument(..., help="CSV/TSV or JSONL transcripts (request -> answer)."),
    user_column: Optional[str] = typer.Option(None, help="Column with the customer request."),
    answer_column: Optional[str] = typer.Option(None, help="Column with the agent answer."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Import the good rows of a file with problems."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Import transcripts as conversations marked imported (importing twice adds nothing; a file with
    problems imports nothing unless --skip-bad)."""
    from assistant.build import open_store
    from finetune.transcripts import import_transcripts

    cfg = _cfg()
    from assistant.taggers.pii import PiiRedactor

    report = import_transcripts(
        open_store(cfg),
        file,
        user_column,
        answer_column,
        skip_bad,
        PiiRedactor(cfg.store.redact_contact, cfg.home),
    )
    lines = [
        f"imported {report['imported']} of {report['rows_read']} rows ({report['already_present']} already present, "
        f"{report['skipped']} skipped)"
    ] + [f"  line {p['line']}: {p['reason']}" for p in report["problems"]]
    _out(report, as_json, "\n".join(lines))


@app.command("export")
@handles_errors
def export_cmd(
    out: str = typer.Option(..., help="Output directory for train.jsonl, eval.jsonl, data_card.json."),
    eval_fraction: float = typer.Option(0.1, help="Share of each intent held out for evaluation."),
    no_ner: bool = typer.Option(False, help="Redact by patterns only (skip the NER tagger)."),
    progress: str = typer.Option("", help="Rewrite this JSON file with the stage and how far it is."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Build a chat dataset from the store (feedback-filtered, PII-redacted, deduplicated, split)."""
    from assistant.build import open_store
    from assistant.export_card import summary
    from finetune.export import Redactor, export_dataset
    from assistant.progress import ProgressFile

    report = ProgressFile(progress, bar=not as_json)
    report("loading the taggers", 0, 1)
    cfg = _cfg()
    ner = None
    if not no_ner:
        from assistant.taggers.loader import load_taggers

        _, ner, _ = load_taggers(cfg)
    card = export_dataset(open_store(cfg), out, Redactor(ner), eval_fraction, cfg.app.business_name, report)
    report.close()
    _out(card, as_json, f"exported to {out}: {summary(card)}")


@app.command("grounded-data")
@handles_errors
def grounded_data_cmd(
    out: str = typer.Option(..., help="Output directory (train.jsonl, eval.jsonl, data_card.json)."),
    requests: Optional[str] = typer.Option(None, help="csv of customer requests (Bitext layout by default)."),
    index_dirs: list[str] = typer.Option([], "--index", help="Knowledge base index the requests go to (repeatable)."),
    dev_kbs: list[str] = typer.Option(
        [], "--dev-kb", help="A dev KB of benchmarks/answer_sets/catalog.json: its own questions (repeatable)."
    ),
    per_index: int = typer.Option(300, help="Requests put to each knowledge base."),
    column: str = typer.Option("instruction", help="Column with the request."),
    decline_share: float = typer.Option(
        0.0, help="Decline examples kept per answer (0: none; the checked reader refuses a written decline)."
    ),
    seed: int = typer.Option(13),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Training conversations in the inference prompt format, answered from the passages
    (see finetune.grounded_data)."""
    import dataclasses

    import index
    from assistant.build import DATASET, build_assistant
    from assistant.errors import InputError
    from finetune.grounded_data import build_grounded_dataset, dev_requests, read_requests

    cfg = _cfg()
    if bool(requests) != bool(index_dirs):
        raise InputError("--requests and --index go together (requests put to those knowledge bases)")
    if not requests and not dev_kbs:
        raise InputError("nothing to build from: give --requests with --index, or --dev-kb")
    rows = read_requests(requests, column) if requests else []
    kbs = []
    for d in index_dirs:
        kcfg = dataclasses.replace(cfg, retrieval=dataclasses.replace(cfg.retrieval, index_dir=d))
        kbs.append((Path(d).name, index.open_for_config(kcfg)))
    assistant = build_assistant(cfg, None, DATASET)
    dev_sets = []
    if dev_kbs:
        from finetune.dev_kbs import load_catalog, prepare
        from index.embedder import SentenceEmbedder

        catalog = load_catalog()
        embedder = SentenceEmbedder(cfg.models.embedder, cfg.home)
        for name in dev_kbs:
            if name not in catalog:
                raise InputError(f"no dev KB {name!r} (known: {', '.join(sorted(catalog))})")
            kb = catalog[name]
            if kb.missing():
                raise InputError(f"dev KB {name}: {kb.missing()}")
            idx = prepare(kb, embedder, cfg.home / "dev-kbs")
            kcfg = dataclasses.replace(
                cfg,
                retrieval=dataclasses.replace(cfg.retrieval, index_dir=str(idx)),
                app=dataclasses.replace(cfg.app, business_name=kb.business),
            )
            dev_sets.append((name, build_assistant(kcfg, index.open_for_config, DATASET), dev_requests(kb.dev)))
    card = build_grounded_dataset(
        assistant,
        kbs,
        rows,
        per_index,
        out,
        seed,
        log=(lambda *_: None) if as_json else print,
        command=_command_line(),
        dev_sets=dev_sets,
        decline_share=decline_share,
    )
    _out(card, as_json, f"wrote {card['train']} train / {card['eval']} eval examples to {out}")


@app.command("lora")
@handles_errors
def lora_cmd(
    data: str = typer.Option(..., help="Export directory or messages JSONL."),
    out: Optional[str] = typer.Option(None, help="Adapter registry (default: config models.adapters_dir)."),
    version: str = typer.Option("", help="Adapter version name (default from the data hash; re-run resumes)."),
    rank: int = typer.Option(16),
    alpha: int = typer.Option(32),
    dropout: float = typer.Option(0.05),
    target_modules: str = typer.Option("q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"),
    learning_rate: float = typer.Option(5e-4),
    epochs: float = typer.Option(1.0),
    max_steps: int = typer.Option(-1),
    batch_size: int = typer.Option(4),
    grad_accum: int = typer.Option(1),
    max_length: int = typer.Option(384),
    packing: bool = typer.Option(False),
    max_examples: int = typer.Option(0, help="Use only the first N training examples."),
    save_steps: int = typer.Option(20),
    method: str = typer.Option("lora", help="lora, adalora, prefix or ia3 (peft; only lora is served by llama.cpp)."),
    progress: str = typer.Option("", help="Rewrite this JSON file with step and losses as training goes."),
    by: str = typer.Option("", help="Who started the run, for the experiment tracker (default: the OS user)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Parameter-efficient SFT of the generator (TRL + peft: LoRA by default), with checkpoints and resume.
    The run is recorded in the experiment tracker (`paths.runs`, see finetune/tracking.py)."""
    from finetune.lora import LoraTrainConfig, train_lora
    from finetune.tracking import location

    cfg = _cfg()
    tc = LoraTrainConfig(
        data=data,
        out=out or str(_registry(cfg)),
        version=version,
        base=cfg.models.generator,
        rank=rank,
        alpha=alpha,
        dropout=dropout,
        target_modules=target_modules.split(","),
        learning_rate=learning_rate,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        grad_accum=grad_accum,
        max_length=max_length,
        packing=packing,
        max_examples=max_examples,
        save_steps=save_steps,
        device=cfg.generation.device,
        progress=progress,
        method=method,
    )
    manifest = train_lora(tc, cfg.home, runs=location(cfg), by=by or _os_user())
    _out(manifest, as_json, f"adapter {manifest.get('version')} written: {json.dumps(manifest.get('metrics'))}")


@app.command("eval")
@handles_errors
def eval_cmd(
    adapter: str = typer.Option(..., help="Adapter version (in the registry) or directory."),
    data: str = typer.Option(..., help="Export directory (uses eval.jsonl) or messages JSONL."),
    max_examples: int = typer.Option(100),
    generate: int = typer.Option(8, help="Answers generated for ROUGE-L."),
    max_new_tokens: int = typer.Option(96),
    questions: Optional[str] = typer.Option(
        None, help="Answer-accuracy question set (default: evaluation.answer_questions; 'none' skips it)."
    ),
    progress: str = typer.Option("", help="Rewrite this JSON file with the stage and how far it is."),
    record: bool = typer.Option(
        False,
        "--record",
        help="Write the result as the adapter's evaluation (eval.json, which promote checks, and its README.md); "
        "without it the result is only printed.",
    ),
    by: str = typer.Option("", help="Who started the run, for the experiment tracker (default: the OS user)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Base vs adapter (vs live): loss per assistant token, perplexity, ROUGE-L, answer length, and answer
    accuracy through the real pipeline on a question set (what `promote` compares). Nothing beside the
    adapter changes unless --record: an evaluation on other data must not replace a promotion's evidence.
    Every evaluation is recorded in the experiment tracker (`paths.runs`, see finetune/tracking.py)."""
    import time

    from finetune.gen_eval import evaluate, record_evaluation, track_evaluation
    from finetune.tracking import location
    from assistant.progress import ProgressFile

    started = time.time()

    report = ProgressFile(progress, bar=not as_json)
    report("loading the models", 0, 1)
    cfg = _cfg()
    registry = _registry(cfg)
    path = Path(adapter) if Path(adapter).is_dir() else registry / adapter
    live = _shared_live(cfg).version()  # what every replica serves now: the evaluation compares with it
    result = evaluate(
        cfg.models.generator,
        cfg.home,
        path,
        data,
        registry / live if live else None,
        max_examples,
        generate,
        max_new_tokens,
        cfg.generation.device,
        cfg.generation,
        report,
    )
    qfile = questions or cfg.evaluation.answer_questions
    if qfile and qfile != "none":
        result.update(
            _answer_accuracy(cfg, path, registry / live if live else None, qfile, result["data_hash"], report)
        )
    if record:  # written once, complete (the held-out loss and the answer accuracy together)
        record_evaluation(path, result)
    result["tracked"] = track_evaluation(
        result, path, live, location(cfg), by or _os_user(), time.time() - started, started, record
    )
    keys = [k for k in ("base", "adapter", "live") if f"{k}_loss" in result]
    text = [f"{'':8} {'loss':>8} {'ppl':>8} {'rougeL':>7} {'words':>6}"]
    text += [
        f"{k:8} {result[k + '_loss']:>8} {result[k + '_perplexity']:>8} {result[k + '_rougeL']:>7} "
        f"{result[k + '_mean_length']:>6}"
        for k in keys
    ]
    if "adapter_answer_accuracy" in result:
        text.append(
            f"answer accuracy on {result['answer_questions']}: adapter {result['adapter_answer_accuracy']}, "
            f"{'live' if 'live_answer_accuracy' in result else 'base'} "
            f"{result.get('live_answer_accuracy', result.get('base_answer_accuracy'))}"
        )
    report.close()
    _out(result, as_json, "\n".join(text) + f"\nn={result['n']} (generated {result['n_generated']})")


def _answer_accuracy(
    cfg, candidate: Path, live: Path | None, questions: str, data_hash: str | None = None, report=None
) -> dict:
    """Answer accuracy of the candidate and of the live adapter (or the base model) on one question set."""
    import dataclasses

    from assistant.errors import InputError

    import index
    from assistant.config import local_path
    from finetune.answer_eval import compare_adapters, questions_hash

    qpath = local_path(questions)
    if qpath is None:
        raise InputError("no answer question set given")
    if cfg.evaluation.answer_index:
        cfg = dataclasses.replace(
            cfg, retrieval=dataclasses.replace(cfg.retrieval, index_dir=cfg.evaluation.answer_index)
        )
    from finetune.gate import paired_comparison
    from finetune.registry import provenance

    other = "live" if live is not None and live != candidate else "base"
    runs = compare_adapters(
        cfg, index.open_for_config, qpath, {"adapter": candidate, other: live if other == "live" else None}, report
    )
    qhash = questions_hash(qpath)
    return {
        "answer_questions": str(questions),
        "answer_questions_hash": qhash,
        **{f"{k}_answer_accuracy": v["answer_accuracy"] for k, v in runs.items()},
        "answer_eval": runs,
        # Per-question outcomes of both on the same questions decide promotion (finetune/gate.py).
        "answer_gate": paired_comparison(runs["adapter"]["per_question"], runs[other]["per_question"]),
        "compared_with": provenance(live if other == "live" else None, data_hash, qhash),
    }


def _shared_live(cfg):
    """The live-adapter record every app replica follows (database; live.json until a first promotion)."""
    from assistant.build import open_store
    from finetune.registry import SharedLive

    return SharedLive(open_store(cfg), _registry(cfg))


def _questions_hash(cfg) -> str | None:
    """The hash of the configured promotion question set (an evaluation on another set is stale)."""
    from assistant.config import local_path
    from finetune.answer_eval import questions_hash

    q = cfg.evaluation.answer_questions
    path = local_path(q) if q and q != "none" else None
    return questions_hash(path) if path is not None and path.is_file() else None


def _prepare(cfg):
    """Write the serving engine's form of an adapter before it goes live (llama.cpp's GGUF LoRA, the merged model)."""
    from assistant.serving.registry import prepare_adapter

    return prepare_adapter(cfg)


@app.command("promote")
@handles_errors
def promote_cmd(
    version: str = typer.Argument(...),
    force: bool = typer.Option(False, help="An admin's override of the evaluation; needs --reason."),
    reason: str = typer.Option("", help="Why the override (kept in the adapter history)."),
    by: str = typer.Option("", help="Who promotes (default: this machine's user)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Make an adapter live when its evaluation against the adapter live now shows it measurably
    better (finetune/gate.py); every replica switches."""
    import getpass

    from assistant.models import resolve
    from finetune.registry import promote

    cfg = _cfg()
    base_id = resolve(cfg.models.generator, cfg.home).model_id
    shared = _shared_live(cfg)
    result = promote(
        _registry(cfg),
        version,
        base_id,
        force,
        deploy=shared.compare_and_set,
        prepare=_prepare(cfg),
        reason=reason,
        by=by or getpass.getuser(),
        live_now=shared.version,
        questions_hash=_questions_hash(cfg),
    )
    _out(result, as_json, f"live adapter: {result['live']} ({result.get('reason', '')})")


@app.command("rollback")
@handles_errors
def rollback_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Return to the previously live adapter."""
    from finetune.registry import rollback

    import getpass

    cfg = _cfg()
    shared = _shared_live(cfg)
    result = rollback(
        _registry(cfg),
        deploy=shared.compare_and_set,
        prepare=_prepare(cfg),
        live_now=shared.version,
        by=getpass.getuser(),
    )
    _out(result, as_json, f"live adapter: {result['live'] or 'none (base model)'}")


adapters_app = typer.Typer(help="The adapter registry.", no_args_is_help=True)


@adapters_app.command("list")
def adapters_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Generator adapters and taggers: version, kind, base model, created, metrics, live."""
    from assistant.config import local_path
    from finetune.registry import list_adapters

    cfg = _cfg()
    rows = list_adapters(
        _registry(cfg), {"sentiment": local_path(cfg.models.sentiment), "ner": local_path(cfg.models.ner)}
    )
    if as_json:
        print(json.dumps(rows, indent=1, default=str))
        return
    for r in rows:
        print(
            f"{'*' if r['live'] and r['kind'] == 'generator' else ' '} {r['version']:<24} {r['kind']:<10} "
            f"{r['base_model'] or '':<40} {json.dumps(r['metrics'])[:80]}"
        )
