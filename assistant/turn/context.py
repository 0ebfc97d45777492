"""What a follow-up question may mean: the message searched together with the customer's previous one.

"And how much does it cost?" after "How long does Express delivery take?" retrieves nothing useful
on its own. `context_query` gives the joint query for any short message that follows another;
the pipeline (`Assistant.find`) searches both and keeps the one the knowledge base answers better,
leaning toward the joint one when the message refers back (`leans_back`: it starts with "and",
"what about", or says "it", "that", "they", "there" ...). A message that says it starts another topic
("thanks. different thing: do you ...?", `changes_topic`) is searched alone, so an earlier topic steers
a follow-up and never drags a new question off course.
"""

from __future__ import annotations

import re
from typing import Sequence

_LEANS_BACK = re.compile(
    r"^\s*(?:and|also|but|so|then|ok(?:ay)? so|what about|how about|same)\b"
    r"|\b(?:it|its|that|this|they|them|their|there|those|these|same|which)\b",
    re.I,
)
MAX_CONTEXT_WORDS = 25  # longer messages carry their own topic
# What customers write when they start another topic ("thanks! unrelated, but ...", "got it. separate
# question: ...", "btw do you ..."). Said by the customer, it settles what the knowledge base's scores
# could only guess: the earlier message must not steer this one. (A pronoun after the marker, "another
# thing: is it waterproof?", is then read alone too; rarer than "got it, thanks. btw do you ...?", whose
# "it" belongs to the thanks.)
_CHANGES_TOPIC = re.compile(
    r"\b(?:(?:unrelated|not related)(?=\s*(?:[,:;.!?\u2013\u2014-]|but\b))"  # "unrelated, but": not "unrelated to"
    r"|(?:different|separate|other|another|new|unrelated) (?:question|thing|topic|subject|matter)"
    r"(?=\s*(?:[,:;.!?\u2013\u2014-]|but\b))"  # "different thing: ...", not "is it a different thing from"
    r"|on (?:an)?other note\b|by the way\b|btw\b|change of subject\b|changing the subject\b)",
    re.I,
)
TOPIC_MARKER_WORDS = 8  # the marker opens the message; "is the fee unrelated to weight?" asks about the fee


def leans_back(text: str) -> bool:
    return bool(_LEANS_BACK.search(text))


def changes_topic(text: str) -> bool:
    """The customer says the topic changed, near the start of the message."""
    return bool(_CHANGES_TOPIC.search(" ".join(text.split()[:TOPIC_MARKER_WORDS])))


def context_query(text: str, history: Sequence[dict]) -> str | None:
    """The message with the customer's previous message in front, for a message short enough to be a
    follow-up (None for a first message, a long, self-contained one, or one that says it starts
    another topic)."""
    earlier = [t["text"] for t in history if t.get("role") == "user" and t.get("text")]
    if not earlier or len(text.split()) > MAX_CONTEXT_WORDS or changes_topic(text):
        return None
    return f"{earlier[-1]} {text}"


def standalone(text: str, history: Sequence[dict]) -> str:
    """The question as it stands on its own: a short follow-up that leans on the previous message
    ("how long does it take?") with that message in front, else the message itself. The answer memory
    stores and matches questions this way, so "how long does it take?" about shipping to Canada never
    answers the same words about refunds."""
    joint = context_query(text, history)
    return joint if joint is not None and leans_back(text) else text
