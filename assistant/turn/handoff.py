"""Human handoff: who answers a conversation, and how it moves between the assistant and people.

    assistant --request/accepted offer/policy--> queued --take--> human --hand back--> assistant
                                                   |                 '--close--> closed
                                                   '--(no operator online: the customer leaves an e-mail)

The state lives in the store (`handoffs`, one row per conversation, and `handoff_events`, who did
what and when), so every app replica and the console agree on who answers. While a conversation
is queued or owned by a person the assistant stays silent; operator replies are turns with role
"agent" and the operator's name in their notes.

`accepts_offer()` reads the customer's answer to "Would you like me to connect you with a person?".
"""

from __future__ import annotations

import logging
import re
import statistics
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from assistant.errors import InputError, LoopdeskError
from assistant.store.memory import MAX_QUESTION
from assistant.store.store import Store
from assistant.turn.mailer import Mailer
from assistant.turn.context import standalone

log = logging.getLogger("loopdesk.handoff")
MIN_REMEMBERED_WORDS = 6  # an operator reply shorter than this is chat, not an answer worth keeping
ONLINE_WINDOW_S = 120  # the console reports presence every 30 s; two missed beats mean offline
OPEN_STATES = ("queued", "human")
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)

_NO = re.compile(
    r"^\s*(?:no|nope|nah|not\b|don'?t|do not|never|no need|i'?m (?:fine|good|ok)|all good|"
    r"non|nein|não|nao)\b",
    re.I,
)
_YES = re.compile(
    r"^\s*(?:y|yes|yeah|yea|yep|yup|sure|ok|okay|k|please|pls|absolutely|definitely|of course|"
    r"go ahead|do it|do that|connect me|put me through|that would be (?:great|good|nice)|"
    r"oui|s[ií]|ja|sim|d'accord|vale|claro)\b",
    re.I,
)
_PERSON = re.compile(
    r"\b(?:human|person|agent|someone|somebody|representative|rep|operator|people|staff|"
    r"colleague|real one)\b",
    re.I,
)


def accepts_offer(text: str) -> bool:
    """True for "yes", "yes please", "a human please", "ok connect me", "sure"; False for "no
    thanks", "not now", "thanks" or a new question."""
    t = text.strip().lower()
    if not t or _NO.search(t):
        return False
    if _YES.search(t):
        return True
    # "a human please", "human", "an agent, thanks": a short answer that names a person.
    return len(t.split()) <= 5 and bool(_PERSON.search(t))


def declines_offer(text: str) -> bool:
    return bool(_NO.search(text.strip().lower()))


def valid_email(text: str) -> bool:
    return len(text) <= 254 and bool(_EMAIL.match(text))


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Status:
    """What the customer's page shows about who answers."""

    state: str  # assistant | queued | human | closed
    operator: str | None = None
    position: int | None = None
    wait_s: float | None = None
    online: bool = False
    contact_email: str | None = None


