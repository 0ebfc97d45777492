"""The customer's one-click satisfaction question, "How did we do?" Good / Bad, shown under the
chat once an operator has closed the conversation, and answered once per conversation.

Two buttons rather than a 1-5 scale: one click with nothing to weigh gets answered more often on a
chat page, reads the same in every language, and is what the console reports anyway (the share of
good answers); the thumbs customers already use on answers mean the same thing.

Asked only after a person closed the conversation (a `closed` event, not the sweep that closes
abandoned queue items), never twice: the store keeps one answer per conversation, the first. The
answer counts for the operator who had the conversation (else the one who closed it). The words are in
the page's language, else the conversation's (`assistant.turn.messages`, keys `satisfaction_*`).

`build_satisfaction` is called inside the customer page (`assistant/web/customer_page.py`); the rules
(`satisfaction_due`, `record_satisfaction`) need no Gradio. Tests: `tests/test_team.py`,
`tests/test_team_panel_browser.py`.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

import gradio as gr

from assistant.errors import LoopdeskError
from assistant.turn import messages

log = logging.getLogger("loopdesk.chat")
REMEMBERED_PAGES = 5000  # like the chat sessions: the least recently seen page is forgotten first


PERSON_EVENTS = frozenset({"taken", "transferred"})
STRETCH_STARTS = frozenset({"requested", "handed_back", "closed", "abandoned"})


def closed_after_a_person(events: list[dict]) -> bool:
    """Whether the conversation's last move is a `closed` event that ends a stretch a person held (taken
    or transferred since it was last requested, handed back or closed): closing a conversation nobody
    answered, or one handed back to the assistant long ago, asks the customer nothing."""
    moves = [e for e in events if e["kind"] not in ("assigned", "emailed", "email_failed")]
    if not moves or moves[-1]["kind"] != "closed":
        return False
    for e in reversed(moves[:-1]):
        if e["kind"] in PERSON_EVENTS:
            return True
        if e["kind"] in STRETCH_STARTS:
            return False
    return False


def satisfaction_due(store, conversation_id: str | None) -> bool:
    """True while the customer may answer: an operator closed the conversation after a person held it
    (`closed_after_a_person`) and it has no answer yet."""
    if not conversation_id:
        return False
    row = store.handoff(conversation_id)
    if not row or row["state"] != "closed":
        return False
    return closed_after_a_person(store.handoff_events(conversation_id)) and store.satisfaction(conversation_id) is None


def record_satisfaction(store, conversation_id: str | None, good: bool) -> bool:
    """Store the answer; False when the question is not open (not closed by a person, or answered
    already: the first answer stands)."""
    if not satisfaction_due(store, conversation_id):
        return False
    assert conversation_id is not None
    row = store.handoff(conversation_id) or {}
    last = store.last_handoff_event(conversation_id) or {}
    return store.add_satisfaction(conversation_id, 1 if good else -1, row.get("operator") or last.get("actor"))


def conversation_language(store, conversation_id: str) -> str:
    """The language of the customer's latest message, where the messages have a translation; else English."""
    for turn in reversed(store.history(conversation_id, limit=20)):
        if turn["role"] == "user" and turn.get("language"):
            return turn["language"] if turn["language"] in messages.LANGUAGES else "en"
    return "en"


def page_language(session, store, conversation_id: str) -> str:
    """The chat page's language where the session keeps one (the customer's, as detected), else the
    language of the conversation's latest customer message."""
    lang = getattr(session, "language", "")
    return lang if lang in messages.LANGUAGES else conversation_language(store, conversation_id)


def build_satisfaction(sessions, key, poll_s: float) -> None:
    """The question's row and its events, for the chat sessions `sessions` (`ChatSession`s by the page's
    `key` state). It looks every `poll_s` seconds whether the question is due; once shown or answered for a
    conversation it reads nothing more until the page moves to another conversation."""
    store = sessions.assistant.store
    shown: OrderedDict[str, tuple[str, str]] = OrderedDict()  # page key -> (conversation, language)
    lock = threading.Lock()
    # The question on its own line and the buttons under it: on a phone a row of three squeezed the words.
    with gr.Column(visible=False, elem_id="csat") as row:
        question = gr.Markdown("", elem_id="csat-question")
        with gr.Row():
            good = gr.Button("Good", elem_id="csat-good", scale=0, min_width=130)
            bad = gr.Button("Bad", elem_id="csat-bad", scale=0, min_width=130)
    answered = gr.Markdown("", elem_id="csat-thanks")
    nothing = (gr.skip(),) * 5

    def on_tick(k):
        if not k:
            return nothing
        _, session = sessions.get(k)
        cid = session.conversation_id
        with lock:
            before = shown.get(k)
        if before and before[0] == cid:
            return nothing
        if before:  # "New conversation": the question of the last one goes
            with lock:
                shown.pop(k, None)
            return gr.update(visible=False), gr.skip(), gr.skip(), gr.skip(), ""
        try:
            if not satisfaction_due(store, cid):
                return nothing
            assert cid is not None
            lang = page_language(session, store, cid)
        except LoopdeskError as exc:  # the next tick asks again; the customer sees nothing of it
            log.warning("satisfaction question not checked for conversation %s: %s", cid, exc)
            return nothing
        with lock:
            shown[k] = (cid, lang)
            shown.move_to_end(k)
            while len(shown) > REMEMBERED_PAGES:
                shown.popitem(last=False)
        return (
            gr.update(visible=True),
            f"**{messages.text('satisfaction_question', lang)}**",
            messages.text("satisfaction_good", lang),
            messages.text("satisfaction_bad", lang),
            "",
        )

    def answer(good: bool):
        def on_click(k):
            _, session = sessions.get(k)
            cid = session.conversation_id
            with lock:
                lang = (shown.get(k) or ("", "en"))[1]
            try:
                saved = record_satisfaction(store, cid, good)
                before = not saved and store.satisfaction(cid) is not None
            except LoopdeskError as exc:
                log.error("satisfaction answer for conversation %s not stored: %s", cid, exc)
                return gr.skip(), f"_{messages.text('satisfaction_failed', lang)}_"
            if not saved and not before:  # reopened meanwhile: the question no longer stands, nothing was kept
                return gr.update(visible=False), ""
            # Answered now or before (a second click, another tab): either way the question is done.
            return gr.update(visible=False), f"**{messages.text('satisfaction_thanks', lang)}**"

        return on_click

    good.click(answer(True), [key], [row, answered], queue=False)
    bad.click(answer(False), [key], [row, answered], queue=False)
    gr.Timer(poll_s).tick(on_tick, [key], [row, question, good, bad, answered], queue=False, show_progress="hidden")
