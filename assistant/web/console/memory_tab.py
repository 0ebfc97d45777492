"""The console's Memory tab: the answer memory's entries (approved answers served before the knowledge
base), the ones waiting for review first; click one to edit, approve or retire it, or add a new one.

Built inside `build_console`'s tabs (`assistant/web/console/page.py`); every action checks the
signed-in operator and is recorded with their name on the entry.
"""

from __future__ import annotations

from typing import Callable

import gradio as gr

from assistant.errors import InputError

COLUMNS = ["id", "status", "question", "answer", "source", "approved by", "uses", "note"]
STATUS_WORDS = {"approved": "served", "review": "waiting for review", "retired": "retired"}
ORDER = {"review": 0, "approved": 1, "retired": 2}


def rows(store, status: str) -> list[list]:
    entries = store.memory_entries(None if status == "any" else status)
    entries.sort(key=lambda e: (ORDER.get(e["status"], 3), -e["id"]))
    return [
        [
            e["id"],
            STATUS_WORDS.get(e["status"], e["status"]),
            e["question"],
            e["answer"],
            e["source"] or "",
            e["approved_by"] or "",
            e["uses"],
            e["note"] or "",
        ]
        for e in entries
    ]


def build_memory_tab(store, operator_of: Callable[[str | None], str], guarded, tok, tab) -> None:
    """Components and events of the tab; `tok` is the console's session-token state, `operator_of(token)`
    names the signed-in operator (or raises), `guarded(n)` shows a refusal in a handler's first output;
    the table loads when `tab` is opened."""
    chosen = gr.State(None)
    gr.Markdown(
        "<small>Approved answers are said as written when a customer asks the same question (or a "
        "paraphrase), before the knowledge base, and cited as from the support team. Corrections you "
        "save are approved at once; replies typed to customers wait here for review; an answer "
        "customers rate down comes back here.</small>"
    )
    with gr.Row():
        status = gr.Dropdown(["any", "review", "approved", "retired"], value="any", label="Status", scale=1)
        show = gr.Button("Show", elem_id="op-memory-show", scale=0)
    table = gr.Dataframe(
        headers=COLUMNS,
        interactive=False,
        wrap=True,
        elem_id="op-memory",
        max_height=360,
        column_widths=["50px", "110px", "260px", "360px", "120px", "100px", "55px", "160px"],
    )
    question = gr.Textbox(label="Question", elem_id="op-memory-question")
    answer = gr.Textbox(label="Approved answer (customers read it as written)", lines=3, elem_id="op-memory-answer")
    source = gr.Textbox(label="Source (help page or policy, optional)", elem_id="op-memory-source")
    with gr.Row():
        approve = gr.Button("Save and approve", variant="primary", elem_id="op-memory-approve")
        add = gr.Button("Add as a new entry", elem_id="op-memory-add")
        retire = gr.Button("Retire", variant="stop", elem_id="op-memory-retire")
    note = gr.Markdown("", elem_id="op-memory-message")

    @guarded(3)
    def do_show(tok, st):
        operator_of(tok)
        return "", rows(store, st), None

    @guarded(5)
    def do_pick(tok, evt: gr.SelectData):
        operator_of(tok)
        entry = store.memory_entry(int(evt.row_value[0]))
        return (
            f"Entry #{entry['id']} ({STATUS_WORDS.get(entry['status'], entry['status'])}).",
            entry["id"],
            entry["question"],
            entry["answer"],
            entry["source"] or "",
        )

    @guarded(3)
    def do_approve(tok, st, entry_id, q, a, src):
        who = operator_of(tok)
        if not entry_id:
            raise InputError("click an entry in the table first (or add a new one)")
        store.update_memory(entry_id, by=who, status="approved", question=q, answer=a, source=src or None, note=None)
        return f"Entry #{entry_id} approved: served from the next question.", rows(store, st), entry_id

    @guarded(3)
    def do_add(tok, st, q, a, src):
        who = operator_of(tok)
        entry_id = store.add_memory(q, a, src or None, "approved", "console", who)
        return f"Entry #{entry_id} added and approved.", rows(store, st), entry_id

    @guarded(3)
    def do_retire(tok, st, entry_id):
        who = operator_of(tok)
        if not entry_id:
            raise InputError("click an entry in the table first")
        store.update_memory(entry_id, by=who, status="retired")
        return f"Entry #{entry_id} retired: no longer served.", rows(store, st), None

    show.click(do_show, [tok, status], [note, table, chosen])
    tab.select(do_show, [tok, status], [note, table, chosen])
    status.change(do_show, [tok, status], [note, table, chosen])
    table.select(do_pick, [tok], [note, chosen, question, answer, source])
    approve.click(do_approve, [tok, status, chosen, question, answer, source], [note, table, chosen])
    add.click(do_add, [tok, status, question, answer, source], [note, table, chosen])
    retire.click(do_retire, [tok, status, chosen], [note, table, chosen])
