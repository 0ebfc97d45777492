"""Grounding: keep answers tied to the knowledge base.

Three pure functions the pipeline and `loopdesk eval answers` share:

- `claims(text)`: the checkable statements in a text: numbers, prices, percentages, durations,
  phone numbers and e-mail addresses (citation marks like `[2]` and list markers are not claims).
- `unsupported_claims(reply, sources)`: claims of a reply found in none of the source texts.
  The pipeline passes the passages plus the customer's own words; the eval passes the passages only.
- `evidence_units(passages)` + `pick_evidence(...)`: the sentences, list items, numbered procedures
  and table rows of the retrieved passages, and the ones closest to the question in embedding space.
  They feed a short prompt and the grounded fallback (`extractive_reply`): when a generated reply
  states something the passages do not, or misses what the best evidence says, the customer gets
  the best-matching passage sentences, cited, instead.

`unknown_terms(question, vocabulary)` names the question's content words that the knowledge base
never uses (typos forgiven), one signal for declining instead of answering off-topic.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from assistant.types import Passage

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A phone number: 7+ digits with the usual separators (checked before plain numbers).
_PHONE = re.compile(r"(?<![\w$])\+?\d[\d ().-]{6,}\d(?![\w%])")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
_CITATION = re.compile(r"\[\d+\]")
# A list marker opens a line or follows the end of a sentence ("... steps: 1. Sign in. 2. Choose").
_LIST_MARKER = re.compile(r"(?:^|(?<=\n)|(?<=[.!?:] ))\s*(?:\d+[.)]|[-*•])(?=\s|$)")
_WORD = re.compile(r"[a-z][a-z'-]*[a-z]|[a-z]")


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def claims(text: str) -> set[str]:
    """Normalised claims: `email:x@y.z`, `phone:<digits>`, `num:<digits[.digits]>`."""
    text = _LIST_MARKER.sub(" ", _CITATION.sub(" ", text or ""))
    found: set[str] = set()
    for m in _EMAIL.finditer(text):
        found.add("email:" + m.group(0).lower().rstrip("."))
    text = _EMAIL.sub(" ", text)
    for m in _PHONE.finditer(text):
        digits = _digits(m.group(0))
        # "3–5" or "2,500" are not phone numbers; real ones have 7+ digits in separated groups.
        if len(digits) >= 7 and re.search(r"\d[ ().-]+\d", m.group(0)):
            found.add("phone:" + digits[-10:])
            text = text.replace(m.group(0), " ")
    for m in _NUMBER.finditer(text):
        raw = m.group(0).replace(",", "")
        if raw.endswith(".0"):
            raw = raw[:-2]
        found.add("num:" + raw.rstrip("."))
    return found


def unsupported_claims(reply: str, sources: Iterable[str]) -> set[str]:
    """Claims of `reply` that occur in none of `sources` (passage texts, the customer's words)."""
    supported: set[str] = set()
    for s in sources:
        supported |= claims(s)
    supported_phones = {c for c in supported if c.startswith("phone:")}
    out = set()
    for c in claims(reply):
        if c in supported:
            continue
        if c.startswith("phone:") and any(p.endswith(c[6:]) or c.endswith(p[6:]) for p in supported_phones):
            continue
        out.add(c)
    return out


# --- evidence ---------------------------------------------------------------------------------
@dataclass
class Unit:
    """One citable piece of a passage: a sentence, a list item, a whole procedure or a table row."""

    text: str
    passage: int  # 0-based index into the passages it came from
    order: int


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(*])")


def _table_rows(lines: list[str]) -> list[str]:
    cells = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
    cells = [r for r in cells if not all(re.fullmatch(r":?-{2,}:?", c) for c in r if c)]
    if len(cells) < 2:
        return [" ".join(" ".join(r) for r in cells)]
    head, body = cells[0], cells[1:]
    return ["; ".join(f"{h}: {c}" if h else c for h, c in zip(head, row)) + "." for row in body]


