"""One customer's chat as the page shows it, kept on the server.

- `submit(text)` queues the message (the page shows it at once, marked queued); `drain()` answers
  queued messages one after another, yielding the chat after each streamed piece. A message typed while a reply
  streams is queued and answered next, never dropped (the page calls `drain` after every submit;
  a second `drain` while one runs returns at once and the running one picks the message up).
- `poll()` adds what a person from the team wrote since the last look (role "agent" turns), so
  their replies appear without a reload, and reports who is answering.
- `reset()` is "New conversation": a new conversation id on the next message.
- `language` is the page's language: the browser's until the customer writes, then the one detected in
  their messages (`assistant/web/page_strings.py`); the session's own notes and labels use it.

No Gradio here: the page (`assistant/web/customer_page.py`) only maps events to these calls.
"""

from __future__ import annotations

import bisect
import logging
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator

from assistant.turn.admission import Busy
from assistant.web.chat_view import agent_message, link_citations, shown
from assistant.web.page_strings import follow_language, number, page_text
from assistant.errors import LoopdeskError
from assistant.turn.handoff import Status
from assistant.types import Passage

if TYPE_CHECKING:
    from assistant.turn.pipeline import Assistant

log = logging.getLogger("loopdesk.chat")


@dataclass
class Message:
    role: str  # user | assistant
    content: str
    turn_id: int | None = None
    """The stored assistant turn, for thumbs; None for greetings, notes and canned messages."""
    rateable: bool = False


