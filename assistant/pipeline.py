"""`Assistant.respond()`: one customer turn, read top to bottom as the eight steps of the loop.

    1 language   2 sentiment   3 entities   4 passages   5 policy   6 prompt   7 generate   8 log

`respond_stream()` yields `("token", text)` events while the reply streams and ends with
`("done", TurnResult)`; `respond()` returns the TurnResult. Every model sits behind an injected
interface (generator, retriever, taggers), so unit tests run this with fakes. A failing step never
loses the customer's message: it is logged before generation starts.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Iterator

from assistant.config import Config
from assistant.errors import LoopdeskError
from assistant.language import detect_language
from assistant.placeholders import StreamRenderer
from assistant.policy import decide
from assistant.prompts import build_messages
from assistant.sanitize import sanitize
from assistant.store import Store
from assistant.types import Decision, Entity, Generator, Passage, Retriever, Sentiment, Tags, TurnResult

FRIENDLY_ERROR = ("Sorry — something went wrong on our side while answering. Your message is saved; "
                  "please try again, or ask for a human agent.")


@dataclass
class Timer:
    marks: dict[str, float] = field(default_factory=dict)
    t0: float = field(default_factory=time.perf_counter)
    last: float = 0.0

    def __post_init__(self) -> None:
        self.last = self.t0

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.marks[name] = round((now - self.last) * 1000, 2)
        self.last = now

    def since_start(self) -> float:
        return (time.perf_counter() - self.t0) * 1000


class Assistant:
    def __init__(self, cfg: Config, generator: Generator, store: Store, retriever: Retriever | None = None,
                 sentiment=None, ner=None, retriever_problem: str | None = None,
                 tagger_problems: list[str] | None = None, adapter_watcher=None) -> None:
        self.cfg, self.generator, self.store = cfg, generator, store
        self.adapter_watcher = adapter_watcher  # follows the live adapter between turns
        self.tagger_problems = tagger_problems or []
        self.retriever, self.retriever_problem = retriever, retriever_problem
        self.sentiment, self.ner = sentiment, ner

    def start_conversation(self, source: str = "chat") -> str:
        return self.store.new_conversation(source)

    def respond(self, conversation_id: str | None, message: str | bytes | None) -> TurnResult:
        result = None
        for kind, value in self.respond_stream(conversation_id, message):
            if kind == "done":
                result = value
        return result

    def respond_stream(self, conversation_id: str | None, message: str | bytes | None) -> Iterator[tuple[str, object]]:
        timer = Timer()
        clean = sanitize(message, self.cfg.policy.max_message_chars)
        if clean.empty:
            decision = decide("", Tags(), [], self.cfg.policy.negative_turns, self.cfg.policy.supported_languages)
            yield "done", self._result(conversation_id or "", None, decision.message, Tags(), [], decision, timer, None, clean.notes)
            return
        if self.adapter_watcher is not None:
            self.adapter_watcher.refresh()
        conversation_id = conversation_id or self.start_conversation()
        history = self.store.history(conversation_id)
        text = clean.text

        tags = Tags(language=self.detect_language(text))
        timer.mark("language")
        tags.sentiment = self.tag_sentiment(text, tags)
        timer.mark("sentiment")
        tags.entities = self.tag_entities(text, tags)
        timer.mark("entities")
        passages = self.retrieve(text, tags)
        timer.mark("retrieval")
        decision = self.decide(text, tags, history)
        messages = self.prompt(history, text, passages, tags)
        timer.mark("prompt")
        user_turn = self.log_user(conversation_id, text, tags, clean.notes)

        reply, first_token = "", None
        if decision.action == "answer":
            renderer = StreamRenderer()
            for piece in itertools.chain(self.generate(messages), [None]):  # None: flush the renderer
                piece = renderer.flush() if piece is None else renderer.feed(piece)
                if not piece:
                    continue
                if first_token is None:
                    first_token = timer.since_start()
                reply += piece
                yield "token", piece
            timer.mark("generate")
        if decision.message:
            addition = ("\n\n" if reply else "") + decision.message
            reply += addition
            yield "token", addition
        if not reply.strip():
            reply = FRIENDLY_ERROR
            yield "token", reply
        turn_id = self.log_reply(conversation_id, reply, passages, decision, timer, first_token, user_turn)
        timer.mark("log")
        yield "done", self._result(conversation_id, turn_id, reply, tags, passages, decision, timer, first_token, clean.notes)

    # --- the steps --------------------------------------------------------------------------
    def detect_language(self, text: str) -> str:
        return detect_language(text, default=self.cfg.policy.supported_languages[0])

    def tag_sentiment(self, text: str, tags: Tags) -> Sentiment | None:
        if self.sentiment is None:
            tags.notes.append(self._why_missing("sentiment"))
            return None
        try:
            return self.sentiment.tag(text)
        except Exception as exc:  # a tagger failure must not block the answer
            tags.notes.append(f"sentiment tagger failed: {exc}")
            return None

    def tag_entities(self, text: str, tags: Tags) -> list[Entity]:
        if self.ner is None:
            tags.notes.append(self._why_missing("ner"))
            return []
        try:
            return self.ner.tag(text)
        except Exception as exc:
            tags.notes.append(f"NER tagger failed: {exc}")
            return []

    def _why_missing(self, name: str) -> str:
        own = [p for p in self.tagger_problems if p.startswith(name)]
        shared = [p for p in self.tagger_problems if p.startswith(("taggers", "tagger backbone"))]
        return (own or shared or [f"{name} tagger not configured"])[0]

    def retrieve(self, text: str, tags: Tags) -> list[Passage]:
        if self.retriever is None:
            tags.notes.append(f"answering without retrieval: {self.retriever_problem or 'no index configured'}")
            return []
        try:
            found = self.retriever.search(text, self.cfg.retrieval.k)
        except LoopdeskError as exc:
            tags.notes.append(f"answering without retrieval: {exc}")
            return []
        return [p for p in found if p.score >= self.cfg.retrieval.min_score]

    def decide(self, text: str, tags: Tags, history: list[dict]) -> Decision:
        earlier = [t.get("sentiment") for t in history if t["role"] == "user"]
        return decide(text, tags, earlier, self.cfg.policy.negative_turns, self.cfg.policy.supported_languages)

    def prompt(self, history: list[dict], text: str, passages: list[Passage], tags: Tags) -> list[dict]:
        chat = [{"role": t["role"], "content": t["text"]} for t in history]
        budget = self.cfg.generation.context_tokens - self.cfg.generation.max_new_tokens
        return build_messages(chat, text, passages, tags, self.generator.count_tokens, budget)

    def generate(self, messages: list[dict]) -> Iterator[str]:
        try:
            yield from self.generator.stream(messages)
        except Exception as exc:  # keep serving: the customer sees a friendly message
            self.last_error = exc
            yield FRIENDLY_ERROR

    def log_user(self, conversation_id: str, text: str, tags: Tags, notes: list[str]) -> int:
        return self.store.add_turn(
            conversation_id, "user", text, language=tags.language,
            sentiment=tags.sentiment.label if tags.sentiment else None,
            sentiment_scores=tags.sentiment.scores if tags.sentiment else None,
            entities=[e.__dict__ for e in tags.entities], notes=notes + tags.notes)

    def log_reply(self, conversation_id: str, reply: str, passages: list[Passage], decision: Decision,
                  timer: Timer, first_token: float | None, user_turn: int) -> int:
        return self.store.add_turn(
            conversation_id, "assistant", reply,
            passages=[{"id": p.id, "source": p.source, "score": round(p.score, 4)} for p in passages],
            model_id=self.generator.model_id, adapter_id=self.generator.adapter_id,
            latency_ms=timer.since_start(), first_token_ms=first_token,
            escalation=decision.reason if decision.escalated else None,
            notes={"timings_ms": timer.marks, "user_turn": user_turn})

    def _result(self, conversation_id, turn_id, reply, tags, passages, decision, timer, first_token, notes) -> TurnResult:
        return TurnResult(conversation_id, turn_id, reply, tags, passages, decision, timer.since_start(), first_token,
                          getattr(self.generator, "model_id", ""), getattr(self.generator, "adapter_id", None),
                          list(notes), dict(timer.marks))
