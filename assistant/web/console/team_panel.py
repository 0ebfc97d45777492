"""The console's team tools (Gradio): in the conversation panel a saved-reply picker that fills the reply
box, internal notes, tags and the conversation's first-response / resolution times; a "Saved replies"
tab where admins keep the templates; the team's numbers under the Numbers tab; the tag filter of the
Conversations tab.

Only components and events: the rules are `team` (saved replies, notes, tags) and `team_stats` (times
and per-operator numbers). `build_console` (`page.py`) makes one `TeamTools` and calls each builder where
its components belong; every handler checks the signed-in operator and shows a refusal in the message
line it is given. Browser test: `.venv/bin/pytest -q tests/test_team_panel_browser.py`.
"""

from __future__ import annotations

import html
from typing import Callable

import gradio as gr

from assistant.errors import InputError, LoopdeskError
from assistant.web.console import team
from assistant.web.console import team_stats

SAVED_COLUMNS = ["name", "text", "updated by", "updated (UTC)"]
VARIABLE_HELP = (
    "<small>Variables: <code>{customer_name}</code> (the customer's name where the channel gave one, else "
    "“there”), <code>{operator_name}</code> (whoever uses the reply), <code>{business_name}</code>. Admins add, "
    "change and delete saved replies; everyone picks them in a conversation, under the reply box.</small>"
)


