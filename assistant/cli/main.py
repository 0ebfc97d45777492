"""The `loopdesk` command line: the one module that composes every package's subcommands.

    loopdesk serve [--port 7860]             the Gradio app (same as `python app.py`)
    loopdesk chat "message" [--json]         one turn in the terminal
    loopdesk tag "text" [--json]             language, sentiment, entities
    loopdesk config show [--json]            effective config and where each value came from
    loopdesk index build|search ...          see `index.cli`
    loopdesk eval ner|sentiment ...          tagger metrics on labelled files
    loopdesk finetune taggers ...            see `finetune.cli`
    loopdesk operator add NAME --json        a console account (see `assistant.cli.console`)
    loopdesk report daily --json             the day's numbers, the 7 days before, alerts
    loopdesk settings show|set KEY VALUE     the owner's settings (see `assistant.cli.settings`)

Every command accepts `--json`. Errors the user can act on print one clear line and exit 2.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

import typer

from assistant.cli.common import STATE, emit, get_config, handles_errors
from assistant.config import describe
from assistant.errors import LoopdeskError

app = typer.Typer(
    help="loopdesk: a self-hosted customer-service assistant that learns from its logs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate taggers on labelled files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(eval_app, name="eval")


@app.callback()
def main(
    config: Optional[str] = typer.Option(None, "--config", help="Config file (default: ./loopdesk.toml)."),
    set_: list[str] = typer.Option([], "--set", help="Override a setting: section.field=value (repeatable)."),
) -> None:
    STATE["config"], STATE["set"] = config, set_  # read by cli_common.get_config in every sub-CLI


@app.command()
@handles_errors
def serve(
    port: Optional[int] = typer.Option(None, help="Port (default from config: 7860)."),
    host: Optional[str] = typer.Option(None, help="Interface to bind (0.0.0.0 for all)."),
) -> None:
    """Run the Gradio chat app."""
    cfg = get_config(**{"app.port": port, "app.host": host})
    from app import launch

    launch(cfg)


@app.command()
@handles_errors
def chat(
    message: str = typer.Argument(..., help="The customer's message."),
    conversation: Optional[str] = typer.Option(None, help="Continue this conversation id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """One turn in the terminal: reply, language, sentiment, entities, sources. The reply waits for the
    model however long a cold start takes (the server answers from the evidence after
    generation.first_text_seconds instead)."""
    import index
    from assistant.build import TERMINAL, build_assistant

    assistant = build_assistant(get_config(), index.open_for_config, profile=TERMINAL)
    if as_json:
        result = assistant.respond(conversation, message)
    else:
        result, shown = None, False
        for kind, value in assistant.respond_stream(conversation, message):
            if kind == "token":
                print(value, end="", flush=True)
                shown = True
            elif kind == "replace":  # the generated text failed the grounding check
                print(
                    ("\n[not grounded in the knowledge base; replaced by its own words:]\n" if shown else "") + value,
                    end="",
                    flush=True,
                )
                shown = True
            else:
                result = value
        print()
    assert result is not None  # respond_stream always ends with ("done", TurnResult)
    data = result.to_json()
    if as_json:
        emit(data, True)
        return
    sent = data["sentiment"]["label"] if data["sentiment"] else "n/a"
    print(
        f"\n[language {data['language']} · sentiment {sent} · "
        f"entities {', '.join(e['type'] + ':' + e['text'] for e in data['entities']) or 'none'} · "
        f"{data['latency_ms']:.0f} ms · conversation {data['conversation_id']}]"
    )
    for i, s in enumerate(data["sources"], 1):
        print(f"  [{i}] {s['source']} › {s['heading']} ({s['score']:.2f})")
    if data["grounding"]:
        print(f"  grounding: {data['grounding']}")
    for n in data["notes"]:
        print(f"  note: {n}")


@app.command()
@handles_errors
def tag(text: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """Language, sentiment (label + probabilities) and entities (type, text, start, end), tagged
    exactly as a customer turn is (`assistant.turn.tagging`)."""
    from dataclasses import asdict

    from assistant.taggers.loader import load_taggers
    from assistant.turn.sanitize import sanitize
    from assistant.turn.tagging import MessageTagging

    cfg = get_config()
    clean = sanitize(text, cfg.policy.max_message_chars)
    sentiment, ner, _ = load_taggers(cfg)  # a missing tagger is a note in tags.notes
    tags = MessageTagging(cfg, sentiment, ner).tag(clean.text)
    data: dict[str, Any] = {
        "text": clean.text,
        "language": tags.language,
        "sentiment": asdict(tags.sentiment) if tags.sentiment else None,
        "entities": [asdict(e) for e in tags.entities],
        "notes": clean.notes + tags.notes,
    }
    lines = [f"language: {data['language']}"]
    if data["sentiment"]:
        s = data["sentiment"]
        lines.append(f"sentiment: {s['label']} " + " ".join(f"{k}={v:.2f}" for k, v in s["scores"].items()))
    lines += [f"entity: {e['type']} {e['text']!r} [{e['start']}:{e['end']}] {e['score']:.2f}" for e in data["entities"]]
    lines += [f"note: {n}" for n in data["notes"]]
    emit(data, as_json, "\n".join(lines))


@config_app.command("show")
@handles_errors
def config_show(as_json: bool = typer.Option(False, "--json")) -> None:
    """Print the effective config and where each value came from."""
    rows = describe(get_config())
    width = max(len(r["key"]) for r in rows)
    emit(rows, as_json, "\n".join(f"{r['key']:<{width}}  {r['value']!r:<40}  ({r['source']})" for r in rows))


def _tagger(kind: str):
    from assistant.taggers.loader import load_taggers

    sentiment, ner, problems = load_taggers(get_config())
    chosen = sentiment if kind == "sentiment" else ner
    if not chosen:  # an Unavailable: it says which tagger and why
        raise LoopdeskError(str(chosen))
    return chosen


@eval_app.command("ner")
@handles_errors
def eval_ner_cmd(
    file: str = typer.Argument(..., help="CoNLL file: token ... tag per line."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Entity-level precision/recall/F1 (seqeval) overall and per type."""
    from finetune.tagger_eval import eval_ner

    result = eval_ner(_tagger("ner"), file)
    text = [
        f"f1 {result['f1']:.4f}  precision {result['precision']:.4f}  recall {result['recall']:.4f}  "
        f"({result['entities']} entities, {result['sentences']} sentences)"
    ]
    text += [
        f"  {k:<6} f1 {v['f1']:.4f}  p {v['precision']:.4f}  r {v['recall']:.4f}  n {v['support']}"
        for k, v in sorted(result["per_type"].items())
    ]
    emit(result, as_json, "\n".join(text))


