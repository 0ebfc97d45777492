"""The Learning tab's answer-relevance panel: which relevance model decides what the knowledge base
answers (the configured file, or one a round promoted: who, when, what the gate saw), and buttons to
run a round from the operators' feedback and to roll back.

A round (`finetune relevance-round`, run as the console's one background job) learns from replies rated
good, corrections and "in the pages / not in the pages" labels; only an admin's round may promote, and
only when the gate finds the candidate better. Built inside the Learning tab (`page.py`).
"""

from __future__ import annotations

import html
from typing import Callable

import gradio as gr

from assistant.errors import InputError
from assistant.grounding.live_relevance import KEY

NOTE = (
    "<small>A round re-chooses when to decline and retrains how answer sentences are ranked, from replies "
    "marked good, corrections and coverage labels (conversation view). It is compared with the live model "
    "on a third of that feedback it did not learn from and on the promotion questions; it goes live only "
    "when it is better there and no worse on the promotion questions. An admin's round promotes; others "
    "only measure.</small>"
)


def _pct(v) -> str:
    return "—" if v is None else f"{v:.0%}"


def round_summary(result: dict) -> str:
    """A finished round in a team lead's words (the job's JSON result)."""
    if not result or "gate" not in result:
        return ""
    ex, thr, enc, gate = result["examples"], result["threshold"], result["unit_encoder"], result["gate"]
    ranking = f"retrained on {enc['pairs']} question/answer pairs" if enc.get("pairs") else f"kept ({enc.get('why')})"
    reach, held = gate.get("reach", {}), gate.get("held", {})
    verdict = (
        "promoted: it serves now"
        if result.get("promoted")
        else "better, not promoted (an admin's round promotes)"
        if result.get("better")
        else "not promoted"
    )
    return (
        f"{ex['n']} reviewed questions, each checked by a candidate that did not learn from it. "
        f"Decline threshold {thr['live']:.2f} → {thr['candidate']:.2f}; answer ranking {ranking}. "
        f"Checked feedback: {reach.get('wins', 0)} better, {reach.get('losses', 0)} worse; promotion "
        f"questions: {held.get('wins', 0)} better, {held.get('losses', 0)} worse. {html.escape(gate['why'])} — "
        f"**{verdict}**."
    )


def status(store, watcher) -> str:
    try:
        record = store.deployed(KEY) or {}
    except Exception as exc:  # the panel says so; the log has it from the store
        return f"Answer relevance: the live record cannot be read ({html.escape(str(exc))})."
    if record.get("version"):
        text = (
            f"Answer relevance: round **{html.escape(record['version'])}**, promoted by "
            f"{html.escape(str(record.get('by')))} at {str(record.get('at'))[:16].replace('T', ' ')}"
        )
    else:
        text = "Answer relevance: the configured model (no round promoted)"
    problem = getattr(watcher, "last_error", None)
    if problem:
        text += f"<br><span style='color:#b91c1c'>{html.escape(problem)}</span>"
    return text + "."


def build_relevance_panel(
    store, watcher_of: Callable[[], object], accounts, learning, guarded, tok, msg, progress, job_head
) -> gr.Markdown:
    """Components and events; `msg` shows confirmations and refusals, `progress` the job (`job_head()`)."""
    gr.Markdown("#### Answer relevance (when to decline, which sentences answer)")
    shown = gr.Markdown("", elem_id="op-relevance-status")
    with gr.Row():
        round_btn = gr.Button("Retrain answer relevance from feedback", elem_id="op-relevance-round")
        back_btn = gr.Button("Roll back answer relevance", elem_id="op-relevance-rollback")
    gr.HTML(NOTE)

    @guarded(3)
    def do_round(token):
        operator = accounts.operator(token)
        if learning is None:
            raise InputError("the learning loop is not available in this app")
        admin = store.operator_role(operator) == "admin"
        learning.start_relevance_round(operator, promote=admin)
        started = "Relevance round started" + ("; it goes live if the gate finds it better." if admin else ".")
        return started, status(store, watcher_of()), job_head()

    @guarded(2)
    def do_rollback(token):
        operator = accounts.require_admin(token, "roll back the relevance model")
        if learning is None:
            raise InputError("the learning loop is not available in this app")
        record = learning.rollback_relevance(operator)
        return f"Answer relevance: back to {record.get('version') or 'the configured model'}.", status(
            store, watcher_of()
        )

    round_btn.click(do_round, [tok], [msg, shown, progress])
    back_btn.click(do_rollback, [tok], [msg, shown])
    return shown