class TeamTools:
    """The team tools of one console page. `operator_of(token)` names the signed-in operator (or raises),
    `guarded(n)` turns a refusal into the first of a handler's n outputs."""

    def __init__(self, store, business: Callable[[], str], operator_of: Callable, guarded: Callable, token) -> None:
        # The business name as the owner set it in Settings now (no restart), for {business_name}.
        self.store, self.business = store, business
        self.operator_of, self.guarded, self.token = operator_of, guarded, token
        self._saved_events: list = []  # the tab's saves and deletes: the panel's picker reloads after each

    # --- the Saved replies tab ---------------------------------------------------------------------
    def saved_rows(self) -> list[list]:
        return [[r["name"], r["text"], r["updated_by"], str(r["updated_at"])[:16]] for r in self.store.saved_replies()]

    def saved_replies_tab(self, tab) -> None:
        gr.HTML(VARIABLE_HELP)
        table = gr.Dataframe(
            headers=SAVED_COLUMNS,
            interactive=False,
            wrap=True,
            elem_id="op-saved-replies",
            max_height=320,
            column_widths=["20%", "56%", "10%", "14%"],
        )
        name = gr.Textbox(label="Name", elem_id="op-saved-name", max_lines=1)
        text = gr.Textbox(
            label="Text (the reply box gets it with the variables filled in)", lines=4, elem_id="op-saved-text"
        )
        with gr.Row():
            save = gr.Button("Save", variant="primary", elem_id="op-saved-save")
            delete = gr.Button("Delete", variant="stop", elem_id="op-saved-delete")
        note = gr.Markdown("", elem_id="op-saved-message")
        tok = self.token

        @self.guarded(2)
        def do_show(t):
            self.operator_of(t)
            return "", self.saved_rows()

        @self.guarded(3)
        def do_pick(t, evt: gr.SelectData):
            self.operator_of(t)
            chosen = self.store.saved_reply(str(evt.row_value[0]))
            if chosen is None:
                return "That saved reply was deleted meanwhile.", gr.skip(), gr.skip()
            return "", chosen["name"], chosen["text"]

        @self.guarded(2)
        def do_save(t, n, x):
            done = team.save_reply(self.store, n, x, self.operator_of(t))
            return done, self.saved_rows()

        @self.guarded(4)
        def do_delete(t, n):
            done = team.delete_reply(self.store, (n or "").strip(), self.operator_of(t))
            return done, self.saved_rows(), "", ""

        tab.select(do_show, [tok], [note, table])
        table.select(do_pick, [tok], [note, name, text])
        self._saved_events.append(save.click(do_save, [tok, name, text], [note, table]))
        self._saved_events.append(delete.click(do_delete, [tok, name], [note, table, name, text]))

    # --- the conversation panel --------------------------------------------------------------------
    def panel(self, conv_id, reply, conv_md, msg, transcript_of: Callable[[str], str], header=None) -> None:
        """Under the reply box: `reply` is the box a saved reply fills, `conv_md` the transcript (a note
        shows there at once; `transcript_of(cid)` renders it), `msg` the console's message line, `header`
        the conversation's header (it changes with a take-over or a close: the times line follows)."""
        # min_width: on a phone each control gets a line of its own instead of a squeezed column.
        with gr.Row(equal_height=True, elem_id="op-note-row"):
            saved = gr.Dropdown(
                [],
                value=None,
                label="Saved reply (fills the reply box)",
                elem_id="op-saved-reply",
                scale=2,
                min_width=260,
            )
            note = gr.Textbox(
                label="Internal note (only the team sees it; never sent to the customer)",
                lines=1,
                max_lines=4,
                scale=3,
                min_width=300,
                elem_id="op-note",
            )
            note_btn = gr.Button("Add note", scale=0, min_width=120, elem_id="op-add-note")
        tags = gr.Markdown("", elem_id="op-tags")
        with gr.Row(equal_height=True, elem_id="op-tags-row"):
            tag = gr.Textbox(
                label="Tag", max_lines=1, scale=3, min_width=200, elem_id="op-tag", placeholder="e.g. refund"
            )
            add = gr.Button("Add tag", scale=0, min_width=120, elem_id="op-add-tag")
            remove = gr.Button("Remove tag", scale=0, min_width=140, elem_id="op-remove-tag")
        times = gr.Markdown("", elem_id="op-times")
        tok = self.token

        def tags_text(cid) -> str:
            found = self.store.tags(cid) if cid else []
            chips = " ".join(f"`{html.escape(t)}`" for t in found)
            return f"**Tags:** {chips}" if found else "**Tags:** _none yet_"

        def times_of(t, cid):
            try:
                self.operator_of(t)
                return team_stats.conversation_times(self.store, cid) if cid else gr.skip()
            except LoopdeskError:  # signed out, or the store is down: the line stays as it was
                return gr.skip()

        def choices() -> dict:
            return gr.update(choices=[r["name"] for r in self.store.saved_replies()], value=None)

        @self.guarded(4)
        def do_load(t, cid):
            self.operator_of(t)
            if not cid:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return gr.skip(), choices(), tags_text(cid), team_stats.conversation_times(self.store, cid)

        @self.guarded(3)
        def do_fill(t, cid, name):
            if not name:
                return gr.skip(), gr.skip(), gr.skip()
            if not cid:
                raise InputError("open a conversation first")
            text, done = team.fill_reply(self.store, name, cid, self.operator_of(t), self.business())
            return done, text, gr.update(value=None)  # picking the same reply again fills it again

        @self.guarded(3)
        def do_note(t, cid, text):
            team.add_note(self.store, cid, self.operator_of(t), text)
            return "Internal note added (only the team sees it).", "", transcript_of(cid)

        def tag_action(adding: bool):
            @self.guarded(3)
            def act(t, cid, text):
                who = self.operator_of(t)
                if adding:
                    done = f"Tagged {team.add_tag(self.store, cid, who, text)}."
                else:
                    done = f"Tag {team.remove_tag(self.store, cid, text)} removed."
                return done, "", tags_text(cid)

            return act

        conv_id.change(do_load, [tok, conv_id], [msg, saved, tags, times], show_progress="hidden")
        saved.input(do_fill, [tok, conv_id, saved], [msg, reply, saved])
        for trigger in (note_btn.click, note.submit):
            trigger(do_note, [tok, conv_id, note], [msg, note, conv_md])
        for trigger in (add.click, tag.submit):
            trigger(tag_action(True), [tok, conv_id, tag], [msg, tag, tags])
        remove.click(tag_action(False), [tok, conv_id, tag], [msg, tag, tags])
        for event in self._saved_events:  # a reply saved in the tab is offered at once
            event.then(lambda t: choices() if t else gr.skip(), [tok], [saved])
        # The times line follows the transcript (a reply sent) and the header (a close).
        for shown in (conv_md, header) if header is not None else (conv_md,):
            shown.change(times_of, [tok, conv_id], [times], show_progress="hidden")

    # --- the Conversations tab's tag filter ---------------------------------------------------------
    def tag_filter(self, tab):
        """A "Tag" dropdown for the Conversations tab's filters, its choices the tags in use (reloaded when
        the tab is opened)."""
        box = gr.Dropdown(["any"], value="any", label="Tag", elem_id="op-conv-tag", allow_custom_value=True)

        def load(t, current):
            try:
                self.operator_of(t)
                found = [r["tag"] for r in self.store.tag_counts()]
            except LoopdeskError:  # signed out, or the store is down: the filter keeps its choices
                return gr.skip()
            return gr.update(choices=["any", *found], value=current if current in found else "any")

        tab.select(load, [self.token, box], [box], show_progress="hidden")
        return box

    # --- the team's numbers in the Numbers tab -----------------------------------------------------
    def numbers(self, days, tab) -> None:
        """Per operator and per conversation handed to a person, for the period of the tab's `days` radio."""
        gr.Markdown(
            "### The team\n<small>Conversations handed to a person in the period (counted on the day they were "
            "queued): first response = from queued to the first reply of a person; resolution = from queued to "
            "closed by an operator; satisfaction = the customers' answers to “How did we do?” after the close."
            "</small>"
        )
        note = gr.Markdown("", elem_id="op-agent-numbers-message")
        agents = gr.Dataframe(
            headers=team_stats.AGENT_COLUMNS, interactive=False, wrap=True, elem_id="op-agent-numbers"
        )
        handled = gr.Dataframe(
            headers=team_stats.CONVERSATION_COLUMNS,
            interactive=False,
            wrap=True,
            elem_id="op-handoff-times",
            max_height=320,
            label="Conversations handed to a person, newest first",
        )

        @self.guarded(3)
        def load(t, n):
            self.operator_of(t)
            eps = team_stats.episodes(self.store, *team_stats.period(int(n)))
            return "", team_stats.agent_table(team_stats.by_agent(eps)), team_stats.conversation_table(eps)

        tab.select(load, [self.token, days], [note, agents, handled])
        days.change(load, [self.token, days], [note, agents, handled])
