"""What a follow-up question means: the search query a message needs from earlier turns.

"And how much does it cost?" after "How long does Express delivery take?" retrieves nothing useful
on its own. A short message that leans on the conversation (it starts with "and", "what about",
or refers back with "it", "that", "they", "there" ...) is searched together with the customer's
previous message; a self-contained question is searched as it is, so an earlier topic never
drags a new question off course.
"""

from __future__ import annotations

import re
from typing import Sequence

_LEANS_BACK = re.compile(
    r"^\s*(?:and|also|but|so|then|ok(?:ay)? so|what about|how about|same)\b"
    r"|\b(?:it|its|that|this|they|them|their|there|those|these|one|ones|same|which)\b",
    re.I,
)
MAX_FOLLOW_UP_WORDS = 12


def is_follow_up(text: str) -> bool:
    return len(text.split()) <= MAX_FOLLOW_UP_WORDS and bool(_LEANS_BACK.search(text))


def search_query(text: str, history: Sequence[dict]) -> str:
    """The text to search the knowledge base with for `text`, given earlier turns (oldest first)."""
    earlier = [t["text"] for t in history if t.get("role") == "user" and t.get("text")]
    if earlier and is_follow_up(text):
        return f"{earlier[-1]} {text}"
    return text
