"""Escalation policy: answer, hand over to a person, offer one, or just acknowledge.

- An explicit request for a person, or "yes" to an offer made in the previous reply, hands the
  conversation over (`human_requested`, `offer_accepted`); so does a language the generator does
  not answer in (`unsupported_language`). The pipeline puts these in the handoff queue.
- `negative_turns` consecutive *negative* customer turns answer and offer a person (`negative_streak`):
  the sentiment tagger's negative probability is at least `negative_score` (`negative()` below; a
  label alone offered a human to calm customers). The threshold is chosen on half of the airline
  tweets and reported on the other half and on calm support questions (`benchmarks/escalation_rate.py`).
- The reply apologises only to an *upset* customer (`upset()`): the upset model's probability
  (`loopdesk finetune upset`, labelled customer messages) is at least `upset_score`. The tagger alone
  reads plain problem reports as negative ("How do I return it?" 0.81) and apologised to them.
- "no thanks" to an offer gets a short acknowledgement, no model call.

`not_covered` (the knowledge base has nothing on the question) is decided by the pipeline after
retrieval. Pure function of the message, its tags and the conversation so far.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from assistant.config import PolicyConfig
from assistant.turn import messages
from assistant.turn.handoff import accepts_offer, declines_offer
from assistant.types import Decision, Sentiment, Tags

_HUMAN = re.compile(
    r"\b(?:(?:talk|speak|chat)\s+(?:to|with)\s+(?:a\s+|an\s+|some\s*one|somebody|your\s+)?(?:real\s+|live\s+)?"
    r"(?:human|person|agent|representative|rep|someone|somebody|manager|supervisor|operator)"
    r"|(?:real|live)\s+(?:human|person|agent)|human\s+agent|customer\s+(?:service\s+)?(?:agent|representative)"
    r"|(?:transfer|connect|put)\s+me\s+(?:to|through|with)|escalate)\b",
    re.I,
)
_SHORT_PERSON = re.compile(r"^\W*(?:an?\s+)?(?:human|person|agent|operator|representative)(?:\s+please)?\W*$", re.I)


@dataclass
class Rules:
    negative_turns: int = 2
    negative_score: float = PolicyConfig().negative_score
    supported_languages: Sequence[str] = ("en",)
    business_name: str = "Northwind Goods"


def canned(reason: str, business_name: str = "Northwind Goods", language: str = "en") -> str:
    """The fixed message for a policy outcome, in the customer's language where translated."""
    return messages.text(reason, language, business=business_name)


def wants_human(text: str) -> bool:
    return bool(_HUMAN.search(text) or _SHORT_PERSON.match(text))


def upset(
    sentiment: Sentiment | None,
    scores: dict | None = None,
    *,
    threshold: float,
    negative_threshold: float = PolicyConfig().negative_score,
) -> bool:
    """Whether the reply should acknowledge the customer's feelings (the apology, the empathy line of
    the prompt): the upset model's probability (`scores["upset"]`, `assistant.taggers.upset`) >=
    `policy.upset_score`; for turns tagged without that model (it is missing, or the turn is older),
    the negative probability >= `negative_threshold` (`policy.negative_score`, the rule before the
    model); the label alone when no scores are known."""
    scores = scores if scores is not None else (sentiment.scores if sentiment else None)
    if scores:
        if "upset" in scores:
            return float(scores["upset"]) >= threshold
        return float(scores.get("negative", 0.0)) >= negative_threshold
    return bool(sentiment and sentiment.label == "negative")


def negative(sentiment: Sentiment | None, scores: dict | None = None, *, threshold: float) -> bool:
    """Whether a turn counts toward the streak that offers a person: the sentiment tagger's negative
    probability >= `policy.negative_score` (the label alone when no scores are known). Not the upset
    model: it reads form as well as words, and on airline tweets (statements, not questions) it would
    offer a person in 30% of calm conversations against 2% (benchmarks/escalation_rate.py)."""
    scores = scores if scores is not None else (sentiment.scores if sentiment else None)
    if scores:
        return float(scores.get("negative", 0.0)) >= threshold
    return bool(sentiment and sentiment.label == "negative")


def decide(text: str, tags: Tags, earlier_upset: Sequence[bool], rules: Rules, offered: bool = False) -> Decision:
    """`earlier_upset`: was each earlier customer turn negative (`negative()`, oldest first); `offered`:
    the last reply offered a person."""
    lang = tags.language if tags.language in messages.LANGUAGES else "en"
    if not text.strip():
        return Decision("prompt_user", "empty", messages.text("empty", lang))
    if wants_human(text):
        return Decision("escalate", "human_requested")
    if offered and accepts_offer(text):
        return Decision("escalate", "offer_accepted")
    if tags.language not in rules.supported_languages and tags.language != "unknown":
        return Decision("escalate", "unsupported_language", canned("unsupported_language", rules.business_name, lang))
    if offered and declines_offer(text) and len(text.split()) <= 4:
        return Decision("acknowledge", "offer_declined", canned("offer_declined", rules.business_name, lang))
    streak = 0
    for was_upset in reversed([*earlier_upset, negative(tags.sentiment, threshold=rules.negative_score)]):
        if not was_upset:
            break
        streak += 1
    if streak >= rules.negative_turns and not offered:
        # Still answer, then offer the person: an upset customer deserves both.
        return Decision("answer", "negative_streak", canned("negative_streak", rules.business_name, lang))
    return Decision("answer")
