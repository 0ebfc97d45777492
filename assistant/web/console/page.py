"""The operator console (Gradio, route /operator): sign in by name, the handoff queue, conversations
by last activity, one conversation with per-turn insights (take over, reply, hand back, close,
rate, correct, relabel; saved replies, internal notes, tags: `team_panel`), replies with filters,
per-day numbers with an alert banner and report downloads, the learning loop (export, train with
live progress, evaluate, promote, roll back), the team's accounts (`operators_tab`) and the owner's
settings and help pages (`settings_tab`).

Only event wiring: the logic lives in `operator`, `handoff`, `console_stats`, `accounts` and the
injected learning loop (`finetune.jobs.LearningLoop`). Each handler reports success or the reason
it refused in the message line and leaves every other component as it was.
"""

from __future__ import annotations

import functools
import html
import logging
import threading
import tempfile
from pathlib import Path

import gradio as gr

from assistant.export_card import summary
from assistant.web.console.gaps_tab import build_gaps_tab
from assistant.web.console.learning_tab import build_runs, train_gate
from assistant.web.console.relevance_panel import build_relevance_panel, round_summary
from assistant.web.console.relevance_panel import status as relevance_panel_status
from assistant.web.console.memory_tab import build_memory_tab
from assistant.turn.customer_info import customer_label
from assistant.web.console.operators_tab import build_operators_tab
from assistant.web.plain_text import md_plain
from assistant.web.console.settings_tab import build_settings_tab
from assistant.web.console.queue_tab import QUEUE_COLUMNS, QueueTab, QueueView
from assistant.turn.assignment import Assignment
from assistant.web.console.team import transcript_with_notes
from assistant.web.console.team_panel import TeamTools
from assistant.web.console import stats as console_stats
from assistant.web.console import operator as op
from assistant.store.accounts import BOOTSTRAP_OPERATOR, Accounts, client_address
from assistant.config import Config
from assistant.errors import InputError, LoopdeskError
from assistant.store.console import COUNT_CAP

log = logging.getLogger("loopdesk.console")
TURN_COLUMNS = ["turn", "role", "text"]
ADAPTER_COLUMNS = [
    "adapter",
    "created",
    "answers right",
    "held-out loss",
    "train loss",
    "compared with",
    "last promoted",
]
# Short headers keep the table inside 1,366 px; what the pairs mean is said once under it.
ADAPTER_NOTE = (
    "<small><b>answers right</b>: share of the promotion questions answered, this adapter / the one it was "
    "compared with (same questions, same run). <b>held-out loss</b>: on its dataset's held-out split, "
    "this / compared. <b>train loss</b>: at the last training step.</small>"
)

# The lists' columns as shown (the same keys as `op.CONVERSATION_COLUMNS` / `op.COLUMNS`), what an
# operator reads first on the left; pixel widths: beside an open conversation (~670 px at 1,366 px wide,
# `layout.py`) the first columns fill the list and the table scrolls sideways to the rest.
CONVERSATION_VIEW = ["last activity", "state", "last customer message", "tags", "turns", "escalations", "conversation"]
CONVERSATION_WIDTHS: list[str | int] = ["105px", "85px", "230px", "100px", "55px", "95px", "150px"]
REPLY_VIEW = [
    "turn_id",
    "time",
    "customer",
    "reply",
    "rating",
    "sentiment",
    "escalation",
    "correction",
    "adapter",
    "conversation",
]
REPLY_WIDTHS: list[str | int] = ["60px", "100px", "200px", "250px", "65px", "90px", "95px", "200px", "110px", "150px"]

