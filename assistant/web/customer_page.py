"""The customer page (Gradio): the business's name, greeting and colour, the chat, who is
answering, thumbs on real answers, a character counter, and "New conversation".

Only event wiring: every action is a `ChatSession` call (`assistant/web/chat_session.py`). Nothing
about sentiment, escalation reasons, models or adapters is shown here; the console has them.
"""

from __future__ import annotations

import html
import uuid

import gradio as gr

from assistant.turn import messages
from assistant.web.chat_session import ChatSession, Sessions
from assistant.config import Config
from assistant.errors import LoopdeskError

POLL_S = 2.0  # how often an open page looks for a person's replies


def css(colour: str) -> str:
    return f"""
.gradio-container {{ --color-accent: {colour}; --button-primary-background-fill: {colour};
  --button-primary-background-fill-hover: {colour}; --button-primary-border-color: {colour};
  --checkbox-background-color-selected: {colour}; }}
#brand h2 {{ color: {colour}; margin-bottom: 0; }}
#who {{ font-size: .95em; color: #374151; }}
#counter {{ font-size: .8em; color: #6b7280; text-align: right; }}
#counter.over, #counter .over {{ color: #b91c1c; font-weight: 600; }}
#chat button[aria-label="Clear"], #chat button[title="Clear"] {{ display: none; }}
.nav-holder {{ display: none !important; }}
#chat .message-row:has(.no-rate) + .message-buttons-left button[aria-label="Like"],
#chat .message-row:has(.no-rate) + .message-buttons-left button[aria-label="Dislike"] {{ display: none; }}
.pending-note {{ color: #6b7280; font-size: .85em; }}
"""


def counter_js(limit: int) -> str:
    """Client-side counter (no server round trip per key): warns before the message would be cut."""
    return (
        f"(t) => {{ const n = (t || '').length; return n > {limit} ? "
        f"`<span class='over'>${{n.toLocaleString()}} / {limit:,} characters: only the first {limit:,} will be "
        f"read. Please shorten your message.</span>` : `${{n.toLocaleString()}} / {limit:,}`; }}"
    )


def who_text(session: ChatSession, business: str) -> str:
    s = session.status()
    lang = "en"
    if s.state == "human":
        name = html.escape((s.operator or "A colleague").title())
        return f"**{name}** from the {html.escape(business)} team is answering."
    if s.state == "queued":
        if not s.online:
            note = f" We'll reply to {html.escape(s.contact_email)}." if s.contact_email else ""
            return f"Waiting for the {html.escape(business)} team — no one is online right now.{note}"
        return (
            f"Waiting for a person from the {html.escape(business)} team · number {s.position or 1} in line · "
            f"{messages.wait_phrase(s.wait_s, lang)}."
        )
    return f"You're chatting with the {html.escape(business)} assistant. Ask for a person at any time."


def chat_value(session: ChatSession) -> list[dict]:
    """The chat for the page: messages so far, then the customer's queued messages (sent next)."""
    out = []
    for m in session.messages:
        content = m.content or "…"
        if m.role == "assistant" and not m.rateable:  # greetings, notes, canned messages: no thumbs
            content += '<span class="no-rate"></span>'
        out.append({"role": m.role, "content": content})
    for _, _, text in list(session.pending):
        out.append(
            {
                "role": "user",
                "content": html.escape(text) + '<br><span class="pending-note">queued — sent '
                "when the current answer is done</span>",
            }
        )
    return out


