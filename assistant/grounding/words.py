"""Words of customer messages and knowledge bases: content words, stems and typos.

Shared by the coverage check (does a reply carry the evidence?) and the decline check (which of
the question's words does the knowledge base never use?).
"""

from __future__ import annotations

import difflib
import re
from assistant.grounding.citations import CITE

_WORD = re.compile(r"[a-z][a-z'-]*[a-z]|[a-z]")
_CITATION = re.compile(CITE)

STOPWORDS = frozenset(
    """
a about above after again against all am an and any are aren't as at be because been before being below between
both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each few for from
further had hadn't has hasn't have haven't having he her here hers herself him himself his how i i'd i'll i'm i've
if in into is isn't it it's its itself just let's me more most my myself no nor not now of off on once only or
other ought our ours ourselves out over own same she should shouldn't so some such than that that's the their
theirs them themselves then there there's these they they'd they'll they're they've this those through to too
under until up very was wasn't we we'd we'll we're we've were weren't what what's when when's where where's which
while who who's whom why why's will with won't would wouldn't you you'd you'll you're you've your yours yourself
yourselves also get got one thing things much many way ok okay yes yeah hi hello hey please thanks thank guys
dear need want wanted like know tell help question questions anyone someone something anything still already
really just ever even whats hows whens wheres im ive id dont cant wont didnt doesnt isnt arent wasnt wouldnt
couldnt shouldnt u ur pls plz thx lol omg ugh hmm well sure good great able possible make made go going
you're use using used day time new via etc
long longer fast faster quick quickly soon late early last next ago forever today tomorrow yesterday week weeks
month months year years hour hours minute minutes days times first second third few lot lots bit little big small
getting take takes taking took try tried trying tell told say said keep kept give gave send sent put find found
see saw look looking hold write another different same other every each many lot must might may shall
actually basically literally seriously totally unfortunately anyway maybe probably already again ever
information info see seeing current currently expect expected leave solve damn notify status
two three four five six seven eight nine ten eleven twelve twenty thirty hundred
offer offers offered provide provides available possible allowed nothing anything everything furious
work works worked working happen happens happened ridiculous terrible awful annoying frustrated frustrating
angry upset happy glad sorry wondering hoping
""".split()
)


def content_words(text: str) -> list[str]:
    """Lower-cased words that carry a topic: no stopwords, no generic time/effort words, no
    words under 3 letters; hyphenated words count as their parts ("same-day": same, day)."""
    text = _CITATION.sub(" ", (text or "").lower()).replace("’", "'").replace("-", " ")
    return [w for w in _WORD.findall(text) if w not in STOPWORDS and len(w) > 2]


def stem(w: str) -> str:
    for suffix in ("ing", "ies", "ied", "es", "ed", "ly", "s"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


def close(a: str, b: str) -> bool:
    """Edit distance <= 1 or one swap of neighbours (a typo) for words of 4+ letters; no table."""
    if abs(len(a) - len(b)) > 1 or min(len(a), len(b)) < 4:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) <= 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        )
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


def similar(a: str, b: str) -> bool:
    """One typo, or two in a long word ("decisons" / "decision")."""
    if close(a, b):
        return True
    return min(len(a), len(b)) >= 7 and difflib.SequenceMatcher(None, a, b).ratio() >= 0.85


def generic_typo(t: str) -> bool:
    """A typo of a generic word ("lnog"): 4-letter words only by swapped neighbours ("safe" is not "same")."""
    if len(t) < 4 or len(t) > 8:
        return False
    if len(t) == 4:
        return any(sorted(t) == sorted(w) and close(t, w) for w in STOPWORDS if len(w) == 4 and w != t)
    return any(close(t, w) for w in STOPWORDS if abs(len(w) - len(t)) <= 1)


def words_of(text: str) -> list[str]:
    """Every lower-cased word of a text, hyphenated words split."""
    return _WORD.findall((text or "").lower().replace("-", " "))
