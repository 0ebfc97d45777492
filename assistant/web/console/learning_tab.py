"""The Learning tab's run history and its Train gate.

- Runs: every training, evaluation and answer-relevance round the experiment tracker recorded (`LearningLoop.runs`,
  MLflow or its plain-file fallback; `LearningLoop.tracker` says which), side by side in a team
  lead's words, newest first: when, who, what, answers right, better/worse/same, minutes, method.
- Train gate: the Train button is disabled, with the reason under it, while the chosen export has too
  few examples (`LearningLoop.training_readiness`); `start_training` refuses on the server as well.

Built inside `build_console`'s Learning tab (`assistant/web/console/page.py`); the learning loop is
injected (`finetune.jobs.LearningLoop`), never imported here.
"""

from __future__ import annotations

import html
from datetime import datetime

import gradio as gr

RUN_COLUMNS = ["when", "who", "what", "answers right", "better / worse / same", "minutes", "method"]
RUNS_NOTE = (
    "<small><b>answers right</b>: share of the promotion questions answered by the adapter evaluated / by the "
    "one it was compared with. <b>better / worse / same</b>: questions the adapter answered and the other did "
    "not, the other way round, and alike. For an answer-relevance round: reviewed questions answered right (or "
    "rightly declined) by the candidate / by the live model.</small>"
)
METHODS = {"lora": "LoRA", "adalora": "AdaLoRA", "prefix": "prefix tuning", "ia3": "IA³"}


def _when(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso or "—"


def _percent(value) -> str:
    return f"{round(float(value) * 100)}%" if isinstance(value, (int, float)) else "—"


def _count(value) -> str:
    return str(round(value)) if isinstance(value, (int, float)) else "?"


def _minutes(value) -> str:
    if not isinstance(value, (int, float)):
        return "—"
    return "under 1" if value < 1 else str(round(value))


def _what(run: dict) -> str:
    p = run.get("params") or {}
    adapter = run.get("adapter") or p.get("adapter") or "?"
    if run.get("kind") == "train":
        examples = p.get("examples")
        of = f" ({examples} examples)" if examples else ""
        return f"Training of adapter {adapter} on {p.get('dataset') or '?'}{of}"
    if run.get("kind") == "eval":
        against = p.get("compared_with") or ""
        against = f"live adapter {against}" if against and against != "base model" else "the base model"
        evidence = " (kept as its promotion evidence)" if p.get("recorded_as_evidence") == "yes" else ""
        return f"Evaluation of {adapter} against {against}{evidence}"
    return run.get("what") or run.get("name") or "?"


def run_rows(runs: list[dict]) -> list[list[str]]:
    """The runs table's rows (newest first): words and rounded numbers, no raw records."""
    out = []
    for run in sorted(runs, key=lambda r: r.get("started_at") or "", reverse=True):
        m, p = run.get("metrics") or {}, run.get("params") or {}
        right, versus = "—", "—"
        if run.get("kind") == "relevance":  # reviewed questions, each judged by a candidate without it
            right = f"{_percent(m.get('reach_right_candidate'))} vs {_percent(m.get('reach_right_live'))}"
            versus = f"{_count(m.get('better'))} better, {_count(m.get('worse'))} worse, {_count(m.get('same'))} same"
        if run.get("kind") == "eval":
            other = m.get("live_answer_accuracy", m.get("base_answer_accuracy"))
            if "adapter_answer_accuracy" in m:
                right = f"{_percent(m['adapter_answer_accuracy'])} vs {_percent(other)}"
            else:
                right = "not measured"
            if "better" in m:
                versus = f"{_count(m['better'])} better, {_count(m.get('worse'))} worse, {_count(m.get('same'))} same"
        method = p.get("method") or ""
        out.append(
            [
                _when(run.get("started_at", "")),
                run.get("by") or "—",
                _what(run),
                right,
                versus,
                _minutes(m.get("minutes")),
                METHODS.get(method, method or "—"),
            ]
        )
    return out


def train_gate(learning, dataset: str | None) -> tuple[dict, str]:
    """The Train button's state for the chosen export and the sentence under it (why it is off)."""
    if learning is None:
        return gr.update(interactive=False), "This app runs no background jobs, so it cannot train."
    ready, why = learning.training_readiness(dataset)
    return gr.update(interactive=ready), (f"<small>{html.escape(why)}</small>" if why else "")


def build_runs(learning, operator_of, tok) -> None:
    """The runs table and which store records them; refreshed when a run is recorded (a cheap check of
    the store's files every few seconds), never on a signed-out page."""
    gr.Markdown("#### Runs (training and evaluation, newest first)")
    where = gr.Markdown("", elem_id="op-runs-store")
    table = gr.Dataframe(
        headers=RUN_COLUMNS,
        interactive=False,
        wrap=True,
        elem_id="op-runs",
        max_height=360,
        column_widths=["130px", "90px", "420px", "110px", "170px", "80px", "100px"],
    )
    gr.HTML(RUNS_NOTE)
    seen = gr.State(None)

    def refresh(token, last):
        if not token or learning is None:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            operator_of(token)
        except Exception:  # signed out or expired: show nothing new
            return gr.skip(), gr.skip(), gr.skip()
        now = learning.runs_stamp()
        if last == now:
            return gr.skip(), gr.skip(), gr.skip()
        rows = run_rows(learning.runs())
        said = learning.tracker() + ("" if rows else " No run has been recorded yet.")
        return f"<small>{html.escape(said)}</small>", rows, now

    gr.Timer(5).tick(refresh, [tok, seen], [where, table, seen], show_progress="hidden")