def build_customer_page(assistant, cfg: Config) -> None:
    """The chat page's components and events (call inside a `gr.Blocks`)."""
    sessions = Sessions(assistant, cfg.greeting)
    business = cfg.app.business_name
    limit = cfg.policy.max_message_chars
    # One key per page load, made on the server: two messages sent before the first reply came
    # back must land in the same session (a key returned by the first event arrives too late).
    key = gr.State(lambda: uuid.uuid4().hex)
    gr.Markdown(f"## {html.escape(cfg.page_title)}", elem_id="brand")
    who = gr.Markdown(
        f"You're chatting with the {html.escape(business)} assistant. Ask for a person at any time.", elem_id="who"
    )
    chatbot = gr.Chatbot(
        value=[{"role": "assistant", "content": cfg.greeting + '<span class="no-rate"></span>'}],
        label=business,
        show_label=False,
        elem_id="chat",
        height=520,
        buttons=["copy"],
        feedback_options=("Like", "Dislike"),
        group_consecutive_messages=False,
    )
    thanks = gr.Markdown("", elem_id="status")
    with gr.Row(visible=False, elem_id="email-row") as email_row:
        email = gr.Textbox(label="Your e-mail address", placeholder="name@example.com", scale=3, elem_id="email")
        email_send = gr.Button("Send", scale=1, elem_id="email-send")
    message = gr.Textbox(
        placeholder="Type your question and press Enter",
        show_label=False,
        elem_id="message",
        max_lines=6,
        autofocus=True,
    )
    counter = gr.HTML(f"0 / {limit:,}", elem_id="counter")
    sent_at = gr.Number(visible=False)  # the browser's clock at send, set by the submit's js
    with gr.Row():
        send = gr.Button("Send", variant="primary", elem_id="send")
        new = gr.Button("New conversation", elem_id="new-conversation")

    def view(session: ChatSession):
        status = session.status()
        show_email = (  # only where the shop sends e-mail (email.smtp_host): no promise it cannot keep
            bool(cfg.email.smtp_host) and status.state == "queued" and not status.online and not status.contact_email
        )
        return chat_value(session), who_text(session, business), gr.update(visible=show_email)

    def on_submit(text, k, sent_at):
        k, session = sessions.get(k)
        if not session.submit(text, sent_at):
            return k, gr.skip(), gr.update(), "_Type a message first._"
        return k, chat_value(session), gr.update(), ""

    def on_drain(k):
        k, session = sessions.get(k)
        for _ in session.drain():
            yield chat_value(session), gr.skip(), gr.skip()
        yield view(session)

    def on_poll(k):
        if not k:
            return gr.skip(), gr.skip(), gr.skip()
        k, session = sessions.get(k)
        if session.busy:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            session.poll()
        except LoopdeskError:
            return gr.skip(), gr.skip(), gr.skip()
        return view(session)

    def on_like(k, data: gr.LikeData):
        _, session = sessions.get(k)
        index = data.index if isinstance(data.index, int) else data.index[0]
        liked = data.liked if isinstance(data.liked, bool) else str(data.liked).lower() == "like"
        try:
            if not session.rate(index, liked):
                return ""
        except LoopdeskError:
            return "_Sorry, your rating could not be saved. Please try again._"
        return "**Thanks for your feedback!**" if liked else "**Thanks — we'll use this to improve.**"

    def on_email(text, k):
        _, session = sessions.get(k)
        try:
            saved = session.leave_email(text)
        except LoopdeskError as exc:
            return gr.update(), f"_{html.escape(str(exc))}_", gr.update()
        return "", messages.text("email_saved", "en", email=html.escape(saved)), gr.update(visible=False)

    def on_new(k):
        k, session = sessions.get(k)
        session.reset()
        return k, chat_value(session), "", who_text(session, business), gr.update(visible=False), f"0 / {limit:,}"

    outputs = [key, chatbot, email_row, thanks]
    for trigger in (message.submit, send.click):
        trigger(
            on_submit,
            [message, key, sent_at],
            outputs,
            queue=False,
            trigger_mode="multiple",
            js="(text, key, _) => [text, key, Date.now()]",
            show_progress="hidden",
        ).then(on_drain, [key], [chatbot, who, email_row], trigger_mode="multiple", show_progress="hidden")
        # The box is cleared in the browser, after the text was taken: a reply from the server that
        # cleared it could arrive after the customer started the next message and wipe it.
        trigger(None, None, [message, counter], js=f"() => ['', '0 / {limit:,}']", trigger_mode="multiple")
    message.input(None, [message], [counter], js=counter_js(limit))
    message.change(None, [message], [counter], js=counter_js(limit))  # pasted or set text too, not only typing
    chatbot.like(on_like, [key], [thanks], queue=False)
    chatbot.clear(on_new, [key], [key, chatbot, thanks, who, email_row, counter], queue=False)
    new.click(on_new, [key], [key, chatbot, thanks, who, email_row, counter], queue=False)
    email_send.click(on_email, [email, key], [email, thanks, email_row], queue=False)
    email.submit(on_email, [email, key], [email, thanks, email_row], queue=False)
    # No "pending" fade: the chat would dim every POLL_S seconds and while a reply streams.
    gr.Timer(POLL_S).tick(on_poll, [key], [chatbot, who, email_row], queue=False, show_progress="hidden")
