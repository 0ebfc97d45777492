"""Escalation policy: decide whether to answer, ask for input, or offer a human.

Escalates on an explicit request for a human, on `negative_turns` consecutive negative customer
turns, and on a language the generator does not support. `not_covered` (decline and offer a human
when the knowledge base has nothing on the question) is decided by the pipeline after retrieval
and uses the same canned messages. Pure function of the message, its tags
and the earlier sentiment labels, so it is easy to test and to explain.
"""

from __future__ import annotations

import re
from typing import Sequence

from assistant.types import Decision, Tags

_HUMAN = re.compile(
    r"\b(?:(?:talk|speak|chat)\s+(?:to|with)\s+(?:a\s+|an\s+|some\s*one|somebody|your\s+)?(?:real\s+|live\s+)?"
    r"(?:human|person|agent|representative|rep|someone|somebody|manager|supervisor|operator)"
    r"|(?:real|live)\s+(?:human|person|agent)|human\s+agent|customer\s+(?:service\s+)?(?:agent|representative)"
    r"|(?:transfer|connect|put)\s+me\s+(?:to|through|with)|escalate)\b",
    re.I,
)

MESSAGES = {
    "human_requested": "I'll connect you with a human agent. Someone from our support team will join this conversation shortly.",
    "negative_streak": "I'm sorry this has been frustrating. Would you like me to connect you with a human agent? Just say \"yes, a human\" and I'll hand you over.",
    "unsupported_language": "Sorry, I can only answer in English for now. I've asked a human colleague who can help in your language to pick this up.",
    "not_covered": "I'm sorry, I couldn't find that in the {business} help pages, and I'd rather not guess. "
                   "Would you like me to connect you with a human agent who can check?",
    "human_offer": "Would you like me to connect you with a human agent who can check?",
}


def canned(reason: str, business_name: str = "Northwind Goods") -> str:
    """The fixed message for a policy outcome, in the voice of the configured business."""
    return MESSAGES[reason].format(business=business_name)


def wants_human(text: str) -> bool:
    return bool(_HUMAN.search(text))


def decide(text: str, tags: Tags, previous_sentiments: Sequence[str | None], negative_turns: int,
           supported_languages: Sequence[str], business_name: str = "Northwind Goods") -> Decision:
    """`previous_sentiments` are earlier customer turns' labels in this conversation, oldest first."""
    if not text.strip():
        return Decision("prompt_user", "empty", "Please type a question — for example about returns, shipping or your account.")
    if wants_human(text):
        return Decision("escalate", "human_requested", canned("human_requested", business_name))
    if tags.language not in supported_languages and tags.language != "unknown":
        return Decision("escalate", "unsupported_language", canned("unsupported_language", business_name))
    labels = [*previous_sentiments, tags.sentiment.label if tags.sentiment else None]
    streak = 0
    for label in reversed(labels):
        if label != "negative":
            break
        streak += 1
    if streak >= negative_turns:
        # Still answer, then offer the human: an upset customer deserves both.
        return Decision("answer", "negative_streak", canned("negative_streak", business_name))
    return Decision("answer")
