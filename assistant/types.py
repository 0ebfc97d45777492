"""Plain data types and the small protocols the pipeline is wired with.

The pipeline only sees these interfaces (`Generator.stream`, `Embedder.embed`, `Tagger.tag`,
`Retriever.search`), never transformers or FAISS directly, so unit tests can inject fakes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Protocol, Sequence

if TYPE_CHECKING:
    from assistant.grounding.kb_terms import Vocabulary


@dataclass
class Passage:
    """A retrieved knowledge-base chunk."""

    id: str
    text: str
    source: str
    heading: str
    score: float
    title: str = ""


@dataclass
class Entity:
    type: str
    text: str
    start: int
    end: int
    score: float = 1.0


@dataclass
class Sentiment:
    label: str  # negative | neutral | positive
    scores: dict[str, float] = field(default_factory=dict)


@dataclass
class Tags:
    """Everything the enrichment steps learned about one customer message."""

    language: str = "unknown"
    sentiment: Sentiment | None = None
    entities: list[Entity] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


OFFER_REASONS = frozenset({"negative_streak", "not_covered"})
"""Escalations that answer and offer a person: a "yes" in the next message accepts."""
QUEUE_REASONS = frozenset({"human_requested", "offer_accepted", "unsupported_language"})
"""Escalations that put the conversation in the handoff queue."""


@dataclass
class Decision:
    """What the policy step decided: answer, or escalate to a human (with why)."""

    action: str  # answer | decline | escalate | acknowledge | prompt_user | hold (a person owns the conversation)
    reason: str = ""
    message: str = ""

    @property
    def escalated(self) -> bool:
        """A human was requested or offered (recorded in the store, counted by operators)."""
        return self.reason in QUEUE_REASONS | OFFER_REASONS


@dataclass
class TurnResult:
    conversation_id: str
    turn_id: int | None
    reply: str
    tags: Tags
    passages: list[Passage]
    decision: Decision
    latency_ms: float
    first_token_ms: float | None
    model_id: str
    adapter_id: str | None
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    """Milliseconds per pipeline step (language, sentiment, entities, retrieval, prompt, generate, log)."""

    grounding: str = ""
    """How the reply was checked: generated (passed), fallback:<why> (passage sentences instead),
    extractive, unchecked, or empty when no reply was generated."""

    def to_json(self) -> dict:
        return {
            "reply": self.reply,
            "conversation_id": self.conversation_id,
            "turn_id": self.turn_id,
            "language": self.tags.language,
            "sentiment": asdict(self.tags.sentiment) if self.tags.sentiment else None,
            "entities": [asdict(e) for e in self.tags.entities],
            "sources": [
                {"source": p.source, "heading": p.heading, "score": round(p.score, 4), "id": p.id}
                for p in self.passages
            ],
            "action": self.decision.action,
            "escalation_reason": self.decision.reason or None,
            "grounding": self.grounding,
            "latency_ms": round(self.latency_ms, 1),
            "first_token_ms": None if self.first_token_ms is None else round(self.first_token_ms, 1),
            "model": self.model_id,
            "adapter": self.adapter_id,
            "notes": self.notes + self.tags.notes,
        }


class Generator(Protocol):
    """A generation engine's generator (`assistant.serving.registry` opens one)."""

    model_id: str
    adapter_id: str | None
    engine_name: str
    engine_reason: str
    """Why this engine serves (the config, the hardware, what was missing), for the log and /readyz."""

    def set_adapter(self, adapter: "str | Path | None", adapter_id: str | None = None) -> None:
        """Serve this adapter directory (None: the base model); on failure keep the current one."""

    def first_text_eta(self, messages: list[dict], tokens: int) -> float | None:
        """Seconds until a reply's first `tokens` would be out, or None when the engine cannot tell."""

    def stream(self, messages: list[dict], max_new_tokens: int | None = None) -> Iterator[str]:
        """Yield text pieces of the reply to a list of chat messages. A generator that waits for a
        busy model may yield "" now and then meanwhile, so its caller can give up in time."""

    def count_tokens(self, messages: list[dict]) -> int:
        """Tokens the messages take once the chat template is applied."""


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> "object":
        """An (n, dim) float32 array of L2-normalised vectors."""


class Retriever(Protocol):
    embedder: Embedder
    """The embedder of the index; the pipeline reuses it to pick evidence sentences."""

    def search(self, query: str, k: int) -> list[Passage]:
        """The k best passages for a query, best first."""

    def vocabulary(self) -> "Vocabulary":
        """`assistant.grounding.kb_terms.Vocabulary` of the knowledge base (to tell what it never mentions)."""

    def section(self, passage_id: str) -> list[Passage]:
        """The passages of the section a cited passage belongs to (the page a citation links to)."""


class SentimentTagger(Protocol):
    def tag(self, text: str) -> Sentiment: ...


class EntityTagger(Protocol):
    def tag(self, text: str) -> list[Entity]: ...

    def model_entities(self, text: str) -> list[Entity]:
        """The model's spans alone, without the exact patterns (what export redaction uses for names)."""
        ...
