"""The one prompt format: a pure function of history, passages and tags -> chat messages.

Inference (`Assistant.prompt`), dataset export, LoRA training and evaluation all build prompts
here, so an adapter is trained on exactly what it sees when serving. Passages are numbered [1],
[2] ... in the order the customer sees the sources, so citations in a reply map to them; the
pipeline passes each passage cut down to its sentences closest to the question (see
`assistant.grounding.evidence`), which keeps the prompt short and the facts easy to copy. History is
dropped oldest-first until the prompt plus the reply budget fits; the system message and the
current question are never dropped (passages shrink before that).
"""

from __future__ import annotations

from typing import Callable, Sequence

from assistant.config import PolicyConfig
from assistant.turn.policy import upset
from assistant.types import Passage, Tags

UPSET_SCORE = PolicyConfig().upset_score  # callers with a config pass theirs

PROMPT_FORMAT = "grounded-v1"  # recorded in exported datasets and adapter manifests

RULES = (
    "Answer the customer's question in one to three short sentences, using only the facts in the "
    "numbered knowledge-base passages, and cite the passage you used like [1]. Copy numbers, prices "
    "and times exactly as written. If the passages do not answer the question, say that you don't "
    "know and offer to connect the customer with a human agent. Never invent order details, prices or policies."
)


def system_prompt(business_name: str) -> str:
    """Persona + rules; the business name comes from `app.business_name`."""
    return f"You are a friendly, concise customer-service assistant for {business_name}. {RULES}"


def describe_tags(tags: Tags, upset_score: float = UPSET_SCORE) -> str:
    """A compact line about the customer: mood and useful entities (order ids, e-mails ...). The
    mood only when the customer is upset by the policy's measure: a plain question read as mildly
    negative got an apology it did not need."""
    parts = []
    if upset(tags.sentiment, threshold=upset_score):
        parts.append("the customer seems upset: acknowledge it briefly and be helpful")
    # Only identifiers: names and places in the hint ("mentioned: org Express") get copied into replies.
    useful = [e for e in tags.entities if e.type in {"ORDER_ID", "EMAIL"}]
    if useful:
        parts.append("mentioned: " + ", ".join(f"{e.type.lower()} {e.text}" for e in useful[:6]))
    return "; ".join(parts)


def format_passages(passages: Sequence[Passage], max_chars: int = 900) -> str:
    if not passages:
        return "No knowledge-base passages were found for this question."
    lines = []
    for i, p in enumerate(passages, 1):
        if not p.text.strip():  # nothing of it answers (the pipeline's compact step); its number stays free
            continue
        title = " > ".join(x for x in (p.title, p.heading) if x) or p.source
        body = p.text if len(p.text) <= max_chars else p.text[:max_chars].rstrip() + " …"
        lines.append(f"[{i}] {title}\n{body}")
    return "\n\n".join(lines)


def build_messages(
    history: Sequence[dict],
    question: str,
    passages: Sequence[Passage],
    tags: Tags,
    count_tokens: Callable[[list[dict]], int],
    budget: int,
    business_name: str = "Northwind Goods",
    upset_score: float = UPSET_SCORE,
) -> list[dict]:
    """Chat messages for the generator that fit in `budget` tokens.

    `history` holds earlier turns as {"role": "user"|"assistant", "content": str}, oldest first.
    `count_tokens` measures a message list with the model's chat template.
    """
    about = describe_tags(tags, upset_score)
    passages = list(passages)

    def assemble(hist: Sequence[dict], ps: Sequence[Passage], max_chars: int) -> list[dict]:
        system = system_prompt(business_name) + "\n\nKnowledge base:\n" + format_passages(ps, max_chars)
        if about:
            system += "\n\nAbout this customer: " + about + "."
        return [{"role": "system", "content": system}, *hist, {"role": "user", "content": question}]

    hist = [dict(role=m["role"], content=m["content"]) for m in history if m.get("content")]
    max_chars = 900
    while True:
        msgs = assemble(hist, passages, max_chars)
        if count_tokens(msgs) <= budget:
            return msgs
        if hist:
            # Drop the oldest exchange (user + assistant) together so roles keep alternating.
            hist = hist[2:] if len(hist) >= 2 else []
        elif max_chars > 300:
            max_chars //= 2
        elif len(passages) > 1:
            passages = passages[:-1]
        else:
            return msgs  # the question alone is over budget; the generator truncates from the left