class Handoff:
    """The handoff rules over a store. Every method records who acted."""

    def __init__(self, store: Store, default_wait_s: float | None = None, mailer: Mailer | None = None) -> None:
        self.store, self.default_wait_s, self.mailer = store, default_wait_s, mailer

    def state(self, conversation_id: str | None) -> str:
        row = self.store.handoff(conversation_id) if conversation_id else None
        return row["state"] if row else "assistant"

    def is_held(self, conversation_id: str | None) -> bool:
        """True while a person owns the conversation or it waits for one: the assistant stays silent."""
        return self.state(conversation_id) in OPEN_STATES

    def request(self, conversation_id: str, reason: str, actor: str = "customer") -> bool:
        """Queue the conversation for a person; False when it is queued or owned already."""
        return self.store.move_handoff(
            conversation_id,
            [None, "assistant", "closed"],
            "queued",
            actor,
            "requested",
            {"reason": reason},
            reason=reason,
            operator=None,
            assigned_to=None,  # a request after a close starts unassigned: the last one's assignee may be gone
            taken_at=None,
            requested_at=_now(),
        )

    def take(self, conversation_id: str, operator: str) -> None:
        if not self.store.move_handoff(
            conversation_id,
            [None, "assistant", "queued", "closed"],
            "human",
            operator,
            "taken",
            operator=operator,
            taken_at=_now(),
        ):
            row = self.store.handoff(conversation_id) or {}
            raise InputError(f"{row.get('operator') or 'another operator'} has taken this conversation already")

    def reply(self, conversation_id: str, operator: str, text: str) -> int:
        text = (text or "").strip()
        if not text:
            raise InputError("type a reply first")
        row = self.store.handoff(conversation_id)
        if not row or row["state"] != "human" or row["operator"] != operator:
            raise InputError("take the conversation before replying")
        turn_id = self.store.add_turn(conversation_id, "agent", text, notes={"operator": operator})
        self._remember(conversation_id, operator, text, turn_id)
        if row.get("contact_email") and self.mailer is not None and self.mailer.enabled:
            # Off the operator's click: an SMTP server may take seconds. The outcome is a handoff event
            # (the console shows it with the conversation) and a log line.
            threading.Thread(
                target=self._email, args=(conversation_id, operator, row["contact_email"], text, turn_id), daemon=True
            ).start()
        return turn_id

    def _email(self, conversation_id: str, operator: str, to: str, text: str, turn_id: int) -> None:
        assert self.mailer is not None
        business = self.mailer.business
        body = f"{text}\n\n{operator.title()}, {business} team\n(You left this address in our chat; reply to reach us.)"
        try:
            self.mailer.send(to, f"Your question to {business}", body)
            self.store.add_handoff_event(conversation_id, "emailed", operator, {"to": to, "turn": turn_id})
        except LoopdeskError as exc:
            log.error("operator reply %s not e-mailed to the customer: %s", turn_id, exc)
            try:
                self.store.add_handoff_event(conversation_id, "email_failed", "system", {"why": str(exc)[:300]})
            except LoopdeskError:
                pass  # the log line above is the record

    def _remember(self, conversation_id: str, operator: str, text: str, turn_id: int) -> None:
        """An operator's reply to a customer question waits in the answer memory for review (the
        console's Memory tab): approved, it answers the same question next time without a person.
        Short chat ("one moment please") is not worth reviewing."""
        try:
            asked = [t for t in self.store.history(conversation_id, limit=50) if t["role"] == "user"]
            if len(text.split()) < MIN_REMEMBERED_WORDS or not asked:
                return
            question = standalone(asked[-1]["text"], asked[:-1])[:MAX_QUESTION]
            self.store.add_memory(question, text, None, "review", "operator_reply", operator, turn_id)
        except LoopdeskError as exc:  # the reply reached the customer; only the suggestion is lost
            log.warning("operator reply %s not offered to the answer memory: %s", turn_id, exc)

    def hand_back(self, conversation_id: str, operator: str) -> None:
        if not self.store.move_handoff(conversation_id, ["human", "queued"], "assistant", operator, "handed_back"):
            raise InputError("this conversation is not with a person")

    def close_abandoned(self, minutes: float, now: datetime | None = None) -> list[str]:
        """Close queued conversations whose customer has been silent for `minutes` (they left: the queue
        must not keep them forever); recorded as `abandoned` by `system`. Returns the ids closed."""
        if minutes <= 0:
            return []
        cutoff = (now or _now()) - timedelta(minutes=minutes)
        closed = []
        for item in self.store.handoff_queue(("queued",)):
            last = item["last_activity_at"] or item["requested_at"]
            if last is not None and (last if last.tzinfo else last.replace(tzinfo=timezone.utc)) < cutoff:
                if self.store.move_handoff(item["conversation_id"], ["queued"], "closed", "system", "abandoned"):
                    closed.append(item["conversation_id"])
        if closed:
            log.info("closed %d queued conversation(s) silent for %g minutes", len(closed), minutes)
        return closed

    def close(self, conversation_id: str, operator: str) -> None:
        if not self.store.move_handoff(
            conversation_id, ["human", "queued", "assistant", None], "closed", operator, "closed"
        ):
            raise InputError("this conversation is closed already")

    def leave_email(self, conversation_id: str, email: str) -> str:
        email = (email or "").strip()
        if not valid_email(email):
            raise InputError("that does not look like an e-mail address (name@example.com)")
        state = self.state(conversation_id)
        if state not in OPEN_STATES:
            raise InputError("this conversation is not waiting for a person")
        self.store.move_handoff(
            conversation_id, [state], state, "customer", "email_left", {"email": email}, contact_email=email
        )
        return email

    def operators_online(self) -> list[str]:
        """Who a customer may expect: the console open within ONLINE_WINDOW_S, and not set to away."""
        return self.store.operators_available_since(_now() - timedelta(seconds=ONLINE_WINDOW_S))

    def expected_wait_s(self) -> float | None:
        """Median of the latest request-to-take-over times (needs 3), else the configured default."""
        waits = self.store.recent_waits()
        return statistics.median(waits) if len(waits) >= 3 else self.default_wait_s

    def status(self, conversation_id: str | None) -> Status:
        row = self.store.handoff(conversation_id) if conversation_id else None
        if not row or row["state"] not in OPEN_STATES:
            return Status(row["state"] if row else "assistant")
        if row["state"] == "human":
            return Status("human", operator=row["operator"], online=True, contact_email=row["contact_email"])
        queue = [r["conversation_id"] for r in self.store.handoff_queue(("queued",))]
        position = queue.index(conversation_id) + 1 if conversation_id in queue else None
        return Status(
            "queued",
            position=position,
            wait_s=self.expected_wait_s(),
            online=bool(self.operators_online()),
            contact_email=row["contact_email"],
        )
