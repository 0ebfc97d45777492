"""The customer page (Gradio): the business's name, greeting and colour, the chat, who is
answering, thumbs on real answers, a character counter, and "New conversation".

Its words follow the conversation (`assistant/web/page_strings.py`): the browser's language
(`Accept-Language`) until the customer writes, then the language of their messages. `/?embed=1` is the
same page laid out for the `/widget.js` frame, with a close button (`assistant/web/customer_style.py`).

Only event wiring: every action is a `ChatSession` call (`assistant/web/chat_session.py`). Nothing
about sentiment, escalation reasons, models or adapters is shown here; the console has them.
"""

from __future__ import annotations

import html
import json
import logging
import urllib.parse
import uuid

import gradio as gr

from assistant.turn import messages
from assistant.turn.customer_info import customer_meta
from assistant.turn.handoff import valid_email
from assistant.web.chat_session import ChatSession, Sessions
from assistant.web.customer_style import CLOSE_JS, SET_LANG_JS, SET_LOOK_JS, counter_js, empty_count
from assistant.web.page_strings import language_from_header, page_text
from assistant.web.satisfaction import build_satisfaction
from assistant.config import Config
from assistant.errors import LoopdeskError

log = logging.getLogger("loopdesk.chat")
POLL_S = 2.0  # how often an open page looks for a person's replies


def who_text(session: ChatSession, business: str) -> str:
    """The status line, in the page's language: who answers now."""
    s, lang, biz = session.status(), session.language, html.escape(business)
    if s.state == "human":
        name = html.escape(s.operator.title()) if s.operator else page_text("a_colleague", lang)
        return page_text("who_human", lang, name=name, business=biz)
    if s.state == "queued":
        if not s.online:
            if s.contact_email:
                return page_text("who_offline_email", lang, business=biz, email=html.escape(s.contact_email))
            return page_text("who_offline", lang, business=biz)
        wait = messages.wait_phrase(s.wait_s, lang)
        return page_text("who_waiting", lang, business=biz, position=s.position or 1, wait=wait)
    return page_text("who_assistant", lang, business=biz)


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
                "content": html.escape(text)
                + f'<br><span class="pending-note">{page_text("pending", session.language)}</span>',
            }
        )
    return out