def split_units(text: str) -> list[str]:
    """Sentences of paragraphs, bullet items, numbered procedures (kept whole) and table rows."""
    units: list[str] = []
    lines = [ln.rstrip() for ln in (text or "").splitlines()]
    i = 0
    while i < len(lines):
        ln = lines[i].strip()
        if not ln or ln.startswith("#"):
            i += 1
            continue
        if ln.startswith("|"):
            block = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                block.append(lines[i])
                i += 1
            units += _table_rows(block)
            continue
        if re.match(r"\d+[.)]\s", ln):
            block = []
            while i < len(lines) and re.match(r"\s*\d+[.)]\s", lines[i]):
                block.append(lines[i].strip())
                i += 1
            units.append("\n".join(block))
            continue
        if re.match(r"[-*•]\s", ln):
            units.append(ln[2:].strip())
            i += 1
            continue
        para = []
        while i < len(lines) and lines[i].strip() and not re.match(r"\s*(?:#|\||\d+[.)]\s|[-*•]\s)", lines[i]):
            para.append(lines[i].strip())
            i += 1
        units += [s.strip() for s in _SENTENCE_END.split(" ".join(para)) if s.strip()]
    return units


def evidence_units(passages: Sequence[Passage]) -> list[Unit]:
    out: list[Unit] = []
    for pi, p in enumerate(passages):
        for u in split_units(p.text):
            out.append(Unit(u, pi, len(out)))
    return out


def pick_evidence(question: str, units: Sequence[Unit], embedder, n: int = 2,
                  heading_of: Sequence[str] | None = None) -> list[tuple[Unit, float]]:
    """The `n` units closest to the question (cosine of unit vectors), best first.

    A unit is embedded with its section heading in front, so "Premier Checking costs $15 per
    month" still knows which account it is about.
    """
    if not units:
        return []
    texts = [question] + [(f"{heading_of[u.passage]}: " if heading_of else "") + u.text for u in units]
    vecs = embedder.embed(texts)
    sims = vecs[1:] @ vecs[0]
    ranked = sorted(range(len(units)), key=lambda i: -float(sims[i]))[:n]
    return [(units[i], float(sims[i])) for i in ranked]


def extractive_reply(picked: Sequence[tuple[Unit, float]]) -> str:
    """The picked units in passage order, each passage cited once as [n] (1-based)."""
    chosen = sorted((u for u, _ in picked), key=lambda u: u.order)
    parts: list[str] = []
    for j, u in enumerate(chosen):
        text = u.text.strip()
        last_of_passage = j + 1 == len(chosen) or chosen[j + 1].passage != u.passage
        if last_of_passage:
            text = text.rstrip() + f" [{u.passage + 1}]"
        parts.append(text)
    return "\n".join(parts) if any("\n" in p for p in parts) else " ".join(parts)


# --- does the reply carry the evidence? ---------------------------------------------------------
STOPWORDS = frozenset("""
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
offer offers offered provide provides available possible allowed nothing anything everything furious work works worked working happen happens happened ridiculous terrible awful annoying frustrated frustrating angry upset happy glad sorry wondering hoping
""".split())


def content_words(text: str) -> list[str]:
    """Lower-cased words that carry a topic: no stopwords, no generic time/effort words, no
    words under 3 letters; hyphenated words count as their parts ("same-day": same, day)."""
    text = _CITATION.sub(" ", (text or "").lower()).replace("’", "'").replace("-", " ")
    return [w for w in _WORD.findall(text) if w not in STOPWORDS and len(w) > 2]


def _stem(w: str) -> str:
    for suffix in ("ing", "ies", "ied", "es", "ed", "ly", "s"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


def covers(reply: str, evidence: str, question: str = "") -> bool:
    """Whether a reply carries what the evidence adds to the question.

    With claims in the evidence (a price, a number of days, a phone number) the reply must state
    at least one of them. Either way, of the evidence's content words that the question does not
    already use (the new information: "Privacy" in "delete it under Account settings > Privacy"),
    the reply must carry more than half.
    """
    ev_claims = claims(evidence)
    if ev_claims and not ev_claims & claims(reply):
        return False
    new = informative_words(evidence, question)
    if not new:
        return bool(ev_claims)  # evidence that adds nothing to the question proves nothing
    got = {_stem(w) for w in content_words(reply)}
    return len(new & got) / len(new) > 0.5


def informative_words(evidence: str, question: str) -> set[str]:
    """Stems of the evidence's content words that the question does not already use."""
    asked = {_stem(w) for w in content_words(question)}
    return {_stem(w) for w in content_words(evidence)} - asked


def _close(a: str, b: str) -> bool:
    """Edit distance <= 1 or one swap of neighbours (a typo) for words of 4+ letters; no table."""
    if abs(len(a) - len(b)) > 1 or min(len(a), len(b)) < 4:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) <= 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


