"""loopdesk chat app (Gradio) — also the Hugging Face Spaces entry point.

    python app.py [--port 7860] [--host 0.0.0.0]      # or: loopdesk serve

Gradio only: UI events are adapted to `Assistant` calls (respond, feedback, new conversation).
On first start without an index, the bundled demo knowledge base is indexed (Spaces has no
`make install`). Any failure inside a turn becomes a friendly message and the app keeps serving.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import os
import re

import gradio as gr

from assistant.config import Config, load_config
from assistant.errors import LoopdeskError

log = logging.getLogger("loopdesk.app")

CSS = """
#insights { font-size: 0.9em; }
.escalation { color: #b45309; font-weight: 600; }
"""


def ensure_demo_index(cfg: Config) -> None:
    """Index the bundled demo knowledge base when no index exists yet (first start, Spaces)."""
    import index
    from index.builder import build_index, current_build
    from index.embedder import SentenceEmbedder

    if current_build(cfg.index_dir) is None and not cfg.retrieval.index_dir:
        build_index([index.DEMO_KB], cfg.index_dir, SentenceEmbedder(cfg.models.embedder, cfg.home))


def render_insights(result) -> str:
    """Markdown for the insights panel of the last turn."""
    if result is None:
        return "_Ask a question to see what the assistant understood._"
    d = result.to_json()
    s = d["sentiment"]
    sentiment = (f"{s['label']} (" + ", ".join(f"{k} {v:.2f}" for k, v in s["scores"].items()) + ")") if s else "not configured"
    ents = ", ".join(f"`{e['type']}` {html.escape(e['text'])}" for e in d["entities"]) or "none"
    lines = [f"**Language:** {d['language']}", f"**Sentiment:** {sentiment}", f"**Entities:** {ents}", "**Sources:**"]
    if d["sources"]:
        for i, (src, p) in enumerate(zip(d["sources"], result.passages), 1):
            snippet = html.escape(p.text[:140].replace("\n", " "))
            lines.append(f"{i}. **{html.escape(p.title or src['source'])}** › {html.escape(src['heading'] or '')} "
                         f"— score {src['score']:.2f}  \n   <small>{snippet}…</small>")
    else:
        lines.append("none")
    if d["escalation_reason"]:
        lines.append(f"<span class='escalation'>Escalation: {d['escalation_reason'].replace('_', ' ')}</span>")
    for note in d["notes"]:
        lines.append(f"> {html.escape(note)}")
    lines.append(f"<small>{d['latency_ms']:.0f} ms · model {html.escape(d['model'] or '')}"
                 f" · adapter {html.escape(d['adapter'] or 'none')}</small>")
    return "\n\n".join(lines)


def cited_sources(result) -> str:
    """The passages a reply cites as [n], listed under it (title › heading), so every citation
    is shown with the answer it supports."""
    cited = sorted({int(n) for n in re.findall(r"\[(\d+)\]", result.reply)})
    lines = [f"[{n}] {html.escape(p.title or p.source)} › {html.escape(p.heading or '')}"
             for n in cited if 1 <= n <= len(result.passages) for p in [result.passages[n - 1]]]
    return ("\n\n<small>" + "<br>".join(lines) + "</small>") if lines else ""


def feedback_chart(store):
    """Matplotlib figure: good/bad ratings and escalations per day."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from assistant.operator import daily_counts

    days = daily_counts(store)
    fig, ax = plt.subplots(figsize=(7, 2.8))
    labels = list(days) or ["(no data)"]
    for key, colour in (("good", "#16a34a"), ("bad", "#dc2626"), ("escalations", "#d97706")):
        ax.plot(labels, [days[d][key] for d in days] or [0], marker="o", label=key, color=colour)
    ax.legend(loc="upper left")
    ax.set_ylabel("per day")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def build_operator_page(assistant, cfg: Config) -> None:
    """The operator area (its own route, behind `app.operator_token`): browse, rate, correct, relabel."""
    from assistant import operator as op

    store = assistant.store
    gr.Navbar(visible=False)
    gr.Markdown("## loopdesk operator area")
    if not cfg.app.operator_token:
        gr.Markdown("The operator area is disabled: set `LOOPDESK_APP_OPERATOR_TOKEN` (or `app.operator_token`) "
                    "and restart.")
        return
    token = gr.Textbox(label="Operator token", type="password", elem_id="op-token")
    unlock = gr.Button("Unlock", elem_id="op-unlock")
    message = gr.Markdown("", elem_id="op-message")
    with gr.Column(visible=False) as area:
        with gr.Row():
            fb = gr.Dropdown(["any", "good", "bad", "none"], value="any", label="Feedback")
            sent = gr.Dropdown(["any", "negative", "neutral", "positive"], value="any", label="Sentiment")
            esc = gr.Dropdown(["any", "yes", "no"], value="any", label="Escalated")
            adapter = gr.Textbox(label="Adapter contains")
            since = gr.Textbox(label="From (YYYY-MM-DD)")
            until = gr.Textbox(label="To (YYYY-MM-DD)")
            text = gr.Textbox(label="Search text")
        search = gr.Button("Search", variant="primary", elem_id="op-search")
        table = gr.Dataframe(headers=op.COLUMNS, interactive=False, wrap=True, elem_id="op-table")
        with gr.Row():
            turn = gr.Number(label="Turn id", precision=0, elem_id="op-turn")
            good = gr.Button("Mark good")
            bad = gr.Button("Mark bad")
        correction = gr.Textbox(label="Ideal answer (correction for a bad turn)", lines=3, elem_id="op-correction")
        save_correction = gr.Button("Save correction (marks the turn bad)", elem_id="op-save-correction")
        with gr.Row():
            label = gr.Dropdown(["negative", "neutral", "positive"], label="Correct sentiment of the customer turn")
            save_label = gr.Button("Save sentiment label")
        entities = gr.Textbox(label='Correct entities, JSON: [{"type": "ORG", "text": "Acme"}]', lines=2)
        save_entities = gr.Button("Save entity labels")
        chart = gr.Plot(label="Feedback and escalations per day")

    def guard(tok):
        if not op.token_ok(tok, cfg.app.operator_token):
            raise gr.Error("Wrong operator token.")

    def do_unlock(tok):
        ok = op.token_ok(tok, cfg.app.operator_token)
        return gr.update(visible=ok), ("Unlocked." if ok else "Wrong operator token."), (feedback_chart(store) if ok else None)

    def do_search(tok, *filters):
        guard(tok)
        try:
            rows = op.browse(store, *filters)
        except LoopdeskError as exc:
            raise gr.Error(str(exc))
        return [[r[c] for c in op.COLUMNS] for r in rows], f"{len(rows)} turns"

    def do_rate(good_flag, tok, turn_id, text_value=None):
        guard(tok)
        try:
            op.rate(store, int(turn_id or 0), good_flag, text_value)
        except LoopdeskError as exc:
            raise gr.Error(str(exc))
        return f"Turn {int(turn_id)} marked {'good' if good_flag else 'bad'}" + (" with a correction." if text_value else "."), feedback_chart(store)

    def do_label(tok, turn_id, value, task):
        guard(tok)
        try:
            if task == "ner":
                value = json.loads(value or "[]")
                if not isinstance(value, list) or not all(isinstance(e, dict) and "type" in e and "text" in e for e in value):
                    raise LoopdeskError('entities must be a JSON list of {"type": ..., "text": ...}')
            elif value not in ("negative", "neutral", "positive"):
                raise LoopdeskError("choose a sentiment label")
            user_turn = op.customer_turn_of(store, int(turn_id or 0))
            store.add_label(user_turn, task, value)
        except (LoopdeskError, json.JSONDecodeError) as exc:
            raise gr.Error(str(exc))
        return f"Saved {task} label for customer turn {user_turn}."

    filters = [token, fb, sent, esc, adapter, since, until, text]
    unlock.click(do_unlock, token, [area, message, chart])
    token.submit(do_unlock, token, [area, message, chart])
    search.click(do_search, filters, [table, message])
    good.click(lambda t, n: do_rate(True, t, n), [token, turn], [message, chart])
    bad.click(lambda t, n: do_rate(False, t, n), [token, turn], [message, chart])
    save_correction.click(lambda t, n, c: do_rate(False, t, n, c), [token, turn, correction], [message, chart])
    save_label.click(lambda t, n, v: do_label(t, n, v, "sentiment"), [token, turn, label], message)
    save_entities.click(lambda t, n, v: do_label(t, n, v, "ner"), [token, turn, entities], message)


def build_ui(assistant, cfg: Config) -> gr.Blocks:
    with gr.Blocks(title=cfg.page_title) as demo:
        gr.Navbar(visible=False)  # customers see no link to the operator page
        conversation = gr.State(None)  # conversation id
        turn_ids = gr.State({})  # chatbot message index -> stored assistant turn id
        gr.Markdown(f"## {html.escape(cfg.page_title)}")
        with gr.Row():
            with gr.Column(scale=3):
                greeting = [{"role": "assistant", "content": cfg.greeting}]
                chatbot = gr.Chatbot(value=greeting, label="Chat", elem_id="chat", height=480,
                                     feedback_options=("Like", "Dislike"))
                message = gr.Textbox(placeholder="Type your question and press Enter", label="Your message",
                                     elem_id="message", max_lines=6)
                with gr.Row():
                    send = gr.Button("Send", variant="primary", elem_id="send")
                    new = gr.Button("New conversation", elem_id="new-conversation")
                status = gr.Markdown("", elem_id="status")
            with gr.Column(scale=2):
                gr.Markdown("### Insights (last turn)")
                insights = gr.Markdown(render_insights(None), elem_id="insights")

        def on_message(text, history, conv, ids):
            history = list(history or [])
            history.append({"role": "user", "content": text or ""})
            history.append({"role": "assistant", "content": ""})
            result = None
            try:
                for kind, value in assistant.respond_stream(conv, text):
                    if kind == "token":
                        history[-1]["content"] += value
                        yield history, "", gr.update(), conv, ids
                    elif kind == "replace":  # the generated text failed the grounding check
                        history[-1]["content"] = value
                        yield history, "", gr.update(), conv, ids
                    else:
                        result = value
            except LoopdeskError as exc:
                history[-1]["content"] = f"Sorry, I could not process that: {exc}"
            except Exception:  # the app must keep serving whatever happens in a turn
                log.exception("turn failed")
                history[-1]["content"] = "Sorry — something went wrong on our side. Please try again."
            if result is not None:
                history[-1]["content"] = result.reply + cited_sources(result)
                if result.turn_id is None:  # nothing was sent to the model (empty message)
                    history = history[:-2] + [{"role": "assistant", "content": result.reply}]
                else:
                    conv = result.conversation_id
                    ids = {**ids, str(len(history) - 1): result.turn_id}
            yield history, "", render_insights(result), conv, ids

        def on_like(ids, data: gr.LikeData):
            index = data.index if isinstance(data.index, int) else data.index[0]
            turn = ids.get(str(index))
            if turn is None:
                return "This message cannot be rated."
            liked = data.liked if isinstance(data.liked, bool) else str(data.liked).lower() == "like"
            try:
                assistant.store.add_feedback(turn, 1 if liked else -1)
            except LoopdeskError as exc:
                return f"Feedback not saved: {exc}"
            return "Thanks for the feedback!" if liked else "Thanks — we'll use this to improve."

        def on_new():
            return list(greeting), "", render_insights(None), None, {}, ""

        outputs = [chatbot, message, insights, conversation, turn_ids]
        message.submit(on_message, [message, chatbot, conversation, turn_ids], outputs)
        send.click(on_message, [message, chatbot, conversation, turn_ids], outputs)
        chatbot.like(on_like, [turn_ids], [status])
        new.click(on_new, None, outputs + [status])
    with demo.route("Operator", "/operator"):
        build_operator_page(assistant, cfg)
    return demo


def launch(cfg: Config) -> None:
    import index
    from assistant.build import build_assistant

    logging.basicConfig(level=logging.INFO)
    try:
        ensure_demo_index(cfg)
    except LoopdeskError as exc:
        log.warning("demo index not built: %s", exc)
    assistant = build_assistant(cfg, index.open_for_config)
    demo = build_ui(assistant, cfg)
    demo.queue(default_concurrency_limit=1).launch(server_name=cfg.app.host, server_port=cfg.app.port, css=CSS,
                                                   show_error=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--host", default=None)
    args = parser.parse_args()
    if os.environ.get("SPACE_ID"):  # Hugging Face Spaces: listen on all interfaces
        os.environ.setdefault("LOOPDESK_APP_HOST", "0.0.0.0")
    launch(load_config(overrides={"app.port": args.port, "app.host": args.host}))


if __name__ == "__main__":
    main()
