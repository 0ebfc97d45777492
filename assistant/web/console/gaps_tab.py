"""The console's Gaps tab: what customers asked that the knowledge base could not answer (declined,
gave up on, rated down), grouped by topic with counts, trend and examples; a topic's draft article
can be edited and saved into the knowledge-base folder, and the index is rebuilt at once (the job
line of the Learning tab shows it).

Built inside `build_console`'s tabs (`assistant/web/console/page.py`).
"""

from __future__ import annotations

import html
from typing import Callable

import gradio as gr

from assistant.errors import InputError

COLUMNS = ["topic", "asked", "trend", "why", "examples"]


def build_gaps_tab(store, embedder_of: Callable[[], object], operator_of, guarded, tok, learning) -> None:
    """`embedder_of()` is the retrieval embedder (None without an index); `learning` runs the rebuild."""
    from assistant.reports.gaps import gap_report

    found = gr.State([])
    gr.Markdown(
        "<small>Questions the assistant declined, handed to a person after the customer got upset, or "
        "whose reply was rated down, grouped by topic (biggest first). Click a topic for a draft help "
        "article; answer its questions and save it: the index is rebuilt and the next customer gets it.</small>"
    )
    with gr.Row():
        days = gr.Radio([7, 14, 30], value=14, label="Days", scale=2)
        go = gr.Button("Find gaps", variant="primary", elem_id="op-gaps-find", scale=1)
    table = gr.Dataframe(
        headers=COLUMNS,
        interactive=False,
        wrap=True,
        elem_id="op-gaps",
        max_height=360,
        column_widths=["220px", "90px", "80px", "170px", "520px"],
    )
    name = gr.Textbox(label="File name of the article", elem_id="op-gaps-name")
    draft = gr.Textbox(label="Draft article (markdown)", lines=12, elem_id="op-gaps-draft")
    save = gr.Button("Save to the knowledge base and rebuild the index", elem_id="op-gaps-save")
    note = gr.Markdown("", elem_id="op-gaps-message")

    @guarded(3)
    def do_find(tok, n):
        operator_of(tok)
        embedder = embedder_of()
        if embedder is None:
            raise InputError("no knowledge-base index is open: the gaps are grouped with its embedder")
        gaps = gap_report(store, embedder, int(n))
        rows = [
            [
                g.topic,
                g.count,
                g.trend,
                ", ".join(f"{k} {v}" for k, v in sorted(g.why.items())),
                " · ".join(g.examples),
            ]
            for g in gaps
        ]
        said = (
            f"{len(gaps)} topics from {sum(g.count for g in gaps)} questions."
            if gaps
            else "No gaps: nothing declined or rated down."
        )
        return said, rows, [(g.topic, g.draft()) for g in gaps]

    @guarded(3)
    def do_pick(tok, gaps, evt: gr.SelectData):
        operator_of(tok)
        topic, text = gaps[evt.index[0]]
        return f"Draft for **{html.escape(topic)}**: answer each question, then save.", topic.replace(" · ", "-"), text

    @guarded(2)
    def do_save(tok, file_name, text):
        who = operator_of(tok)
        if learning is None:
            raise InputError(
                "this app runs no background jobs, so it cannot rebuild the index: save articles where it does"
            )
        path = learning.save_article(file_name, text, who)
        return f"Saved `{path}`; the index is being rebuilt (see the job line in the Learning tab).", ""

    go.click(do_find, [tok, days], [note, table, found])
    table.select(do_pick, [tok, found], [note, name, draft])
    save.click(do_save, [tok, name, draft], [note, name])
