"""The console's Queue tab and header controls for a team: the handoff queue (yours first and highlighted),
who is online, assign / transfer and close several items at once, your status, and the new-item alert.

- `QueueView.rows(viewer)`: the queue table for one operator: items assigned to or held by them first,
  marked ★ and highlighted, then the rest oldest request first; also closes abandoned items (at most
  every ABANDON_CHECK_S, `handoff.abandon_minutes`).
- `QueueTab.header()`: your status (online / away, stored: customers count only online operators) and
  "Notify me" (`queue_alert`). `QueueTab.tab()`: the table, the team line, the selection, the actions.
- The selection, the team line and the alert follow the table: whenever it changes (the console's 5 s
  refresh, an action) they are recomputed from it, so the queue is read once per refresh.

The rules are `assistant.turn.assignment`'s; every handler checks the signed-in operator and records
their name. Wired by `assistant/web/console/page.py`; tested by `tests/test_team_queue_browser.py`.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import logging
import time
from typing import Any, Callable

import gradio as gr
import pandas as pd

from assistant.errors import InputError, LoopdeskError
from assistant.turn.assignment import MAX_BULK, Assignment
from assistant.turn.customer_info import customer_label
from assistant.turn.handoff import Handoff
from assistant.web.console import queue_alert
from assistant.web.plain_text import md_plain

log = logging.getLogger("loopdesk.console")
# Customers are told apart by who (e-mail when left), channel, wait, and their first and last message;
# the conversation id comes last (clicking a row opens it). What an operator picks by comes first: beside
# an open conversation (assistant/web/console/layout.py) the first five columns fill the ~670 px list
# column at 1,366 px, and the table scrolls sideways to the rest.
QUEUE_COLUMNS = [
    "customer",
    "waiting",
    "assigned to",
    "first message",
    "last message",
    "state",
    "channel",
    "reason",
    "conversation",
]
# Pixels, not shares: a narrower column (beside the conversation, or a phone) scrolls the table sideways
# instead of squeezing every column to a letter per line.
COLUMN_WIDTHS: list[str | int] = ["120px", "80px", "95px", "185px", "185px", "75px", "90px", "105px", "185px"]
ABANDON_CHECK_S = 60.0  # how often a console's queue refresh closes abandoned items
MINE = "★ "  # marks your items in the "assigned to" column (the highlight alone says nothing to a screen reader)
MINE_STYLE = "background-color: #fef3c7"
STATUS_WORDS = {
    "online": "You are **online**: customers are told someone is here.",
    "away": "You are **away**: customers are not told you are here (the queue still shows everything).",
}


def channel_name(source: str) -> str:
    """Where a conversation came from, in words (`conversations.source`)."""
    if source.startswith("api:"):
        return f"API ({source[4:]})"
    return {"chat": "chat page", "chatwoot": "Chatwoot", "eval": "evaluation"}.get(source, source or "chat page")


def quietly(n_outputs: int):
    """For handlers that follow another event (no click of the operator's): a failure changes nothing on
    the page; an expired session waits for the next click to say so, anything else goes to the log."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args):
            try:
                return fn(*args)
            except LoopdeskError:
                return (gr.skip(),) * n_outputs
            except Exception:
                log.exception("console queue update %s failed", fn.__name__)
                return (gr.skip(),) * n_outputs

        return run

    return wrap


class QueueView:
    """The queue table as one operator sees it."""

    def __init__(self, store, handoff: Handoff, abandon_minutes: float) -> None:
        self.store, self.handoff, self.abandon_minutes = store, handoff, abandon_minutes
        self._last_abandon_check = float("-inf")

    def rows(self, viewer: str | None = None, now: dt.datetime | None = None) -> Any:
        """A pandas Styler (rows of QUEUE_COLUMNS, the viewer's own highlighted) for the console's table."""
        if time.monotonic() - self._last_abandon_check > ABANDON_CHECK_S:
            self._last_abandon_check = time.monotonic()
            self.handoff.close_abandoned(self.abandon_minutes)
        now = now or dt.datetime.now(dt.timezone.utc)
        mine: list[list] = []
        others: list[list] = []
        for q in self.store.handoff_queue():
            cid = q["conversation_id"]
            asked = q["requested_at"]
            # SQLite returns naive UTC, PostgreSQL aware datetimes in the session's zone: compare in UTC.
            asked = asked.replace(tzinfo=dt.timezone.utc) if asked.tzinfo is None else asked
            waited = (now - asked).total_seconds() / 60
            who = q["operator"] if q["state"] == "human" else q.get("assigned_to")
            own = bool(viewer) and who == viewer
            cells = {
                "customer": customer_label(cid, q.get("meta"), q["contact_email"]),
                "channel": channel_name(q.get("source") or ""),
                "state": q["state"],
                "waiting": (f"{waited:.0f} min" if waited >= 1 else "<1 min") if q["state"] == "queued" else "",
                "assigned to": (MINE if own else "") + (who or ""),
                "reason": (q["reason"] or "").replace("_", " "),
                "first message": (q.get("first_message") or "")[:100],
                "last message": (q["last_message"] or "")[:160],
                "conversation": cid,
            }
            row = [cells[c] for c in QUEUE_COLUMNS]
            (mine if own else others).append(row)
        frame = pd.DataFrame(mine + others, columns=QUEUE_COLUMNS)
        n_mine = len(mine)
        return frame.style.apply(lambda r: [MINE_STYLE if r.name < n_mine else ""] * len(r), axis=1)


def table_items(table: Any) -> list[dict]:
    """The queue items a table value holds (as the browser sends it back), by column name."""
    if isinstance(table, pd.DataFrame):
        records = table.to_dict("records")
    else:
        records = [dict(zip(QUEUE_COLUMNS, r)) for r in (table or [])]
    out = []
    for r in records:
        cid = str(r.get("conversation") or "").strip()
        if cid:
            out.append(
                {
                    "id": cid,
                    "who": str(r.get("customer") or ""),
                    "state": str(r.get("state") or ""),
                    "text": str(r.get("first message") or r.get("last message") or ""),
                }
            )
    return out


class QueueTab:
    """Builds the header controls and the tab inside `build_console`, then wires their events."""

    def __init__(
        self,
        view: QueueView,
        assignment: Assignment,
        operator_of: Callable[[str | None], str],
        guarded: Callable,
        tok: gr.State,
        msg: gr.Markdown,
    ) -> None:
        self.view, self.assignment, self.operator_of, self.guarded = view, assignment, operator_of, guarded
        self.tok, self.msg = tok, msg

    # --- layout ------------------------------------------------------------------------------------
    def header(self) -> None:
        """Your status and the alert button (call inside the console's header row)."""
        # One block that wraps whole on a phone (Markdown and HTML ignore min_width; a column keeps it).
        with gr.Column(scale=0, min_width=390), gr.Row():
            self.status = gr.Radio(
                [("Online", "online"), ("Away", "away")],
                value="online",
                label="Your status",
                elem_id="op-status",
                scale=0,
                min_width=210,  # both choices on one line, and "Notify me" beside them on a phone
            )
            self.alert = queue_alert.build_alert()

    def tab(self) -> gr.Dataframe:
        """The queue table and its team tools (call inside the Queue tab); returns the table."""
        self.table = gr.Dataframe(
            headers=QUEUE_COLUMNS,
            interactive=False,
            wrap=True,
            elem_id="op-queue",
            max_height=320,
            column_widths=COLUMN_WIDTHS,
        )
        gr.Markdown(
            f"<small>Click a row to open the conversation. {MINE.strip()} and highlighted: assigned to you or "
            "held by you.</small>"
        )
        self.team_md = gr.Markdown("", elem_id="op-team")
        self.select = gr.CheckboxGroup([], label="Select queue items", elem_id="op-queue-select", show_select_all=True)
        with gr.Row():
            self.assignee = gr.Dropdown([], label="Operator", elem_id="op-assignee", scale=2, min_width=200)
            with gr.Column(scale=1, min_width=200):
                self.assign_btn = gr.Button("Assign / transfer selected", elem_id="op-assign")
                self.close_btn = gr.Button("Close selected", variant="stop", elem_id="op-close-selected")
        self._wire()
        return self.table

    # --- views -------------------------------------------------------------------------------------
    def _team(self, me: str, chosen: str | None):
        members = self.assignment.team()
        line = " · ".join(f"**{html.escape(m.name)}**{' (you)' if m.name == me else ''} {m.presence}" for m in members)
        choices = [(f"{m.name} ({m.presence})", m.name) for m in members]
        keep = chosen if chosen in {m.name for m in members} else None
        return f"<small>Team: {line}</small>", gr.update(choices=choices, value=keep)

    def after_sign_in(self, tok, chosen):
        """What the header and the team line show right after signing in (the stored status)."""
        return quietly(3)(self._after_sign_in)(tok, chosen)

    def _after_sign_in(self, tok, chosen):
        if not tok:  # the sign-in was refused
            return (gr.skip(),) * 3
        me = self.operator_of(tok)
        status = next((m.status for m in self.assignment.team() if m.name == me), "online")
        return (gr.update(value=status), *self._team(me, chosen))

    # --- events ------------------------------------------------------------------------------------
    def _wire(self) -> None:
        guarded, operator_of, assignment = self.guarded, self.operator_of, self.assignment

        @quietly(4)
        def follow(tok, table, selected, chosen):
            """The selection, alert and team line, recomputed from the table the browser shows."""
            me = operator_of(tok)
            items = table_items(table)
            ids = {i["id"] for i in items}
            choices = [(f"{i['who']} · {i['state']} · {i['text'][:60]}", i["id"]) for i in items]
            keep = [s for s in (selected or []) if s in ids]  # an item that left the queue is unselected
            queued = [i for i in items if i["state"] == "queued"]
            team_line, assignee = self._team(me, chosen)
            return (gr.update(choices=choices, value=keep), queue_alert.items_json(queued), team_line, assignee)

        @guarded(2)
        def set_status(tok, status):
            me = operator_of(tok)
            assignment.set_status(me, status)
            team_line, _ = self._team(me, None)
            return STATUS_WORDS.get(status, ""), team_line

        def labels(ids: list[str]) -> dict[str, str]:
            out = {}
            for cid in ids:
                row = assignment.store.handoff(cid) or {}
                out[cid] = customer_label(cid, assignment.store.conversation_meta(cid), row.get("contact_email"))
            return out

        @guarded(3)
        def assign(tok, selected, to):
            me = operator_of(tok)
            if not selected:
                raise InputError("select the queue items to assign first")
            if not to:
                raise InputError("choose an operator first")
            if len(selected) > MAX_BULK:
                raise InputError(f"select at most {MAX_BULK} items at once")
            names = labels(selected)
            done: dict[str, list[str]] = {"assigned": [], "transferred": []}
            refused = []
            for cid in selected:
                try:
                    done[assignment.assign(cid, to, me)].append(names[cid])
                except InputError as exc:  # the others still move; each refusal is reported
                    refused.append(f"{names[cid]}: {exc}")
            if not done["assigned"] and not done["transferred"]:
                raise InputError("; ".join(refused))
            parts = [f"{verb.title()} to {to}: {', '.join(who)}." for verb, who in done.items() if who]
            parts += [f"⚠️ Not moved: {'; '.join(refused)}."] if refused else []
            return " ".join(md_plain(p) for p in parts), self.view.rows(me), gr.update(value=[])

        @guarded(3)
        def close(tok, selected):
            me = operator_of(tok)
            if len(selected or []) > MAX_BULK:
                raise InputError(f"select at most {MAX_BULK} items at once")
            names = labels(list(selected or []))
            closed, refused = assignment.close_many(list(selected or []), me)
            parts = [f"Closed {len(closed)}: {', '.join(names[c] for c in closed)}."] if closed else []
            parts += [f"⚠️ Not closed: {'; '.join(f'{names[c]}: {why}' for c, why in refused)}."] if refused else []
            return " ".join(md_plain(p) for p in parts), self.view.rows(me), gr.update(value=[])

        self.table.change(
            follow,
            [self.tok, self.table, self.select, self.assignee],
            [self.select, self.alert, self.team_md, self.assignee],
            show_progress="hidden",
        )
        self.status.input(set_status, [self.tok, self.status], [self.msg, self.team_md])
        self.assign_btn.click(assign, [self.tok, self.select, self.assignee], [self.msg, self.table, self.select])
        self.close_btn.click(close, [self.tok, self.select], [self.msg, self.table, self.select])