@dataclass
class ChatSession:
    assistant: Assistant
    greeting: str | Callable[[str], str]
    """The first message, or a function of the page's language that makes it."""
    conversation_id: str | None = None
    messages: list[Message] = field(default_factory=list)
    pending: list = field(default_factory=list)
    """(sent_at, arrival number, text) of messages not answered yet, in the order they were sent."""
    _sent: int = 0
    busy: bool = False
    seen_turn: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    language: str = "en"
    shown_language: str = ""
    """The language the page's labels were last sent in ("" before the first time)."""
    customer: dict = field(default_factory=dict)
    """Who the customer is where the page was told (`customer_info.customer_meta`), kept with the conversation."""

    def __post_init__(self) -> None:
        if not self.messages:
            self.messages.append(Message("assistant", self.greeting_text()))

    def greeting_text(self) -> str:
        return self.greeting(self.language) if callable(self.greeting) else self.greeting

    def set_language(self, language: str) -> None:
        """The page's language before the customer wrote (the browser's); the greeting follows it."""
        with self.lock:
            self.language = language
            if self.conversation_id is None and len(self.messages) == 1 and self.messages[0].turn_id is None:
                self.messages[0] = Message("assistant", self.greeting_text())

    # --- customer actions ---------------------------------------------------------------------
    def submit(self, text: str | None, sent_at: float | None = None) -> bool:
        """Queue the message (the page shows it as queued until its turn); False for an empty one.
        `sent_at` is the browser's clock when it was sent: two messages sent a moment apart can
        reach the server in either order, and are answered in the order they were typed."""
        text = (text or "").strip()
        if not text:
            return False
        with self.lock:
            self._sent += 1
            bisect.insort(self.pending, (float(sent_at or 0.0), self._sent, text))
        return True

    def drain(self) -> Iterator[None]:
        """Answer every queued message in order; yields after each change of the chat."""
        with self.lock:
            if self.busy:
                return
            self.busy = True
        try:
            while True:
                with self.lock:
                    if not self.pending:
                        self.busy = False
                        return
                    text = self.pending.pop(0)[2]
                yield from self._answer(text)
        finally:
            with self.lock:
                self.busy = False

    def _answer(self, text: str) -> Iterator[None]:
        bubble = Message("assistant", "")
        limit = self.assistant.cfg.policy.max_message_chars
        # What the page keeps and shows: at most what is read (a 1 MB paste is not kept in the session),
        # without lone surrogates (they broke the page's stream when sent back).
        echo = text[:limit].encode("utf-8", "replace").decode("utf-8") + ("…" if len(text) > limit else "")
        lang = self.language
        with self.lock:
            self.messages.append(Message("user", echo))
            if len(text) > limit:  # the counter warned before sending; say what was read
                self.messages.append(
                    Message(
                        "assistant",
                        "_"
                        + page_text("truncated", lang, length=number(len(text), lang), limit=number(limit, lang))
                        + "_",
                    )
                )
            self.messages.append(bubble)
        line = self.assistant.admission
        result = None
        try:
            with line.ticket() as ticket:
                while not ticket.wait(1.0):  # everyone is busy: say so, and where this customer is in line
                    if line.overdue(ticket):
                        raise Busy("waited too long in line")
                    bubble.content = "_" + page_text("in_line", self.language, position=ticket.position()) + "_"
                    yield
                bubble.content = ""
                if self.conversation_id is None:
                    self.conversation_id = self.assistant.start_conversation(meta=dict(self.customer))
                for kind, value in self.assistant.respond_stream(self.conversation_id, text, ticket.waited()):
                    if kind == "token":
                        bubble.content += shown(value)
                        yield
                    elif kind == "replace":  # the generated text failed the grounding check
                        bubble.content = shown(value)
                        yield
                    else:
                        result = value
        except Busy as exc:  # nothing was stored: the customer is asked to send it again
            log.warning("turn refused for conversation %s: %s", self.conversation_id, exc)
            bubble.content, result = page_text("busy", self.language), None
        except LoopdeskError as exc:
            log.error("turn failed for conversation %s: %s", self.conversation_id, exc)
            bubble.content, result = page_text("apology", self.language), None
        except Exception:  # the page must keep serving whatever happens in a turn
            log.exception("turn failed for conversation %s", self.conversation_id)
            bubble.content, result = page_text("apology", self.language), None
        if result is not None:
            self.language = follow_language(self.language, result.tags.language, text)
            if result.decision.action == "hold":  # a person answers this conversation: no bubble
                with self.lock:
                    self.messages.remove(bubble)
            else:
                bubble.content = link_citations(result.reply, result.passages, self.language)
                bubble.turn_id = result.turn_id
                bubble.rateable = result.turn_id is not None and result.decision.action in ("answer", "decline")
        yield

    def poll(self) -> bool:
        """Add a person's new replies, and the assistant's answers to messages left while a person held
        the conversation; True when the chat changed."""
        if self.conversation_id is None:
            return False
        new = self.assistant.store.turns_after(self.conversation_id, self.seen_turn)
        if not new:
            return False
        self.seen_turn = new[-1]["id"]
        business = self.assistant.settings.current().business_name  # the owner's, where set
        added = []
        for t in new:
            notes = t["notes"] or {}
            if t["role"] == "agent":
                who = notes.get("operator", "our team")
                added.append(Message("assistant", agent_message(who, business, t["text"], self.language)))
            elif t["role"] == "assistant" and notes.get("answered_after"):  # a message left while a person had it
                cited = [
                    Passage(
                        p["id"],
                        p.get("text", ""),
                        p.get("source", ""),
                        p.get("heading", ""),
                        p.get("score", 0.0),
                        p.get("title", ""),
                    )
                    for p in t.get("passages") or []
                ]
                added.append(
                    Message(
                        "assistant", link_citations(t["text"], cited, self.language), turn_id=t["id"], rateable=True
                    )
                )
        with self.lock:
            self.messages.extend(added)
        return bool(added)

    def status(self) -> Status:
        return self.assistant.handoff.status(self.conversation_id)

    def leave_email(self, email: str) -> str:
        if self.conversation_id is None:
            raise LoopdeskError("there is no conversation yet")
        return self.assistant.handoff.leave_email(self.conversation_id, email)

    def rate(self, index: int, liked: bool) -> bool:
        """Thumbs on message `index`; False when that message is not an answer that can be rated."""
        turn_id = self.messages[index].turn_id if 0 <= index < len(self.messages) else None
        if turn_id is None or not self.messages[index].rateable:
            return False
        self.assistant.store.add_feedback(turn_id, 1 if liked else -1)
        return True

    def reset(self) -> None:
        with self.lock:
            self.conversation_id, self.seen_turn = None, 0
            self.messages = [Message("assistant", self.greeting_text())]
            self.pending.clear()


class Sessions:
    """Chat sessions by key (the page keeps only the key), the least recently used dropped first."""

    def __init__(self, assistant, greeting: str | Callable[[str], str], capacity: int = 5000) -> None:
        self.assistant, self.greeting, self.capacity = assistant, greeting, capacity
        self._items: OrderedDict[str, ChatSession] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str | None) -> tuple[str, ChatSession]:
        """The session for `key`, made on first use (a new key when none is given)."""
        with self._lock:
            if key and key in self._items:
                self._items.move_to_end(key)
                return key, self._items[key]
            key = key or uuid.uuid4().hex
            self._items[key] = ChatSession(self.assistant, self.greeting)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
            return key, self._items[key]
