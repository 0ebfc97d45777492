"""`loopdesk index build|search`: Typer subcommands over `index.builder` and `index.searcher`."""

from __future__ import annotations

import json
from typing import Optional

import typer

app = typer.Typer(help="Build and search the knowledge index.", no_args_is_help=True)


def _cfg():
    from assistant.cli import get_config

    return get_config()


@app.command("build")
def build(paths: list[str] = typer.Argument(..., help="Files or folders (read recursively)."),
          out: Optional[str] = typer.Option(None, "--out", help="Index directory (default: config retrieval.index_dir)."),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Chunk, embed and index knowledge files; re-embeds only what changed."""
    from assistant.cli import fail
    from assistant.errors import LoopdeskError
    from index.builder import build_index
    from index.embedder import SentenceEmbedder

    try:
        cfg = _cfg()
        report = build_index(paths, out or cfg.index_dir, SentenceEmbedder(cfg.models.embedder, cfg.home),
                             progress=not as_json)
    except LoopdeskError as exc:
        fail(exc, as_json)
    if as_json:
        print(json.dumps(report, indent=1))
        return
    print(f"indexed {report['files_indexed']} files -> {report['chunks_total']} chunks "
          f"({report['chunks_embedded']} embedded, {report['chunks_reused']} reused) in {report['seconds']}s "
          f"-> {report['out']} [{report['index_type']}]")
    for s in report["files_skipped"]:
        print(f"  skipped {s['path']}: {s['reason']}")


@app.command("search")
def search(query: str = typer.Argument(...),
           index_dir: Optional[str] = typer.Option(None, "--index", help="Index directory."),
           k: int = typer.Option(5, "-k", help="Number of passages."),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """The k best passages for a query, with source, heading and score."""
    from assistant.cli import fail
    from assistant.errors import LoopdeskError
    from index.embedder import SentenceEmbedder
    from index.searcher import open_index

    try:
        cfg = _cfg()
        hits = open_index(index_dir or cfg.index_dir, SentenceEmbedder(cfg.models.embedder, cfg.home)).search(query, k)
    except LoopdeskError as exc:
        fail(exc, as_json)
    rows = [{"rank": i, "score": round(p.score, 4), "source": p.source, "heading": p.heading, "id": p.id,
             "text": p.text} for i, p in enumerate(hits, 1)]
    if as_json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return
    for r in rows:
        print(f"{r['rank']}. {r['score']:.3f}  {r['source']} › {r['heading']}\n   {r['text'][:160]!r}")