def build_customer_page(assistant, cfg: Config) -> None:
    """The chat page's components and events (call inside a `gr.Blocks`)."""
    business = cfg.app.business_name  # as the page is built; each page load reads the one in effect
    limit = cfg.policy.max_message_chars
    live = assistant.settings  # the owner's name, greeting and colour (console) over the config's

    # The shop's own title and greeting stay as written; the built-in ones are in the page's language.
    def title(lang: str) -> str:
        return cfg.app.title or page_text("title", lang, business=live.current().business_name)

    def greeting(lang: str) -> str:
        now = live.current()
        return now.greeting or page_text("greeting", lang, business=now.business_name)

    def look() -> str:
        now = live.current()
        return json.dumps({"colour": now.colour, "title": now.title})

    sessions = Sessions(assistant, greeting)
    # One key per page load, made on the server: two messages sent before the first reply came
    # back must land in the same session (a key returned by the first event arrives too late).
    key = gr.State(lambda: uuid.uuid4().hex)
    # The page's language where the browser's scripts read it (the counter, <html lang>).
    page_lang = gr.Textbox("en", visible=False, elem_id="page-lang")
    page_look = gr.Textbox("", visible=False, elem_id="page-look")  # colour and title in effect (SET_LOOK_JS)
    brand = gr.Markdown(f"## {html.escape(title('en'))}", elem_id="brand")
    close = gr.Button("✕ " + page_text("close"), size="sm", elem_id="widget-close")  # only in the widget's frame
    who = gr.Markdown(page_text("who_assistant", business=html.escape(business)), elem_id="who")
    chatbot = gr.Chatbot(
        value=[{"role": "assistant", "content": greeting("en") + '<span class="no-rate"></span>'}],
        label=business,
        show_label=False,
        elem_id="chat",
        height=520,
        buttons=["copy"],
        feedback_options=("Like", "Dislike"),
        group_consecutive_messages=False,
    )
    thanks = gr.Markdown("", elem_id="status")
    build_satisfaction(sessions, key, POLL_S)  # "How did we do?" once a person closed the conversation
    with gr.Row(visible=False, elem_id="email-row") as email_row:
        email = gr.Textbox(label=page_text("email_label"), placeholder="name@example.com", scale=3, elem_id="email")
        email_send = gr.Button(page_text("send"), scale=1, elem_id="email-send")
    message = gr.Textbox(
        placeholder=page_text("placeholder"),
        show_label=False,
        elem_id="message",
        max_lines=6,
        autofocus=True,
    )
    counter = gr.HTML(empty_count(limit, "en"), elem_id="counter")
    sent_at = gr.Number(visible=False)  # the browser's clock at send, set by the submit's js
    # Who the shop's page says the customer is (`#name=&email=`, set by `/widget.js`), read by the events'
    # js: a fragment never leaves the browser in a URL, so no access log or Referer carries it.
    given = gr.Textbox("", visible=False)
    with gr.Row():
        send = gr.Button(page_text("send"), variant="primary", elem_id="send")
        new = gr.Button(page_text("new_conversation"), elem_id="new-conversation")
    labelled = [page_lang, brand, close, email, email_send, message, send, new]

    def labels(session: ChatSession, force: bool = False) -> list:
        """The page's words in the session's language; skipped while the page already shows them
        (re-sending them every poll would redraw the box the customer types in)."""
        lang = session.language
        if lang == session.shown_language and not force:
            return [gr.skip()] * len(labelled)
        session.shown_language = lang
        return [
            lang,
            f"## {html.escape(title(lang))}",
            "✕ " + page_text("close", lang),
            gr.update(label=page_text("email_label", lang)),
            page_text("send", lang),
            gr.update(placeholder=page_text("placeholder", lang)),
            page_text("send", lang),
            page_text("new_conversation", lang),
        ]

    def view(session: ChatSession, force_labels: bool = False):
        status = session.status()
        show_email = (  # only where the shop sends e-mail (email.smtp_host): no promise it cannot keep
            bool(cfg.email.smtp_host) and status.state == "queued" and not status.online and not status.contact_email
        )
        return (
            chat_value(session),
            who_text(session, live.current().business_name),
            gr.update(visible=show_email),
            *labels(session, force_labels),
        )

    view_outputs = [chatbot, who, email_row, *labelled]
    unchanged = (gr.skip(),) * len(view_outputs)

    def on_open(k, fragment, request: gr.Request):
        """The page's key was just made (the page opened): until the customer writes, the page speaks
        the browser's language."""
        k, session = sessions.get(k)
        if session.conversation_id is None and not session.pending and not session.busy:
            session.set_language(language_from_header(request.headers.get("accept-language")))
        identify(session, fragment)
        return (*view(session, force_labels=True), look())

    def identify(session: ChatSession, fragment: str | None) -> None:
        """The shop's page that embeds the chat may say who its signed-in customer is (`#name=&email=`);
        read at the page's first call (not with each message: a fourth input on the send made two quick
        messages race, the first lost and the second shown twice, in tests/test_browser.py)."""
        if session.conversation_id is None and not session.customer and fragment:
            said = urllib.parse.parse_qs(fragment[:2000])
            session.customer = customer_meta(
                (said.get("name") or [""])[0], (said.get("email") or [""])[0], keep_email=not cfg.store.redact_contact
            )

    def on_submit(text, k, sent_at):
        k, session = sessions.get(k)
        if not session.submit(text, sent_at):
            return k, gr.skip(), gr.update(), f"_{page_text('type_first', session.language)}_"
        return k, chat_value(session), gr.update(), ""

    def on_drain(k):
        k, session = sessions.get(k)
        for _ in session.drain():
            yield (chat_value(session), *unchanged[1:])
        yield view(session)

    def on_poll(k):
        if not k:
            return unchanged
        k, session = sessions.get(k)
        if session.busy:
            return unchanged
        try:
            session.poll()
        except LoopdeskError:
            return unchanged
        return view(session)

    def on_like(k, data: gr.LikeData):
        _, session = sessions.get(k)
        index = data.index if isinstance(data.index, int) else data.index[0]
        liked = data.liked if isinstance(data.liked, bool) else str(data.liked).lower() == "like"
        lang = session.language
        try:
            if not session.rate(index, liked):
                return ""
        except LoopdeskError as exc:
            log.error("rating of message %s not stored: %s", index, exc)
            return f"_{page_text('rating_failed', lang)}_"
        return f"**{page_text('thanks_like' if liked else 'thanks_dislike', lang)}**"

    def on_email(text, k):
        _, session = sessions.get(k)
        lang = session.language
        if not valid_email((text or "").strip()):
            return gr.update(), f"_{page_text('email_invalid', lang)}_", gr.update()
        try:
            saved = session.leave_email(text)
        except LoopdeskError as exc:  # no conversation waiting, or the store: the log has which
            log.error("e-mail address for conversation %s not stored: %s", session.conversation_id, exc)
            return gr.update(), f"_{page_text('email_failed', lang)}_", gr.update()
        return "", messages.text("email_saved", lang, email=html.escape(saved)), gr.update(visible=False)

    def on_new(k):
        k, session = sessions.get(k)
        session.reset()
        lang = session.language
        return (
            k,
            chat_value(session),
            "",
            who_text(session, live.current().business_name),
            gr.update(visible=False),
            empty_count(limit, lang),
        )

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
        ).then(on_drain, [key], view_outputs, trigger_mode="multiple", show_progress="hidden")
        # The box is cleared in the browser, after the text was taken: a reply from the server that
        # cleared it could arrive after the customer started the next message and wipe it.
        trigger(
            None,
            [page_lang],
            [message, counter],
            js=f"(l) => ['', ({counter_js(limit)})('', l)]",
            trigger_mode="multiple",
        )
    message.input(None, [message, page_lang], [counter], js=counter_js(limit))
    # Pasted or set text too, not only typing; and the counter's words when the page's language changes.
    message.change(None, [message, page_lang], [counter], js=counter_js(limit))
    page_lang.change(None, [message, page_lang], [counter], js=counter_js(limit))
    page_lang.change(None, [page_lang], None, js=SET_LANG_JS)
    # The key is made when the page opens: its change is the page's first server call with the browser's headers.
    key.change(
        on_open,
        [key, given],
        [*view_outputs, page_look],
        js="(k, _) => [k, location.hash.slice(1)]",
        queue=False,
        show_progress="hidden",
    )
    page_look.change(None, [page_look], None, js=SET_LOOK_JS)
    close.click(None, None, None, js=CLOSE_JS)
    chatbot.like(on_like, [key], [thanks], queue=False)
    chatbot.clear(on_new, [key], [key, chatbot, thanks, who, email_row, counter], queue=False)
    new.click(on_new, [key], [key, chatbot, thanks, who, email_row, counter], queue=False)
    email_send.click(on_email, [email, key], [email, thanks, email_row], queue=False)
    email.submit(on_email, [email, key], [email, thanks, email_row], queue=False)
    # No "pending" fade: the chat would dim every POLL_S seconds and while a reply streams.
    gr.Timer(POLL_S).tick(on_poll, [key], view_outputs, queue=False, show_progress="hidden")
