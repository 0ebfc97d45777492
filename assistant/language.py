"""Language detection with langdetect, seeded so the same text always gets the same answer.

Very short texts ("ok", "thanks!") are unreliable for any detector, so below a few letters we
return the configured default instead of a random guess.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
MIN_LETTERS = 12


def detect_language(text: str, default: str = "en") -> str:
    """ISO 639-1 code (`zh-cn` style for Chinese), or `default` for empty/too-short text."""
    letters = sum(ch.isalpha() for ch in text)
    if letters < MIN_LETTERS:
        return default
    from langdetect import DetectorFactory, LangDetectException, detect_langs

    with _lock:  # DetectorFactory is global state
        DetectorFactory.seed = 0
        try:
            best = detect_langs(text)[0]
        except LangDetectException:
            return default
    # A weak guess on a short message is usually wrong; stay with the default.
    if best.prob < 0.6 and letters < 40:
        return default
    return best.lang