# MiniLM cosine of two single words above which they count as one meaning: shipment ~ shipping 0.83,
# reimbursed ~ refunds 0.67, broken ~ damaged 0.69; unrelated pairs stay near 0.45-0.55.
SYNONYM_COSINE = 0.65


@dataclass(frozen=True)
class Vocabulary:
    """The words of a knowledge base and in how many of its chunks each occurs."""

    df: dict
    docs: int
    similarity: Callable[[list[str]], list[float]] | None = None
    """Optional: each word's best cosine with a knowledge-base word, to forgive synonyms ("shipment")."""

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> "Vocabulary":
        df: dict[str, int] = {}
        n = 0
        for t in texts:
            n += 1
            for w in set(_WORD.findall((t or "").lower().replace("-", " "))):
                df[w] = df.get(w, 0) + 1
        return cls(df, n)

    def idf(self, df: int) -> float:
        # Smoothed: a word in every chunk still weighs 1, a word in none weighs the most.
        return math.log((self.docs + 1) / (df + 1)) + 1


def _match(t: str, vocab: Vocabulary, stems: dict[str, str], prefixes: dict[str, str]) -> str | None:
    """The knowledge-base word a question word stands for: itself, a word of the same family (same
    stem, or the same first 6 letters: "receiving" / "receive") or the same word with one typo."""
    if t in vocab.df:
        return t
    if _stem(t) in stems:
        return stems[_stem(t)]
    if len(t) >= 6 and t[:6] in prefixes:
        return prefixes[t[:6]]
    if len(t) >= 5:
        return next((v for v in vocab.df if abs(len(v) - len(t)) <= 2 and _similar(t, v)), None)
    return None


def _similar(a: str, b: str) -> bool:
    """One typo, or two in a long word ("decisons" / "decision")."""
    if _close(a, b):
        return True
    return min(len(a), len(b)) >= 7 and difflib.SequenceMatcher(None, a, b).ratio() >= 0.85


def _generic_typo(t: str) -> bool:
    """A typo of a generic word ("lnog"): 4-letter words only by swapped neighbours ("safe" is not "same")."""
    if len(t) < 4 or len(t) > 8:
        return False
    if len(t) == 4:
        return any(sorted(t) == sorted(w) and _close(t, w) for w in STOPWORDS if len(w) == 4 and w != t)
    return any(_close(t, w) for w in STOPWORDS if abs(len(w) - len(t)) <= 1)


def unknown_terms(question: str, vocab: Vocabulary, names: Sequence[str] = ()) -> tuple[list[str], list[str], float]:
    """(content words of the question, those the knowledge base never uses, their share of the question).

    The share weighs each word by its inverse document frequency in the knowledge base, so a word the
    KB never uses ("student", "euros") outweighs the ones it uses everywhere ("account"). Typos of
    generic words ("lnog") are dropped like the words themselves, and so are `names` (people the
    NER tagger found: "my invoices from David Miller" is about invoices).
    """
    skip = {w for n in names for w in content_words(n)}
    terms = [t for t in dict.fromkeys(content_words(question))
             if t not in skip and _stem(t) not in STOPWORDS and not _generic_typo(t)]
    if not terms or not vocab.df:
        return terms, [], 0.0
    stems = {_stem(v): v for v in vocab.df}
    prefixes = {v[:6]: v for v in vocab.df if len(v) >= 6}
    hits = {t: _match(t, vocab, stems, prefixes) for t in terms}
    missing = [t for t in terms if hits[t] is None]
    if missing and vocab.similarity is not None:
        synonyms = {t for t, sim in zip(missing, vocab.similarity(missing)) if sim >= SYNONYM_COSINE}
    else:
        synonyms = set()
    unknown, weight, total = [], 0.0, 0.0
    for t in terms:
        w = vocab.idf(vocab.df[hits[t]] if hits[t] else (1 if t in synonyms else 0))
        total += w
        if hits[t] is None and t not in synonyms:
            unknown.append(t)
            weight += w
    return terms, unknown, weight / total
