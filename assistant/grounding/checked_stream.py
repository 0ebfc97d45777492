"""A generated reply, checked sentence by sentence against the passages before the customer sees it.

`GroundedStream.sentences(pieces)` turns the model's token stream into complete sentences and
passes each one on only when every number, price, duration, phone number and e-mail in it occurs
in the sources (the passages and the customer's own words). It stops the reply at the first
sentence that does not, and at a repeated sentence (small models loop under greedy decoding).
A trailing fragment cut off by `max_new_tokens` is never shown.

Given the key evidence (what the answer must carry: `assistant.grounding.evidence.key_evidence`), nothing is
shown until the sentences so far carry all of it; from then on each checked sentence streams, up to
one whose words come from another passage than the key evidence's (`key_passages`). A
sentence that brings the reply no closer to the evidence (`assistant.grounding.evidence.coverage` does not
grow; a lead-in ending in ":" may, and so may one opening sentence of courtesy that states nothing,
such as the apology the prompt asks for when the customer is upset) stops it: the model is
answering something else. Why hold: a reply that misses the evidence is replaced by the evidence
itself, and shown first it would be a wrong answer the customer reads and then sees withdrawn (it
was, in 41 of 59 Northwind answers); stopping at the first stray sentence also ends the doomed reply's decoding at once.

`verdict()` then says whether what was shown carries the evidence; if not, the pipeline answers
with the evidence itself. Citations to passages that do not exist are removed; a grounded reply
without any gets one.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator, Sequence

from assistant.grounding.claims import claims, supported_claims, unsupported_claims
from assistant.grounding.evidence import coverage, covers, readable_sentence, row_cells
from assistant.grounding.placeholders import StreamRenderer
from assistant.grounding.words import content_words, stem
from assistant.grounding.citations import CITE, CITE_NUMBER

# A sentence ends at . ! ? (optionally followed by citations) before whitespace, or at a newline.
_END = re.compile(rf"(?:[.!?](?:\s*{CITE})*|{CITE})(?:\n|(?=\s))|\n")
_CITE = re.compile(r"\s*" + CITE_NUMBER)
_MARKER_ONLY = re.compile(r"\s*\d+[.)]")  # "1." opens a list item; it does not end a sentence
_DECLINE = re.compile(r"\b(?:couldn't|could not|can't|cannot) find anything about\b|\bI'd rather not guess\b", re.I)
# An opening sentence of courtesy (see GroundedStream._courtesy): it must use one of the marks, and
# every content word of it must be one of the words; these words make it say something instead.
_COURTESY_MARKS = {
    "sorry",
    "apologise",
    "apologize",
    "apologies",
    "thanks",
    "thank",
    "understand",
    "appreciate",
    "patience",
    "inconvenience",
    "frustrating",
    "frustration",
    "glad",
    "happy",
}
_COURTESY_WORDS = _COURTESY_MARKS | {
    "trouble",
    "hear",
    "help",
    "waiting",
    "wait",
    "question",
    "asking",
    "reaching",
    "contacting",
    "message",
    "situation",
    "caused",
    "experience",
    "delay",
    "concern",
}
_NOT_COURTESY = {"no", "not", "yes", "unfortunately", "cannot", "never", "only", "however", "but"}
MAX_SENTENCES = 3  # the prompt asks for one to three; past that a small model drifts into the passages' other topics


class GroundedStream:
    def __init__(
        self,
        sources: Sequence[str],
        n_passages: int,
        headings: Sequence[str] = (),
        key: Sequence[str] = (),
        question: str = "",
        key_passages: Sequence[int] = (),
        row_names: Sequence[str] = (),
        citable: Sequence[int] = (),
    ) -> None:
        """`row_names`: the first cell of every table row in the passages ("Express", "Next day"), so a
        sentence that states a key row's figures under another row's name is caught. `citable`: the
        0-based passages the model was shown something of; a citation of another is removed (the
        model cited [2] "Tracking your order" for a sentence from [3] "Payments").
        Only the key evidence releases a reply. Tried (2026-12-03): letting a reply that carries any
        other shown unit whole stand as well raised the model-written share (northwind 0.43 -> 0.74)
        but cut accuracy (0.69 -> 0.46; harbor_bank 0.86 -> 0.76): the model picks the wrong unit more
        often than the ranking does."""
        self.supported, self.n_passages = supported_claims(sources), n_passages
        # The words of each passage, to tell which one a sentence after the key evidence comes from.
        self.key_passages = set(key_passages)
        self._passage_words = [{stem(w) for w in content_words(t)} for t in sources[:n_passages]]
        self.headings = [h.lower() for h in headings if h and " > " in h]
        self.key, self.question = list(key), question
        self._citable = set(citable)
        self._rows = key_rows(self.key)
        self._row_names = {n.lower() for n in row_names if n.strip()}
        self.shown = ""  # what the customer has been shown
        self.text = ""  # every sentence that passed the checks, shown or still held
        self.problem = ""
        self.citation_added = ""
        self._seen: set[str] = set()
        self._newline = False
        self._released = not self.key  # without key evidence there is nothing to wait for
        self._progress = 0
        self._courtesy_used = False

    def _clean_citations(self, sentence: str) -> str:
        def keep(n: int) -> bool:
            return 1 <= n <= self.n_passages and (not self._citable or n - 1 in self._citable)

        return _CITE.sub(lambda m: m.group(0) if keep(int(m.group(1))) else "", sentence)

    def _accept(self, sentence: str) -> bool:
        key = " ".join(re.findall(r"\w+", _CITE.sub("", sentence).lower()))
        if not key:
            return True
        if key in self._seen:
            self.problem = "repeated sentence"
            return False
        if len(self._seen) >= MAX_SENTENCES:
            return False  # long enough: stop quietly
        if any(h in sentence.lower() for h in self.headings):
            self.problem = "copied the prompt"
            return False
        if _DECLINE.search(sentence):
            # An adapter trained on an older round's replies writes its partial decline, quoting the
            # customer's words ("I couldn't find anything about "New York" ..."): never shown.
            self.problem = "wrote a decline"
            return False
        self._seen.add(key)
        bad = unsupported_claims(sentence, self.supported)
        if bad:
            self.problem = "unsupported " + ", ".join(sorted(c.split(":", 1)[1] for c in bad))
            return False
        wrong = self._misnamed_row(sentence)
        if wrong:
            self.problem = f"gives the {wrong} row's figures under another name"
            return False
        return True

    def _misnamed_row(self, sentence: str) -> str:
        """The key table row whose own figures the sentence states without naming it ("" if none): the
        model wrote "For Standard, ... $12.99" from the Express row. Without the row's name the
        sentence may still stand when the question names it and the sentence names no other row."""
        low, said = sentence.lower(), claims(sentence)
        for name, own in self._rows:
            if not own & said or name in low:
                continue
            others = {n for n in self._row_names if n != name and re.search(rf"\b{re.escape(n)}\b", low)}
            if name not in self.question.lower() or others:
                return name
        return ""

    def sentences(self, pieces: Iterable[str]) -> Iterator[str]:
        """The text to show as it becomes showable (see the module docstring)."""
        for sentence in self._checked(pieces):
            if self._released:
                if not self._on_topic(sentence):
                    return  # answered: what follows is another passage's topic, noise to this customer
                self.shown += sentence
                yield sentence
                continue
            if all(covers(self.text, e, self.question) for e in self.key):
                self._released = True
                self.shown = self.text
                yield self.text
                continue
            progress = coverage(self.text, self.key, self.question)
            if progress <= self._progress and not sentence.rstrip().endswith(":") and not self._courtesy(sentence):
                self.problem = "reply strays from the evidence"
                return
            self._progress = max(progress, self._progress)

    def _courtesy(self, sentence: str) -> bool:
        """One opening sentence of courtesy may precede the evidence ("I'm sorry about the trouble.",
        what the prompt asks for when the customer is upset). Refused as a stray before, it sent every
        apologising reply to the evidence. Only courtesy passes: a courtesy word, no other content word,
        no number, no yes/no or negation ("No, that's not possible." or "We no longer accept PayPal."
        would be an unchecked claim shown before the evidence)."""
        if self._courtesy_used or self.text.strip() != sentence.strip():
            return False
        low = _CITE.sub("", sentence).lower().replace("’", "'")
        words = set(re.findall(r"[a-z']+", low))
        if claims(sentence) or words & _NOT_COURTESY or "n't" in low or not words & _COURTESY_MARKS:
            return False
        if any(w not in _COURTESY_WORDS for w in content_words(low)):
            return False
        self._courtesy_used = True
        return True

    def _on_topic(self, sentence: str) -> bool:
        """Whether a sentence after the key evidence comes from a passage that holds key evidence
        (the passage its content words overlap most; a sentence without any may go on). A small model
        goes on to quote the prompt's other passages: "How do I delete my account?" got "... under
        Account settings > Privacy. Click Sign up at the top of any page ..."."""
        low = sentence.lower()
        keyed = {name for name, _ in self._rows}
        if (
            keyed
            and not any(n in low for n in keyed)
            and any(re.search(rf"\b{re.escape(n)}\b", low) for n in self._row_names - keyed)
        ):
            return False  # another row of the table ("For Next day, ...") after the asked one: not asked
        words = {stem(w) for w in content_words(_CITE.sub("", sentence))}
        if not self.key_passages or not words or not self._passage_words:
            return True
        overlap = [len(words & pw) for pw in self._passage_words]
        top = max(overlap)
        return top == 0 or any(overlap[i] == top for i in self.key_passages if i < len(overlap))

    def _checked(self, pieces: Iterable[str]) -> Iterator[str]:
        """Each sentence that passes the checks, as appended to `text`."""
        renderer, buffer = StreamRenderer(), ""
        for piece in pieces:
            buffer += renderer.feed(piece)
            while True:
                m = next((m for m in _END.finditer(buffer) if not _MARKER_ONLY.fullmatch(buffer[: m.end()])), None)
                if not m:
                    break
                sentence, buffer = buffer[: m.end()], buffer[m.end() :]
                if not sentence.strip():
                    self._newline = self._newline or "\n" in sentence
                    continue
                sentence = readable_sentence(self._clean_citations(sentence))
                if not self._accept(sentence):
                    return
                yield self._append(sentence)
        raw = buffer + renderer.flush()
        tail = raw.strip()
        # A fragment without an end mark was cut by max_new_tokens: shown only when it is all there is.
        if tail and (not self.text or re.search(r"[.!?\]]$", tail)):
            tail = readable_sentence(self._clean_citations(tail))
            if self._accept(tail):
                yield self._append("\n" + tail if raw.lstrip(" ").startswith("\n") else tail)

    def _append(self, sentence: str) -> str:
        """The sentence as appended to the text: a space between sentences, a newline kept."""
        sep = "" if not self.text else ("\n" if sentence.startswith("\n") or self._newline else " ")
        self._newline = sentence.endswith("\n")
        out = sep + sentence.strip()
        self.text += out
        return out

    def verdict(self, evidence: Sequence[str], first_passage: Sequence[int] = (), question: str = "") -> str:
        """Why the shown reply must be replaced by the evidence (empty when it stands): it must carry
        every evidence text; `first_passage[i]` is the passage of `evidence[i]`, cited if the reply cites none."""
        reply = self.shown.strip()
        if not reply:
            return self.problem or ("reply misses the evidence" if self.text else "empty reply")
        if not all(covers(reply, e, question) for e in evidence):
            return (self.problem + "; " if self.problem else "") + "reply misses the evidence"
        if not _CITE.search(reply) and first_passage:
            self.citation_added = " " + "".join(f"[{p + 1}]" for p in dict.fromkeys(first_passage))
        return ""


def key_rows(key: Sequence[str]) -> list[tuple[str, set[str]]]:
    """(row name, the claims only that row states) for each table row among the key units."""
    rows = [(cells[0][1].strip().lower(), claims(text)) for text in key if (cells := row_cells(text))]
    out = []
    for i, (name, said) in enumerate(rows):
        others = set().union(*(c for j, (_, c) in enumerate(rows) if j != i)) if len(rows) > 1 else set()
        out.append((name, said - others))
    return out
