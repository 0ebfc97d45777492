"""Clean a raw customer message before anything else sees it.

Decodes bytes leniently (invalid UTF-8 becomes U+FFFD, then is dropped), removes control and
format characters except newlines and tabs, normalises Unicode (NFC), collapses runs of blank
lines and truncates over-long messages with a note the UI shows.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field


@dataclass
class CleanText:
    text: str
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.text.strip()


def sanitize(raw: str | bytes | None, max_chars: int) -> CleanText:
    notes: list[str] = []
    if raw is None:
        return CleanText("", notes)
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", errors="replace")
    else:
        text = raw  # lone surrogates (category Cs) are dropped with the other control characters below
    text = unicodedata.normalize("NFC", text)
    cleaned = "".join(ch for ch in text if ch in "\n\t" or (unicodedata.category(ch)[0] != "C" and ch != "\ufffd"))
    if len(cleaned) != len(text):
        notes.append(f"removed {len(text) - len(cleaned)} control or invalid characters")
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned.replace("\t", " ")).strip()
    if len(cleaned) > max_chars:
        notes.append(f"message truncated from {len(cleaned):,} to {max_chars:,} characters")
        cleaned = cleaned[:max_chars].rstrip() + " …"
    return CleanText(cleaned, notes)
