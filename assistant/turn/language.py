"""Language detection with langdetect, seeded so the same text always gets the same answer.

Short and markup-heavy messages fool any detector ("can i call you guys on a sunday?" comes out
as another language), and a wrong "unsupported language" handover is worse than answering in
English. So, before langdetect sees it, a message loses its links, e-mail addresses, code, markup,
numbers and order ids; what is left must have enough letters; and a message made of English
function words ("can", "you", "the", "my" ...) stays English unless langdetect is very sure and
the text has few of them.
"""

from __future__ import annotations

import re
import threading

_lock = threading.Lock()
MIN_LETTERS = 12

_NOISE = re.compile(
    r"https?://\S+|www\.\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|`[^`]*`|<[^>]+>|&\w+;|\{\{[^}]*\}\}"
    r"|\b[A-Z]{2,}-?\d[\w-]*\b|\b\w*\d\w*\b|[*_#>|\[\]()~]+"
)
# Frequent English function words (and the commonest support words, for terse messages such as
# "URGENT refund pls"): a text rich in them is English whatever langdetect thinks.
_ENGLISH = frozenset(
    """
a about after all am an and any are as at be because been but by can could did do does don't for from get had has
have how i i'm if in into is it it's just me my no not of on or our please so than that the their them then there
they this to up was we were what when where which who why will with would you your yes hi hello thanks
pls plz thx asap ok okay
order orders refund refunds return returns delivery shipping account password card payment help money item package
parcel store price cancel track tracking invoice urgent still never got purchase modify charge charges fee fees
cancellation complaint company business agent contact consumer assistance need see want shipping address""".split()
)


def strip_markup(text: str) -> str:
    """The words of a message without links, addresses, code, markup, numbers and ids."""
    return re.sub(r"\s+", " ", _NOISE.sub(" ", text)).strip()


def english_share(text: str) -> float:
    words = re.findall(r"[a-z']+", text.lower())
    return sum(w in _ENGLISH for w in words) / len(words) if words else 0.0


def detect_language(text: str, default: str = "en") -> str:
    """ISO 639-1 code (`zh-cn` style for Chinese), or `default` for empty/too-short text."""
    words = strip_markup(text)
    letters = sum(ch.isalpha() for ch in words)
    if letters < MIN_LETTERS:
        return default
    from langdetect import DetectorFactory, LangDetectException, detect_langs

    with _lock:  # DetectorFactory is global state
        DetectorFactory.seed = 0
        try:
            best = detect_langs(words)[0]
        except LangDetectException:
            return default
    if default == "en" and best.lang != "en":
        share = english_share(words)
        # Real English sentences run at 40-60% function words; French or Spanish ones share
        # almost none of these ("a", "on" and "me" aside). A terse message ("modify purchase
        # 3707955617") is too short for langdetect: one English word of 4+ letters settles it
        # ("no", "me", "a" are Spanish and French words too).
        long_english = any(len(w) >= 4 and w in _ENGLISH for w in re.findall(r"[a-z']+", words.lower()))
        if share >= 0.3 or (share >= 0.15 and best.prob < 0.95) or (long_english and letters < 40):
            return "en"
    # A weak guess on a short message is usually wrong; stay with the default.
    if best.prob < 0.6 and letters < 40:
        return default
    return best.lang
