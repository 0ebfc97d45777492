"""`loopdesk index build|search`: Typer subcommands over `index.builder` and `index.searcher`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from assistant.cli.common import handles_errors

app = typer.Typer(help="Build and search the knowledge index.", no_args_is_help=True)


def _cfg():
    from assistant.cli.common import get_config

    return get_config()


def _open_index(index_dir: str | None):
    """The configured index (or `index_dir`) with the configured embedder and search settings."""
    from index.embedder import SentenceEmbedder
    from index.searcher import open_index

    cfg = _cfg()
    return open_index(
        index_dir or cfg.index_dir,
        SentenceEmbedder(cfg.models.embedder, cfg.home),
        cfg.retrieval.mode,
        cfg.retrieval.fusion_k,
        cfg.retrieval.title_weight,
    )


def _progress(path: str):
    if not path:
        return None
    from assistant.progress import ProgressFile

    return ProgressFile(path)


@app.command("build")
@handles_errors
def build(
    paths: list[str] = typer.Argument(..., help="Files or folders (read recursively)."),
    out: Optional[str] = typer.Option(None, "--out", help="Index directory (default: config retrieval.index_dir)."),
    question_column: Optional[str] = typer.Option(None, help="FAQ csv/jsonl: the question column."),
    answer_column: Optional[str] = typer.Option(None, help="FAQ csv/jsonl: the answer column."),
    max_mb: int = typer.Option(20, help="Skip files larger than this many MB."),
    progress_file: str = typer.Option(
        "", "--progress", help="Rewrite this JSON file with the stage and how far it is."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Build nothing (the index in use keeps serving) when a file cannot be read."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Chunk, embed and index knowledge files; re-embeds only what changed."""
    from index.builder import build_index
    from index.embedder import SentenceEmbedder
    from index.loaders import LoaderOptions

    cfg = _cfg()
    opts = LoaderOptions(question_column, answer_column, max_mb * 1024 * 1024)
    report = build_index(
        paths,
        out or cfg.index_dir,
        SentenceEmbedder(cfg.models.embedder, cfg.home),
        progress=not as_json,
        ann_above=cfg.retrieval.ann_above,
        ann=cfg.retrieval.ann,
        nprobe=cfg.retrieval.nprobe,
        loader_options=opts,
        lexical=cfg.retrieval.mode != "dense",
        report=_progress(progress_file),
        strict=strict,
    )
    if Path(report["out"]).resolve() == Path(cfg.index_dir).resolve():
        # The configured index: every replica of the app switches to this build at its next question.
        from assistant.build import open_store

        open_store(cfg).deploy("index_build", {"name": report["build_id"], "dir": report["out"]})
    if as_json:
        print(json.dumps(report, indent=1))
        return
    print(
        f"indexed {report['files_indexed']} files -> {report['chunks_total']} chunks "
        f"({report['chunks_embedded']} embedded, {report['chunks_reused']} reused) in {report['seconds']}s "
        f"-> {report['out']} [{report['index_type']}]"
    )
    for s in report["files_skipped"]:
        print(f"  skipped {s['path']}: {s['reason']}")


@app.command("search")
@handles_errors
def search(
    query: str = typer.Argument(...),
    index_dir: Optional[str] = typer.Option(None, "--index", help="Index directory."),
    k: int = typer.Option(5, "-k", help="Number of passages."),
    mode: Optional[str] = typer.Option(None, help="dense, bm25 or hybrid (default: config)."),
    source: Optional[str] = typer.Option(None, help="Only chunks whose source contains this."),
    tag: Optional[str] = typer.Option(None, help="Only chunks with this tag (top folder name)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The k best passages for a query, with source, heading and score."""

    hits = _open_index(index_dir).search(query, k, mode=mode, source=source, tag=tag)
    rows = [
        {"rank": i, "score": round(p.score, 4), "source": p.source, "heading": p.heading, "id": p.id, "text": p.text}
        for i, p in enumerate(hits, 1)
    ]
    if as_json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return
    for r in rows:
        print(f"{r['rank']}. {r['score']:.3f}  {r['source']} › {r['heading']}\n   {r['text'][:160]!r}")


@handles_errors
def eval_retrieval_cmd(
    index_dir: Optional[str] = typer.Option(None, "--index", help="Index directory."),
    queries: str = typer.Option(..., "--queries", help="csv/jsonl with query, expected_source."),
    mode: Optional[str] = typer.Option(None, help="dense, bm25 or hybrid (default: config)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """hit@1, hit@5 and MRR of the index on labelled queries."""
    from index.evaluate import eval_retrieval, read_queries

    result = eval_retrieval(_open_index(index_dir), read_queries(queries), mode)
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        print(
            f"{result['mode']}: hit@1 {result['hit@1']:.4f}  hit@5 {result['hit@5']:.4f}  "
            f"mrr {result['mrr']:.4f}  n {result['n']}"
        )