JOB_NAMES = {
    "export": "Export",
    "train": "Training",
    "eval": "Evaluation",
    "index": "Index build",
    "relevance": "Answer-relevance round",
}
JOB_STATES = {
    "running": "running",
    "done": "finished",
    "failed": "failed",
    "cancelled": "cancelled",
    "lost": "stopped without a result (the server restarted or the process was killed)",
}


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def guarded(n_outputs: int):
    """Run a handler as the signed-in operator; on a refusal show why and change nothing else."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(token, *args):
            try:
                return fn(token, *args)
            except LoopdeskError as exc:
                return (f"⚠️ {html.escape(str(exc))}",) + (gr.skip(),) * (n_outputs - 1)
            except Exception as exc:  # a console bug must not take the console down; the log has it
                log.exception("console action %s failed", fn.__name__)
                return (f"⚠️ Something went wrong ({type(exc).__name__}); the log has the details.",) + (gr.skip(),) * (
                    n_outputs - 1
                )

        return run

    return wrap


def health_problems(assistant) -> list[str]:
    """What is degraded in the running app right now (also in the log when it happened)."""
    out = []
    watcher = assistant.adapter_watcher
    if watcher is not None and watcher.last_error:
        out.append(f"Live adapter: {watcher.last_error}")
    if not assistant.retriever:
        out.append(f"No knowledge base, every question is declined: {assistant.retriever_problem}")
    # Each missing tagger carries its own reason (assistant.unavailable).
    # "NER tagger unavailable: not configured" (it says what is missing and why; no "No" in front).
    out += [f"{str(t)[0].upper()}{str(t)[1:]}" for t in (assistant.sentiment, assistant.ner) if not t]
    # A tagger that loaded without one of its parts (the sentiment tagger's upset model) says so.
    out += [f"Sentiment tagger: {p}" for p in getattr(assistant.sentiment, "problems", None) or []]
    memory = getattr(assistant, "memory", None)
    if memory is not None and memory.problem:
        out.append(f"Answer memory: {memory.problem} (serving the entries read before)")
    busy = assistant.busy_watch.problem()
    if busy:
        out.append(busy)
    relevance = getattr(assistant, "relevance", None)
    if relevance is not None and relevance.problem and relevance.configured:
        out.append(f"Relevance model: {relevance.problem}; answering whenever a passage clears retrieval.min_score")
    follows = getattr(assistant, "relevance_watcher", None)
    if follows is not None and follows.last_error:
        out.append(f"Relevance model: {follows.last_error}")
    return out


def label_words(task: str, value) -> str:
    """A stored label as the console offered it ("not in the pages", not False)."""
    if task == "covered":
        return next((words for words, v in op.COVERAGE.items() if v == value), str(value))
    return str(value)


def transcript(turns: list[dict]) -> str:
    """The conversation as markdown, each turn with what the pipeline knew about it."""
    if not turns:
        return "_No turns yet._"
    parts = []
    for t in turns:
        # A customer's words as typed (no links or headings of theirs); replies keep their own markdown.
        text = (md_plain(t["text"]) if t["role"] == "user" else html.escape(t["text"])).replace("\n", "  \n> ")
        if t["role"] == "user":
            s = t["scores"] or {}
            sentiment = (
                (f"{t['sentiment']} " + " ".join(f"{k[:3]} {v:.2f}" for k, v in s.items())) if t["sentiment"] else "—"
            )
            ents = ", ".join(f"`{html.escape(e['type'])}` {html.escape(e['text'])}" for e in t["entities"]) or "none"
            labels = "".join(f" · label {k}: {html.escape(label_words(k, v))}" for k, v in t["labels"].items())
            notes = "".join(f"  \n<small>note: {html.escape(str(n))}</small>" for n in t["notes"])
            parts.append(
                f"**#{t['id']} Customer** · {t['time']} · language {t['language'] or '—'} · sentiment "
                f"{sentiment} · entities {ents}{labels}\n> {text}{notes}"
            )
        elif t["role"] == "agent":
            parts.append(
                f"**#{t['id']} {html.escape((t['operator'] or 'operator').title())} (person)** · {t['time']}\n> {text}"
            )
        else:
            timing = f"{t['latency_ms']:.0f} ms" if t["latency_ms"] is not None else "—"
            if t["first_token_ms"] is not None:
                timing += f" (first words {t['first_token_ms']:.0f} ms)"
            extra = [
                f"adapter {html.escape(t['adapter'] or 'none')}",
                f"grounding {html.escape(t['grounding'] or '—')}",
            ]
            if t["escalation"]:
                extra.append(f"**escalation {t['escalation'].replace('_', ' ')}**")
            if t["rating"]:
                extra.append(f"rated {t['rating']}")
            sources = " · ".join(
                f"[{i}] {html.escape(s.get('source', ''))} › {html.escape(s.get('heading') or '')} "
                f"({s.get('score', 0):.2f})"
                for i, s in enumerate(t["sources"], 1)
            )
            fix = "".join(f"  \n<small>correction: {html.escape(c)}</small>" for c in t["corrections"])
            parts.append(
                f"**#{t['id']} Assistant** · {t['time']} · {timing} · "
                + " · ".join(extra)
                + f"\n> {text}"
                + (f"  \n<small>sources: {sources}</small>" if sources else "")
                + fix
            )
    return "\n\n".join(parts)


def chart(rows: list[dict]):
    """Four panels per day: replies, thumbs up/down share and the satisfied share of "How did we do?"
    answers, escalation rate and negative share, p50 latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [r["day"][5:] for r in rows]
    # Positions, not the day strings: matplotlib drops a category whose value is NaN, so the line panels
    # would show only the days with data; every panel keeps all days on the same axis.
    x = list(range(len(days)))
    fig, axes = plt.subplots(2, 2, figsize=(10, 5.2))
    axes[0][0].bar(x, [r["replies"] for r in rows], color="#2563eb")
    axes[0][0].set_title("replies per day")
    for key, colour, label in (
        ("up_share", "#16a34a", "thumbs up"),
        ("down_share", "#dc2626", "thumbs down"),
        ("satisfied_share", "#2563eb", "satisfied (after a person)"),
    ):
        axes[0][1].plot(
            x, [r[key] if r[key] is not None else float("nan") for r in rows], marker="o", color=colour, label=label
        )
    axes[0][1].set_title("thumbs (share of replies), satisfaction")
    for key, colour, label in (
        ("escalation_rate", "#d97706", "escalation rate"),
        ("negative_share", "#7c3aed", "negative customer turns"),
    ):
        axes[1][0].plot(
            x, [r[key] if r[key] is not None else float("nan") for r in rows], marker="o", color=colour, label=label
        )
    axes[1][0].set_title("escalations and negative sentiment (share)")
    axes[1][1].plot(
        x,
        [r["p50_latency_ms"] if r["p50_latency_ms"] is not None else float("nan") for r in rows],
        marker="o",
        color="#0f766e",
    )
    axes[1][1].set_title("median reply time (ms)")
    for ax in (axes[0][1], axes[1][0]):
        ax.set_ylim(0, 1)
        ax.legend(loc="upper left", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks(x, days)
        ax.set_xlim(-0.6, len(days) - 0.4)
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def build_console(assistant, cfg: Config, learning=None) -> None:
    """The console's components and events (call inside a `gr.Blocks` route)."""
    store, handoff = assistant.store, assistant.handoff
    accounts = Accounts(store)
    queue_view = QueueView(store, handoff, cfg.handoff.abandon_minutes)
    # A function: each page load shows the business name in effect (the Settings tab may have changed it).
    gr.Markdown(lambda: f"## {html.escape(assistant.settings.current().business_name)} · operator console")
    alert = gr.Markdown("", elem_id="op-alert")
    msg = gr.Markdown("", elem_id="op-message")
    token, conv_id, turn_id = gr.State(None), gr.State(None), gr.State(None)
    conv_page, reply_page = gr.State(1), gr.State(1)
    queue_tab = QueueTab(queue_view, Assignment(store, handoff), accounts.operator, guarded, token, msg)
    business = lambda: assistant.settings.current().business_name  # noqa: E731 (the owner's, read each time)
    team_tools = TeamTools(store, business, accounts.operator, guarded, token)  # replies, notes, tags

    with gr.Column(visible=True) as signin:
        name = gr.Textbox(label="Name", elem_id="op-name")
        password = gr.Textbox(label="Password", type="password", elem_id="op-password")
        signin_btn = gr.Button("Sign in", variant="primary", elem_id="op-signin")
        gr.Markdown("<small>Accounts: `loopdesk operator add NAME`.</small>")
    with gr.Column(visible=False, elem_id="op-area") as area:  # layout: assistant/web/console/layout.py
        with gr.Row():
            with gr.Column(min_width=220):  # a phone wraps the row instead of squeezing the name
                me = gr.Markdown("", elem_id="op-me")
            queue_tab.header()  # your status (online / away) and "Notify me"
            signout = gr.Button("Sign out", size="sm", scale=0)
        with gr.Tabs():
            with gr.Tab("Queue", elem_id="op-list-queue"):
                queue_table = queue_tab.tab()  # the queue, who is online, assign / transfer / close selected
            with gr.Tab("Conversations", elem_id="op-list-conversations") as conv_tab:
                with gr.Row():
                    c_from = gr.DateTime(label="From", include_time=False, type="string", elem_id="op-conv-from")
                    c_to = gr.DateTime(label="To", include_time=False, type="string", elem_id="op-conv-to")
                    c_state = gr.Dropdown(
                        ["any", "assistant", "queued", "human", "closed"], value="any", label="Who answers"
                    )
                    c_text = gr.Textbox(label="Text contains", elem_id="op-conv-text")
                    c_tag = team_tools.tag_filter(conv_tab)
                c_search = gr.Button("Search", variant="primary", elem_id="op-conv-search")
                conv_table = gr.Dataframe(
                    headers=CONVERSATION_VIEW,
                    interactive=False,
                    wrap=True,
                    elem_id="op-conversations",
                    max_height=420,
                    column_widths=CONVERSATION_WIDTHS,
                )
                with gr.Row():
                    c_prev = gr.Button("◀ Newer", size="sm")
                    c_info = gr.Markdown("", elem_id="op-conv-page")
                    c_next = gr.Button("Older ▶", size="sm")
            with gr.Tab("Replies", elem_id="op-list-replies"):
                with gr.Row():
                    r_rating = gr.Dropdown(["any", "good", "bad", "none"], value="any", label="Rating")
                    r_sent = gr.Dropdown(["any", *op.SENTIMENTS], value="any", label="Customer sentiment")
                    r_esc = gr.Dropdown(["any", "yes", "no"], value="any", label="Escalated")
                    r_adapter = gr.Textbox(label="Adapter contains")
                with gr.Row():
                    r_from = gr.DateTime(label="From", include_time=False, type="string")
                    r_to = gr.DateTime(label="To", include_time=False, type="string")
                    r_text = gr.Textbox(label="Text contains", elem_id="op-reply-text")
                r_search = gr.Button("Search", variant="primary", elem_id="op-reply-search")
                reply_table = gr.Dataframe(
                    headers=REPLY_VIEW,
                    interactive=False,
                    wrap=True,
                    elem_id="op-replies",
                    max_height=420,
                    column_widths=REPLY_WIDTHS,
                )
                with gr.Row():
                    r_prev = gr.Button("◀ Newer", size="sm")
                    r_info = gr.Markdown("")
                    r_next = gr.Button("Older ▶", size="sm")
            with gr.Tab("Numbers") as numbers_tab:
                days = gr.Radio([7, 14, 30], value=14, label="Days")
                plot = gr.Plot(label="Per day (turns, not events)", elem_id="op-chart")
                numbers = gr.Dataframe(
                    headers=console_stats.HEADERS,
                    interactive=False,
                    wrap=True,
                    elem_id="op-numbers",
                    column_widths=console_stats.HEADER_WIDTHS,  # whole words at 1366 px; a phone scrolls
                )
                with gr.Row():
                    csv_dl = gr.DownloadButton("Daily report (CSV)", elem_id="op-report-csv")
                    md_dl = gr.DownloadButton("Daily report (markdown)", elem_id="op-report-md")
                team_tools.numbers(days, numbers_tab)
            with gr.Tab("Memory") as memory_tab:
                build_memory_tab(store, accounts.operator, guarded, token, memory_tab)
            with gr.Tab("Saved replies") as saved_tab:
                team_tools.saved_replies_tab(saved_tab)
            with gr.Tab("Gaps"):
                build_gaps_tab(
                    store,
                    lambda: getattr(assistant.retriever, "embedder", None),
                    accounts.operator,
                    guarded,
                    token,
                    learning,
                )
            with gr.Tab("Learning"):
                with gr.Row():
                    export_btn = gr.Button("1 · Export a dataset from the logs", elem_id="op-export")
                    dataset = gr.Dropdown([], label="Dataset", elem_id="op-dataset", allow_custom_value=False)
                    steps = gr.Number(40, label="Training steps", precision=0, minimum=1, elem_id="op-steps")
                    train_btn = gr.Button(
                        "2 · Train a LoRA adapter", variant="primary", elem_id="op-train", interactive=False
                    )
                    cancel_btn = gr.Button("Cancel the running job", elem_id="op-cancel")
                # Why Train is off (no export yet, too few examples in the chosen one).
                train_note = gr.Markdown("<small>Train needs an exported dataset.</small>", elem_id="op-train-note")
                # Each row's confirmations and refusals appear right under its buttons.
                learn_msg = gr.Markdown("", elem_id="op-learn-message")
                progress = gr.HTML("<small>No job has run yet.</small>", elem_id="op-progress")
                loss_plot = gr.LinePlot(x="step", y="loss", title="training loss", elem_id="op-loss", height=240)
                adapters_table = gr.Dataframe(
                    headers=ADAPTER_COLUMNS,
                    interactive=False,
                    elem_id="op-adapters",
                    wrap=True,
                    column_widths=["140px", "100px", "115px", "115px", "80px", "250px", "300px"],
                )
                gr.HTML(ADAPTER_NOTE)
                with gr.Row():
                    adapter = gr.Dropdown([], label="Adapter", elem_id="op-adapter")
                    eval_btn = gr.Button("3 · Evaluate against the live adapter", elem_id="op-eval")
                    promote_btn = gr.Button("4 · Promote", variant="primary", elem_id="op-promote")
                    rollback_btn = gr.Button("Roll back", elem_id="op-rollback")
                with gr.Row():
                    override_reason = gr.Textbox(
                        label="Promote anyway: why (kept in the adapter history with your name)",
                        scale=4,
                        elem_id="op-override-reason",
                    )
                    override_btn = gr.Button("Promote anyway", variant="stop", scale=1, elem_id="op-promote-anyway")
                adapter_msg = gr.Markdown("", elem_id="op-adapter-message")
                relevance_status = build_relevance_panel(
                    store,
                    lambda: getattr(assistant, "relevance_watcher", None),
                    accounts,
                    learning,
                    guarded,
                    token,
                    learn_msg,
                    progress,
                    lambda: job_view()[0],
                )
                build_runs(learning, accounts.operator, token)
            with gr.Tab("Operators") as operators_tab:  # accounts and roles; admins change them
                recreated = BOOTSTRAP_OPERATOR if cfg.app.operator_token else None  # app.py makes it at start
                build_operators_tab(accounts, guarded, token, operators_tab, recreated)
            with gr.Tab("Settings") as settings_tab:  # business name, greeting, colour, languages, help pages
                build_settings_tab(
                    assistant.settings, accounts, guarded, token, settings_tab, learning, lambda: job_view()[0]
                )
        with gr.Column(visible=False, elem_id="op-conversation") as conv_area:
            conv_header = gr.Markdown("", elem_id="op-conv-header")
            with gr.Row():
                take_btn = gr.Button("Take over", variant="primary", elem_id="op-take")
                back_btn = gr.Button("Hand back to the assistant", elem_id="op-hand-back")
                close_btn = gr.Button("Close", elem_id="op-close")
            conv_md = gr.Markdown("", elem_id="op-transcript")
            with gr.Row():
                reply = gr.Textbox(label="Your reply to the customer", lines=2, scale=4, elem_id="op-reply")
                send_btn = gr.Button("Send", variant="primary", scale=1, elem_id="op-send")
            team_tools.panel(conv_id, reply, conv_md, msg, lambda cid: conv_view(cid)[1], conv_header)
            turns_table = gr.Dataframe(
                headers=TURN_COLUMNS,
                datatype=["number", "str", "markdown"],  # replies read as the customer saw them (bold, lists)
                interactive=False,
                wrap=True,
                elem_id="op-turns",
                max_height=260,
                label="Click a turn to rate or relabel it",
            )
            selected = gr.Markdown("_No turn selected._", elem_id="op-selected")
            with gr.Row():
                good_btn = gr.Button("Mark good", elem_id="op-good")
                bad_btn = gr.Button("Mark bad", elem_id="op-bad")
            correction = gr.Textbox(
                label="Ideal answer (saves the reply as bad with this correction)", lines=2, elem_id="op-correction"
            )
            correct_btn = gr.Button("Save correction", elem_id="op-save-correction")
            with gr.Row():
                label = gr.Dropdown(
                    list(op.SENTIMENTS), value=None, label="Customer turn's sentiment", elem_id="op-label"
                )
                label_btn = gr.Button("Save sentiment label", elem_id="op-save-label")
            with gr.Row():  # teaches the relevance round when to decline (finetune/relevance_round.py)
                coverage = gr.Dropdown(
                    list(op.COVERAGE), value=None, label="Do the help pages answer the customer?", elem_id="op-coverage"
                )
                coverage_btn = gr.Button("Save coverage label", elem_id="op-save-coverage")
            entities = gr.Textbox(
                label='Customer turn\'s entities, e.g. [{"type": "ORG", "text": "Acme"}]', elem_id="op-entities"
            )
            entities_btn = gr.Button("Save entity labels", elem_id="op-save-entities")

    # --- views -----------------------------------------------------------------------------------
    def queue_rows(viewer: str):
        return queue_view.rows(viewer)  # theirs first and highlighted; closes abandoned items now and then

    def conv_view(cid):
        turns = op.conversation(store, cid)
        status = handoff.status(cid)
        who = {
            "assistant": "the assistant answers",
            "queued": "waiting in the queue",
            "human": f"{status.operator} answers",
            "closed": "closed",
        }[status.state]
        email = f" · replies e-mailed to {html.escape(status.contact_email)}" if status.contact_email else ""
        customer = md_plain(customer_label(cid, store.conversation_meta(cid), None))
        header = f"### Conversation `{cid}`\n{customer} · {len(turns)} turns · {who}{email}"
        # Markup a customer or a page typed stays text (escaped); markdown renders.
        table = [[t["id"], t["role"], html.escape(t["text"][:200], quote=False)] for t in turns]
        return header, transcript_with_notes(turns, store.notes(cid), transcript), table  # notes: internal

    def alert_text():
        notes = console_stats.alerts(console_stats.daily(store, 8)) + health_problems(assistant)
        return "".join(f"**Alert:** {html.escape(a)}\n\n" for a in notes)

    # --- handlers --------------------------------------------------------------------------------
    def do_signin(n, p, request: gr.Request):
        try:
            peer = request.client.host if request and request.client else ""
            forwarded = request.headers.get("x-forwarded-for") if request and request.headers else None
            session = accounts.sign_in(n, p, client=client_address(peer, forwarded, cfg.app.trusted_proxies))
        except LoopdeskError as exc:
            return (f"⚠️ {exc}", None, gr.update(), gr.update(), "", gr.skip(), gr.skip(), gr.skip(), gr.skip())
        return (
            "",
            session.token,
            gr.update(visible=False),
            gr.update(visible=True),
            f"Signed in as **{session.operator}** ({session.role}).",
            "",
            queue_rows(session.operator),
            alert_text(),
            gr.update(choices=learning.datasets() if learning else []),
        )

    @guarded(1)
    def do_signout(tok):
        accounts.sign_out(tok)
        return ("Signed out.",)

    @guarded(4)
    def do_refresh(tok, cid):
        operator = accounts.operator(tok)
        store.touch_operator(operator)  # presence: customers are told someone is online
        view = conv_view(cid)[1] if cid else gr.skip()
        return gr.skip(), queue_rows(operator), view, alert_text()

    def opener(columns: list[str]):
        @guarded(6)
        def do_open(tok, evt: gr.SelectData):
            accounts.operator(tok)
            cid = str(evt.row_value[columns.index("conversation")])  # each table has its own column order
            header, md, table = conv_view(cid)
            return "", cid, gr.update(visible=True), header, md, table

        return do_open

    @guarded(6)
    def do_open_reply(tok, evt: gr.SelectData):
        accounts.operator(tok)
        row = evt.row_value
        tid, cid = int(row[REPLY_VIEW.index("turn_id")]), str(row[REPLY_VIEW.index("conversation")])
        header, md, table = conv_view(cid)
        return "", cid, header, md, table, tid

    def answer_left_messages(cid: str) -> None:
        try:
            assistant.answer_held(cid)
        except Exception:  # the operator's click already succeeded: the cause goes to the log
            log.exception("could not answer the messages left in conversation %s after hand-back", cid)

    def handoff_action(verb):
        @guarded(5)
        def act(tok, cid):
            operator = accounts.operator(tok)
            if not cid:
                raise InputError("open a conversation first")
            {"take": handoff.take, "back": handoff.hand_back, "close": handoff.close}[verb](cid, operator)
            if verb == "back":  # what the customer wrote meanwhile is answered now, off the click's thread
                threading.Thread(target=answer_left_messages, args=(cid,), daemon=True).start()
            header, md, table = conv_view(cid)
            done = {
                "take": "You have taken the conversation; the assistant is silent until you hand it back.",
                "back": "Handed back: the assistant answers what the customer wrote meanwhile, and what comes next.",
                "close": "Closed.",
            }[verb]
            return done, header, md, queue_rows(operator), table

        return act

    @guarded(5)
    def do_send(tok, cid, text):
        operator = accounts.operator(tok)
        if not cid:
            raise InputError("open a conversation first")
        text, _ = assistant.redact(text or "")  # an operator's reply is stored like a customer's message
        handoff.reply(cid, operator, text)
        header, md, table = conv_view(cid)
        return "Sent.", "", md, table, queue_rows(operator)

    @guarded(2)
    def do_select_turn(tok, evt: gr.SelectData):
        accounts.operator(tok)
        tid = int(evt.row_value[0])
        return "", tid

    def selected_text(tid):
        return f"Selected turn **#{tid}**." if tid else "_No turn selected._"

    def rate_action(good, with_correction=False):
        @guarded(3)
        def act(tok, cid, tid, text=None):
            operator = accounts.operator(tok)
            if not tid:
                raise InputError("click a turn in the table first")
            if with_correction and not (text or "").strip():
                raise InputError("type the ideal answer first")
            op.rate(store, int(tid), good, text if with_correction else None, operator=operator)
            return (
                (
                    f"Turn #{tid} marked {'good' if good else 'bad'}"
                    + (" with a correction." if with_correction else ".")
                ),
                conv_view(cid)[1],
                (gr.update(value="") if with_correction else gr.skip()),
            )

        return act

    def label_action(task):
        @guarded(2)
        def act(tok, cid, tid, value):
            operator = accounts.operator(tok)
            if not tid:
                raise InputError("click a turn in the table first")
            user_turn = op.save_label(store, int(tid), task, value, operator)
            return f"Saved the {task} label for customer turn #{user_turn}.", conv_view(cid)[1]

        return act

    def page_of(total, page, per):
        if total > COUNT_CAP:
            return f"page {page} · more than {COUNT_CAP:,} found"
        pages = max(1, -(-total // per))
        return f"page {page} of {pages} · {total:,} found"

    @guarded(4)
    def do_conversations(tok, page, since, until, state, text, tag):
        accounts.operator(tok)
        rows, total = op.conversations(store, page, 25, since or None, until or None, text, state, tag)
        return "", [[r[c] for c in CONVERSATION_VIEW] for r in rows], page_of(total, page, 25), page

    @guarded(4)
    def do_replies(tok, page, rating, sent, esc, adapter_text, since, until, text):
        accounts.operator(tok)
        rows, total = op.replies(store, rating, sent, esc, adapter_text, since or None, until or None, text, page, 50)
        return "", [[r[c] for c in REPLY_VIEW] for r in rows], page_of(total, page, 50), page

    @guarded(6)
    def do_numbers(tok, n):
        accounts.operator(tok)
        rows = console_stats.daily(store, int(n))
        out = Path(tempfile.mkdtemp(prefix="loopdesk-report-"))
        (out / "daily-report.csv").write_text(console_stats.report_csv(rows))
        (out / "daily-report.md").write_text(console_stats.report_markdown(rows))
        table = [[console_stats.shown(k, r[k]) for k in console_stats.FIELDS] for r in rows]
        return "", chart(rows), table, str(out / "daily-report.csv"), str(out / "daily-report.md"), alert_text()

    # --- learning loop ---------------------------------------------------------------------------
    def job_view():
        import pandas as pd

        job = learning.job() if learning else None
        if not job:
            return "<small>No job has run yet.</small>", pd.DataFrame({"step": [], "loss": []})
        losses = pd.DataFrame(job["losses"] or [], columns=["step", "loss"])
        what = JOB_NAMES.get(job["kind"], job["kind"])
        if job.get("version"):
            what += f" of <code>{html.escape(job['version'])}</code>"
        head = (
            f"<b>{what}</b> by {html.escape(job['started_by'])} at {job['started_at'][:19].replace('T', ' ')}: "
            f"<b>{JOB_STATES.get(job['state'], job['state'])}</b>"
        )
        if job["state"] == "running" and job["total"]:
            stage = html.escape(job.get("stage") or "")
            left = job.get("seconds_left")
            head += (
                f" · {stage + ': ' if stage else ''}{job['step']} of {job['total']}"
                + (f" · about {_duration(left)} left" if left else "")
                + f"<br><progress value='{job['step']}' max='{max(job['total'], 1)}' style='width:100%'></progress>"
            )
        elif job["kind"] == "train" and job["total"]:
            head += f" · step {job['step']} of {job['total']}"
        if job["state"] == "done" and job["kind"] == "export" and job.get("result"):
            head += f"<br>{html.escape(summary(job['result']))}"
        if job["state"] == "done" and job["kind"] == "relevance" and job.get("result"):
            head += f"<br>{round_summary(job['result'])}"
        if job.get("error"):
            head += f"<br><span style='color:#b91c1c'>{html.escape(job['error'])}</span>"
        return head, losses

    def relevance_view() -> str:
        return relevance_panel_status(store, getattr(assistant, "relevance_watcher", None))

    def adapter_rows():
        rows = learning.adapters() if learning else []
        return [[r[c] for c in ADAPTER_COLUMNS] for r in rows], gr.update(choices=[r["version"] for r in rows])

    def learner(tok, admin_for: str = "") -> str:
        """The signed-in operator, when this app has the learning loop (and an admin for `admin_for`)."""
        operator = accounts.require_admin(tok, admin_for) if admin_for else accounts.operator(tok)
        if learning is None:
            raise InputError("the learning loop is not available in this app")
        return operator

    @guarded(3)
    def do_export(tok):
        learning.start_export(learner(tok))
        head, _ = job_view()
        return "Export started; it appears under Dataset when it is complete.", gr.skip(), head

    @guarded(3)
    def do_train(tok, ds, n):
        state = learning.start_training(ds, int(n or 0), learner(tok))
        head, losses = job_view()
        return f"Training of `{state['version']}` started.", head, losses

    @guarded(3)
    def do_eval(tok, version):
        operator = learner(tok)
        if not version:
            raise InputError("choose an adapter to evaluate")
        learning.start_eval(version, operator)
        head, losses = job_view()
        return f"Evaluation of `{version}` against the live adapter started.", head, losses

    @guarded(3)
    def do_promote(tok, version):
        result = learning.promote(version, learner(tok, "promote adapters"))
        rows, choices = adapter_rows()
        return f"Live adapter: `{result['live']}` ({html.escape(result.get('reason', ''))}).", rows, choices

    @guarded(3)
    def do_cancel(tok):
        # Training writes its adapter under a temp name and renames it when done: a cancelled job
        # leaves no half-written adapter behind.
        learning.cancel(learner(tok))
        head, losses = job_view()
        return "The running job was stopped.", head, losses

    @guarded(3)
    def do_promote_anyway(tok, version, reason):
        if not (reason or "").strip():
            raise InputError("say why you promote without a passing evaluation: it is kept in the history")
        result = learning.promote(version, learner(tok, "promote adapters"), override_reason=reason)
        rows, choices = adapter_rows()
        return f"Live adapter: `{result['live']}` ({html.escape(result.get('reason', ''))}).", rows, choices

    @guarded(3)
    def do_rollback(tok):
        result = learning.rollback(learner(tok, "roll back adapters"))
        rows, choices = adapter_rows()
        return f"Live adapter: `{result['live'] or 'none (base model)'}`.", rows, choices

    @guarded(6)
    def do_job(tok, chosen):
        accounts.operator(tok)
        head, losses = job_view()
        rows, choices = adapter_rows()
        found = learning.datasets() if learning else []
        # Keep the operator's choice; pick the newest export when none is chosen (or it is gone).
        pick = chosen if chosen in found else (found[0] if found else None)
        return gr.skip(), head, losses, rows, choices, gr.update(choices=found, value=pick)

    # --- wiring ----------------------------------------------------------------------------------
    signed_in = [msg, token, signin, area, me, password, queue_table, alert, dataset]
    numbers_outputs = [msg, plot, numbers, csv_dl, md_dl, alert]
    for trigger in (signin_btn.click, password.submit):
        trigger(do_signin, [name, password], signed_in).then(
            lambda t, d: do_numbers(t, d) if t else (gr.skip(),) * 6, [token, days], numbers_outputs
        ).then(
            lambda t, d: do_job(t, d) if t else (gr.skip(),) * 6,
            [token, dataset],
            [learn_msg, progress, loss_plot, adapters_table, adapter, dataset],
        ).then(lambda t: relevance_view() if t else gr.skip(), [token], relevance_status).then(
            queue_tab.after_sign_in,
            [token, queue_tab.assignee],
            [queue_tab.status, queue_tab.team_md, queue_tab.assignee],
        )
    signout.click(do_signout, [token], [msg]).then(
        lambda: (None, gr.update(visible=True), gr.update(visible=False)), None, [token, signin, area]
    )
    gr.Timer(5).tick(
        lambda t, c: do_refresh(t, c) if t else (gr.skip(),) * 4,
        [token, conv_id],
        [msg, queue_table, conv_md, alert],
        show_progress="hidden",  # the background refresh must not dim the queue every 5 s
    )
    queue_table.select(opener(QUEUE_COLUMNS), [token], [msg, conv_id, conv_area, conv_header, conv_md, turns_table])
    conv_table.select(opener(CONVERSATION_VIEW), [token], [msg, conv_id, conv_area, conv_header, conv_md, turns_table])
    reply_table.select(do_open_reply, [token], [msg, conv_id, conv_header, conv_md, turns_table, turn_id]).then(
        lambda: gr.update(visible=True), None, conv_area
    ).then(selected_text, turn_id, selected)
    for btn, verb in ((take_btn, "take"), (back_btn, "back"), (close_btn, "close")):
        btn.click(handoff_action(verb), [token, conv_id], [msg, conv_header, conv_md, queue_table, turns_table])
    send_btn.click(do_send, [token, conv_id, reply], [msg, reply, conv_md, turns_table, queue_table])
    reply.submit(do_send, [token, conv_id, reply], [msg, reply, conv_md, turns_table, queue_table])
    turns_table.select(do_select_turn, [token], [msg, turn_id]).then(selected_text, turn_id, selected)
    good_btn.click(rate_action(True), [token, conv_id, turn_id], [msg, conv_md, correction])
    bad_btn.click(rate_action(False), [token, conv_id, turn_id], [msg, conv_md, correction])
    correct_btn.click(rate_action(False, True), [token, conv_id, turn_id, correction], [msg, conv_md, correction])
    label_btn.click(label_action("sentiment"), [token, conv_id, turn_id, label], [msg, conv_md])
    entities_btn.click(label_action("ner"), [token, conv_id, turn_id, entities], [msg, conv_md])
    coverage_btn.click(label_action("covered"), [token, conv_id, turn_id, coverage], [msg, conv_md])
    conv_inputs = [c_from, c_to, c_state, c_text, c_tag]
    conv_outputs = [msg, conv_table, c_info, conv_page]
    c_search.click(lambda t, *a: do_conversations(t, 1, *a), [token, *conv_inputs], conv_outputs)
    c_prev.click(
        lambda t, p, *a: do_conversations(t, max(1, p - 1), *a), [token, conv_page, *conv_inputs], conv_outputs
    )
    c_next.click(lambda t, p, *a: do_conversations(t, p + 1, *a), [token, conv_page, *conv_inputs], conv_outputs)
    reply_inputs = [r_rating, r_sent, r_esc, r_adapter, r_from, r_to, r_text]
    reply_outputs = [msg, reply_table, r_info, reply_page]
    r_search.click(lambda t, *a: do_replies(t, 1, *a), [token, *reply_inputs], reply_outputs)
    r_prev.click(lambda t, p, *a: do_replies(t, max(1, p - 1), *a), [token, reply_page, *reply_inputs], reply_outputs)
    r_next.click(lambda t, p, *a: do_replies(t, p + 1, *a), [token, reply_page, *reply_inputs], reply_outputs)
    days.change(do_numbers, [token, days], numbers_outputs)
    export_btn.click(do_export, [token], [learn_msg, dataset, progress])
    train_btn.click(do_train, [token, dataset, steps], [learn_msg, progress, loss_plot])
    dataset.change(
        lambda t, d: train_gate(learning, d) if t else (gr.skip(),) * 2, [token, dataset], [train_btn, train_note]
    )
    eval_btn.click(do_eval, [token, adapter], [adapter_msg, progress, loss_plot])
    cancel_btn.click(do_cancel, [token], [learn_msg, progress, loss_plot])
    promote_btn.click(do_promote, [token, adapter], [adapter_msg, adapters_table, adapter])
    override_btn.click(do_promote_anyway, [token, adapter, override_reason], [adapter_msg, adapters_table, adapter])
    rollback_btn.click(do_rollback, [token], [adapter_msg, adapters_table, adapter])
    gr.Timer(3).tick(
        lambda t, d: do_job(t, d) if t else (gr.skip(),) * 6,
        [token, dataset],
        [learn_msg, progress, loss_plot, adapters_table, adapter, dataset],
        show_progress="hidden",
    ).then(lambda t: relevance_view() if t else gr.skip(), [token], relevance_status, show_progress="hidden")
