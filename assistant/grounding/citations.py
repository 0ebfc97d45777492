"""Citations in a reply: "[n]" names passage n of the turn. One pattern and one label for every place
that reads or shows them (the grounding check, the chat page, help-desk integrations)."""

from __future__ import annotations

import re

from assistant.types import Passage

CITE = r"\[\d+\]"
"""One citation, as a regex piece."""
CITE_NUMBER = r"\[(\d+)\]"
"""One citation, its number captured."""
CITATION = re.compile(CITE_NUMBER)


def cited_numbers(reply: str, passages: list[Passage]) -> list[int]:
    """The passage numbers a reply cites, once each, in order; numbers without a passage are left out."""
    return sorted({int(n) for n in CITATION.findall(reply) if 1 <= int(n) <= len(passages)})


def source_label(passage: Passage) -> str:
    """How a cited section is named to the customer: "title › heading"."""
    return f"{passage.title or passage.source} › {passage.heading}"