@eval_app.command("sentiment")
@handles_errors
def eval_sentiment_cmd(
    file: str = typer.Argument(..., help="csv or tsv file."),
    text_column: str = typer.Option("text", help="Column with the text."),
    label_column: str = typer.Option("label", help="Column with the label."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Accuracy, macro-F1, per-class precision/recall and the confusion matrix."""
    from finetune.tagger_eval import eval_sentiment

    result = eval_sentiment(_tagger("sentiment"), file, text_column, label_column)
    text = [
        f"accuracy {result['accuracy']:.4f}  macro_f1 {result['macro_f1']:.4f}  n {result['n']}"
        + ("  (binary decision)" if result["binary"] else "")
        + f"  traffic prior {result['traffic_prior']}"
    ]
    if "with_traffic_prior" in result:
        text.append(f"  with the traffic prior: accuracy {result['with_traffic_prior']['accuracy']:.4f}")
    text += [
        f"  {k:<8} p {v['precision']:.4f}  r {v['recall']:.4f}  f1 {v['f1']:.4f}  n {v['support']}"
        for k, v in result["per_class"].items()
    ]
    text.append(
        f"  confusion (rows gold, cols predicted {result['confusion_matrix']['labels']}): "
        f"{result['confusion_matrix']['rows_gold_cols_pred']}"
    )
    emit(result, as_json, "\n".join(text))


@eval_app.command("answers")
@handles_errors
def eval_answers_cmd(
    questions: str = typer.Option(..., "--questions", help="Question file (JSONL, see finetune.answer_eval)."),
    index_dir: Optional[str] = typer.Option(None, "--index", help="Index directory (default: config)."),
    out: Optional[str] = typer.Option(None, "--out", help="Write one JSON line per question here."),
    baseline: bool = typer.Option(False, "--baseline", help="Also score the trivial extractive reader, same run."),
    keep_in_store: bool = typer.Option(False, "--keep-in-store", help="Log the turns in the configured store."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Grounded answer accuracy through the real pipeline: accuracy, fact recall, declines,
    unsupported numbers, latency."""
    import index
    from finetune.answer_eval import run_answer_eval

    cfg = get_config(**{"retrieval.index_dir": index_dir})
    progress = None if as_json else (lambda i, n: print(f"\r{i}/{n}", end="", file=sys.stderr, flush=True))
    result = run_answer_eval(cfg, questions, index.open_for_config, out, baseline, keep_in_store, progress=progress)
    rows = [("loopdesk", result)] + ([("extractive", result["extractive_baseline"])] if baseline else [])
    keys = [
        "answer_accuracy",
        "fact_recall",
        "decline_rate",
        "false_decline_rate",
        "unsupported_number_rate",
        "latency_ms_p50",
        "latency_ms_p95",
        "source_hit_at_1",
        "reader_ceiling",
        "model_written_rate",
        "n",
    ]
    text = [f"{'reader':<11}" + "".join(f"{k[:14]:>16}" for k in keys)]
    text += [f"{name:<11}" + "".join(f"{str(r.get(k)):>16}" for k in keys) for name, r in rows]
    text.append(f"grounding: {result['grounding']}")
    emit(result, as_json, "\n".join(text))


@handles_errors
def report_gaps(
    days: int = typer.Option(14, help="Look back this many days."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Questions the assistant declined, gave up on or had rated down, grouped by topic, biggest first."""
    from assistant.reports.gaps import gap_report
    from index.embedder import SentenceEmbedder

    cfg = get_config()
    from assistant.build import open_store

    gaps = gap_report(open_store(cfg), SentenceEmbedder(cfg.models.embedder, cfg.home), days)
    text = "\n".join(
        f"{g.count:>4}  {g.trend:<8} {g.topic}\n      e.g. " + " | ".join(e[:70] for e in g.examples) for g in gaps
    )
    emit({"days": days, "gaps": [g.to_json() for g in gaps]}, as_json, text or f"no gaps in the last {days} days")


def _erase_exports(cfg, ids: list[str], extra_dirs: list[str]) -> dict:
    """`store erase` in exported datasets (finetune's format), imported only when erasing (CLI start stays fast)."""
    from finetune.export import erase_exports

    return erase_exports(cfg, ids, extra_dirs)


def _compose() -> None:
    from assistant.cli.console import api_key_app, erase_exports_with, operator_app, report_app, store_app
    from assistant.cli.memory import memory_app
    from assistant.cli.settings import settings_app
    from finetune.cli import adapters_app
    from finetune.cli import app as finetune_app
    from finetune.relevance_cli import register as register_relevance_round
    from index.cli import app as index_app
    from index.cli import eval_retrieval_cmd

    eval_app.command("retrieval")(eval_retrieval_cmd)
    app.add_typer(index_app, name="index")
    register_relevance_round(finetune_app)
    app.add_typer(finetune_app, name="finetune")
    app.add_typer(adapters_app, name="adapters")
    app.add_typer(operator_app, name="operator")
    report_app.command("gaps")(report_gaps)  # here: it needs the index package's embedder
    app.add_typer(report_app, name="report")
    erase_exports_with(_erase_exports)  # `store erase` reaches exported datasets (finetune's format)
    app.add_typer(store_app, name="store")
    app.add_typer(api_key_app, name="api-key")
    app.add_typer(memory_app, name="memory")
    app.add_typer(settings_app, name="settings")


_compose()

if __name__ == "__main__":
    app()
