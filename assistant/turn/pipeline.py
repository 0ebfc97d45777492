"""`Assistant.respond()`: one customer turn, read top to bottom as the eight steps of the loop.

    1 language   2 sentiment   3 entities   4 passages   5 policy   6 prompt   7 generate   8 log

Step 4 searches with the context a follow-up needs and picks the passage sentences closest to the
question (the evidence); step 5 declines, offering a human, when the knowledge base does not
cover the question; step 7 streams the reply sentence by sentence through a grounding check, once
it carries the evidence, and answers with the evidence, cited, when the reply states a number the
passages do not, strays from or misses what they say (`generation.reader`), or would come too late
(`generation.first_text_seconds`).

`respond_stream()` yields `("token", text)` events while the reply streams and ends with
`("done", TurnResult)`; `respond()` returns the TurnResult. Every model sits behind an injected
interface (generator, retriever, taggers), so unit tests run this with fakes. A failing step never
loses the customer's message: it is logged before generation starts.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Generator as Gen
from typing import Any, Iterator

from assistant.cpu_turns import TURNS
from assistant.grounding.checked_stream import GroundedStream
from assistant.turn.admission import Admission
from assistant.turn.busy_watch import BusyWatch
from assistant.store.inbox import Inbox
from assistant.unavailable import Unavailable
from assistant.config import Config
from assistant.errors import LoopdeskError, ModelNotFoundError, StoreError
from assistant.turn.context import context_query, leans_back, standalone
from assistant.grounding.evidence import (
    Unit,
    evidence_units,
    extractive_reply,
    key_evidence,
    readable,
    row_cells,
    pick_evidence,
)
from assistant.grounding.relevance import Relevance, known_stems, question_features, unit_features
from assistant.memory.match import AnswerMemory, MemoryHit
from assistant.store.memory import MEMORY_ID
from assistant.turn.tagging import MessageTagging
from assistant.settings import LiveSettings
from assistant.grounding.placeholders import StreamRenderer
from assistant.turn import messages
from assistant import metrics
from assistant.turn.handoff import Handoff
from assistant.turn.policy import Rules, canned, decide, negative, upset
from assistant.turn.prompts import build_messages
from assistant.turn.sanitize import sanitize
from assistant.store.store import Store
from assistant.types import (
    OFFER_REASONS,
    QUEUE_REASONS,
    Decision,
    EntityTagger,
    Generator,
    Passage,
    Retriever,
    SentimentTagger,
    Tags,
    TurnResult,
)

log = logging.getLogger("loopdesk.pipeline")
# Tokens until a grounded reply's first sentence ends: 19 median, 24 at the 75th percentile
# (the model's replies to the 49 Northwind questions it answers, measured).
FIRST_SENTENCE_TOKENS = 24
# Units ranked per turn; the relevance model keeps those that carry the answer.
PICKED_UNITS = 6
MAX_QUOTED_UNITS = 3
# A message that leans back ("and", "that", "it") keeps the earlier topic unless the knowledge base
# answers it clearly better alone (answerability probabilities; set a priori, not tuned on the dev sets).
FOLLOW_UP_LEAN = 0.1

FRIENDLY_ERROR = (
    "Sorry — something went wrong on our side while answering. Your message is saved; "
    "please try again, or ask for a human agent."
)


TURN_DB_SECONDS = 1.5  # retrying a locked database inside a turn (then the turn spools)
DB_PAUSE_S = 5.0  # after a failed call, turns skip the database this long


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


@dataclass
class Found:
    """Step 4 and its judgement: what the knowledge base has for this message."""

    query: str
    """What was searched: the message, or the message with the earlier one it leans on."""
    passages: list[Passage]
    picked: list[tuple[Unit, float]]
    """Passage units closest to the query, best first."""
    answer_p: float = 0.0
    """P(the passages answer the question), from the relevance model."""
    answerable: bool = False
    evidence: list[tuple[Unit, float]] = field(default_factory=list)
    """The picked units that carry the answer (the relevance model's choice), best first."""
    features: dict = field(default_factory=dict)
    unit_features: list[dict] = field(default_factory=list)
    unit_texts: list[str] = field(default_factory=list)
    """Each picked unit with its section heading, as the reranker reads it (and is trained on)."""
    memory: MemoryHit | None = None
    """The approved answer-memory entry that answers it (then `passages` is that entry alone)."""


@dataclass
class Plan:
    tags: Tags
    passages: list[Passage]
    evidence: list[tuple[Unit, float]]
    """Passage units that carry the answer, best first."""
    decision: Decision
    shown: list[Passage]
    """The passages as the model sees them (cut to their evidence), numbered like `passages`."""
    messages: list[dict]


class Assistant:
    def __init__(
        self,
        cfg: Config,
        generator: Generator,
        store: Store,
        retriever: Retriever | None = None,
        sentiment: SentimentTagger | Unavailable | None = None,
        ner: EntityTagger | Unavailable | None = None,
        retriever_problem: str | None = None,
        tagger_problems: list[str] | None = None,
        adapter_watcher=None,
        open_retriever=None,
        spool=None,
        redactor=None,
        handoff: Handoff | None = None,
        rules: Rules | None = None,
        admission: Admission | None = None,
        relevance: Relevance | None = None,
        relevance_watcher=None,
        memory: AnswerMemory | None = None,
        inbox: Inbox | None = None,
        settings: LiveSettings | None = None,
    ) -> None:
        """`assistant.build.build_assistant` passes every part; unit tests pass what they need and
        get the config's defaults for the rest."""
        self.cfg, self.generator, self.store = cfg, generator, store
        self.adapter_watcher = adapter_watcher  # follows the live adapter between turns
        self.tagger_problems = tagger_problems or []
        # What is missing stands in its place with its reason (assistant.unavailable), never a bare None.
        # (`x or Unavailable(...)` would replace a stand-in that already says why: it is falsy.)
        self.retriever = (
            retriever
            if retriever is not None
            else Unavailable("knowledge base", retriever_problem or "no index configured")
        )
        self.open_retriever = open_retriever  # retried when there is no index yet (a later build is picked up)
        self._retriever_tried = time.monotonic()
        self.sentiment = sentiment if sentiment is not None else Unavailable("sentiment tagger", "not configured")
        self.ner = ner if ner is not None else Unavailable("NER tagger", "not configured")
        self.handoff = (
            handoff if handoff is not None else Handoff(store, default_wait_s=cfg.handoff.default_wait_minutes * 60)
        )
        self.spool = spool  # where turns go when the database cannot take them (assistant.store.spool)
        self.inbox = inbox  # each message fsync'ed as received, so a kill -9 loses none (assistant.store.inbox)
        self._db_down_until = 0.0  # after a failed call, turns skip the database for DB_PAUSE_S
        self.redactor = redactor  # card data, national ids (and contacts if configured) replaced first
        self.relevance = relevance if relevance is not None else Relevance.unavailable("not configured", False)
        self._unit_encoder_reported = False
        # Follows the relevance model a learning-loop round promoted (assistant.grounding.live_relevance).
        self.relevance_watcher = relevance_watcher
        if relevance_watcher is not None:
            relevance_watcher.warm = self.warm_relevance
        m = cfg.memory
        # The memory matches with the retrieval embedder: none while there is no index.
        self.memory = (
            memory
            if memory is not None
            else AnswerMemory(
                store, lambda: getattr(self.retriever, "embedder", None), m.min_similarity, m.check_seconds
            )
            if m.enabled
            else None
        )
        p = cfg.policy
        self.rules = (
            rules
            if rules is not None
            else Rules(p.negative_turns, p.negative_score, p.supported_languages, cfg.app.business_name)
        )
        self.admission = (
            admission
            if admission is not None
            else Admission(cfg.app.concurrent_turns, cfg.app.max_waiting, cfg.app.turn_seconds)
        )
        self.busy_watch = BusyWatch()  # the model giving way for lack of time, said when it is wrong
        # The owner's business name, greeting, colour and languages (console or CLI) over the config's,
        # read at each turn: a change applies from the next message, no restart.
        self.settings = settings if settings is not None else LiveSettings(store, cfg)

    def with_retriever(self, retriever: Retriever) -> "Assistant":
        """The same assistant (generator, store, taggers, policy shared) answering from another knowledge
        base: building grounded data over several KBs loads the model once."""
        import copy

        other = copy.copy(self)
        other.retriever, other.open_retriever = retriever, None
        return other

    def _db(self, call):
        """A database call inside a customer's turn: at most TURN_DB_SECONDS of retrying a locked
        database, and none at all for DB_PAUSE_S after one failed (every turn then spools or goes on
        without the read at once), so a busy store never holds replies back for long."""
        if time.monotonic() < self._db_down_until:
            raise StoreError("skipped: the database failed a moment ago")
        try:
            with self.store.budget(TURN_DB_SECONDS):
                return call()
        except StoreError:
            self._db_down_until = time.monotonic() + DB_PAUSE_S
            raise

    def start_conversation(self, source: str = "chat", meta: dict | None = None) -> str:
        try:
            return self._db(lambda: self.store.new_conversation(source, meta))
        except StoreError as exc:
            if self.spool is None:
                raise
            log.error("conversation not stored, spooled: %s", exc)
            metrics.error("store")
            record = {"op": "conversation", "id": str(uuid.uuid4()), "source": source, "meta": meta or {}}
            return self.spool.append(record)["id"]

    def store_turn(
        self,
        conversation_id: str,
        role: str,
        text: str,
        problems: list[str] | None = None,
        spool_key: str | None = None,
        **fields,
    ) -> int | None:
        """Write a turn; when the database cannot take it, spool it (None: no row id yet).
        `spool_key`: the inbox key of a received message (stored with it, so recovery skips it)."""
        try:
            return self._db(lambda: self.store.add_turn(conversation_id, role, text, spool_key=spool_key, **fields))
        except StoreError as exc:
            if self.spool is None:
                raise
            log.error("%s turn of %s not stored, spooled: %s", role, conversation_id, exc)
            metrics.error("store")
            if problems is not None:  # shown with the turn (insights, chat --json)
                problems.append(
                    "the database was unavailable: this turn is kept in the local spool and written when it is back"
                )
            record = {"op": "turn", "conversation_id": conversation_id, "role": role, "text": text, "fields": fields}
            self.spool.append({**record, "key": spool_key} if spool_key else record)
            return None

    def replay_spool(self) -> None:
        if self.spool is not None and self.spool.path.exists() and self.spool.path.stat().st_size:
            if time.monotonic() >= self._db_down_until:
                with self.store.budget(TURN_DB_SECONDS):
                    self.spool.replay(self.store)

    def _read_or(self, read, default, what: str, tags: Tags | None = None):
        """A read the turn can do without (history, ownership): on a database error, go on without it."""
        try:
            return self._db(read)
        except StoreError as exc:
            log.error("could not read %s: %s", what, exc)
            if tags is not None:
                tags.notes.append(f"could not read {what}: the database is unavailable")
            return default

    def respond(self, conversation_id: str | None, message: str | bytes | None, waited: float = 0.0) -> TurnResult:
        result = None
        for kind, value in self.respond_stream(conversation_id, message, waited):
            if kind == "done":
                result = value
        assert isinstance(result, TurnResult)  # respond_stream always ends with ("done", TurnResult)
        return result

    def respond_stream(
        self, conversation_id: str | None, message: str | bytes | None, waited: float = 0.0
    ) -> Iterator[tuple[str, Any]]:
        """Events: ("token", text) adds text to the reply; ("replace", text) replaces everything
        shown so far (a generated reply that failed the grounding check); ("done", TurnResult).
        `waited`: seconds the message waited in line before this turn began (counted toward
        generation.first_text_seconds: the customer has been waiting since they sent it)."""
        timer = Timer()
        clean = sanitize(message, self.cfg.policy.max_message_chars)
        if clean.empty:
            decision = decide("", Tags(), [], self.live_rules())
            yield (
                "done",
                self._result(
                    conversation_id or "", None, decision.message, Tags(), [], decision, timer, None, clean.notes
                ),
            )
            return
        if self.adapter_watcher is not None:
            self.adapter_watcher.refresh()
        if self.relevance_watcher is not None:
            self.relevance_watcher.refresh(self)
        self.replay_spool()
        conversation_id = conversation_id or self.start_conversation()
        text, redacted = self.redact(clean.text)
        if redacted:
            clean.notes.append(
                "replaced before storing: " + ", ".join(f"{k} x{v}" for k, v in sorted(redacted.items()))
            )
        # Durable before anything else can fail or be killed (redacted first: no card number on disk).
        received = self.inbox.receive(conversation_id, text) if self.inbox is not None else None
        if self._read_or(lambda: self.handoff.is_held(conversation_id), False, "who answers this conversation"):
            # A person owns this conversation (or it waits for one): keep the message, say nothing.
            tags = self.tag(text, timer)
            self.log_user(conversation_id, text, tags, clean.notes, received)
            decision = Decision("hold", self.handoff.state(conversation_id))
            yield "done", self._result(conversation_id, None, "", tags, [], decision, timer, None, clean.notes)
            return
        history = self._read_or(lambda: self.store.history(conversation_id), [], "the conversation so far")

        with TURNS.side():
            plan = self.plan(text, history, timer)
        tags, passages, evidence, decision = plan.tags, plan.passages, plan.evidence, plan.decision
        user_turn = self.log_user(conversation_id, text, tags, clean.notes, received)
        if decision.reason in QUEUE_REASONS:
            decision.message = self.queue(conversation_id, decision, tags.language)

        reply, first_token, grounding = "", None, ""
        if decision.action == "answer":
            limit = self.cfg.generation.first_text_seconds
            deadline = timer.t0 + limit - waited if limit > 0 else None
            for kind, value in self.answer(plan.messages, text, passages, evidence, tags, deadline):
                if kind == "grounding":
                    grounding = value
                    continue
                if first_token is None:
                    first_token = timer.since_start()
                reply = value if kind == "replace" else reply + value
                yield kind, value
            timer.mark("generate")
        if decision.message:
            addition = ("\n\n" if reply else "") + decision.message
            reply += addition
            yield "token", addition
        if not reply.strip():
            reply = FRIENDLY_ERROR
            yield "token", reply
        problems = [n for n in tags.notes if n.startswith(("generation failed", "knowledge base search failed"))]
        turn_id = self.log_reply(
            conversation_id, reply, plan.shown, decision, timer, first_token, user_turn, grounding, problems
        )
        timer.mark("log")
        result = self._result(
            conversation_id, turn_id, reply, tags, passages, decision, timer, first_token, clean.notes
        )
        result.grounding = grounding
        metrics.record_turn(result)
        if self.busy_watch.record(grounding, self.admission.load()["running"]):
            metrics.BUSY_FALLBACKS.inc()
        metrics.BUSY_SHARE.set(self.busy_watch.stats()["busy_share"])
        yield "done", result

    def answer_held(self, conversation_id: str) -> TurnResult | None:
        """After a person hands a conversation back: the customer's messages since the last reply (sent
        while the person held it, so nobody answered them) are answered now, as one question. The reply
        is stored marked `answered_after: handed_back`, which the customer's page shows when it polls.
        None when nothing waits, or a person still holds the conversation."""
        if self._read_or(lambda: self.handoff.is_held(conversation_id), True, "who answers this conversation"):
            return None  # a person (still) has it
        history = self._read_or(lambda: self.store.history(conversation_id, limit=50), [], "the conversation")
        waiting: list[dict] = []
        for turn in reversed(history):
            if turn["role"] != "user":
                break
            waiting.insert(0, turn)
        if not waiting:
            return None
        text = " ".join(t["text"] for t in waiting)
        earlier = history[: len(history) - len(waiting)]
        timer = Timer()
        with TURNS.side():
            plan = self.plan(text, earlier, timer)
        decision = plan.decision
        if decision.reason in QUEUE_REASONS:  # asking for a person again: queued again, and told so
            decision.message = self.queue(conversation_id, decision, plan.tags.language)
        reply, grounding = "", ""
        if decision.action == "answer":
            for kind, value in self.answer(plan.messages, text, plan.passages, plan.evidence, plan.tags, None):
                if kind == "grounding":
                    grounding = value
                else:
                    reply = value if kind == "replace" else reply + value
        if decision.message:
            reply += ("\n\n" if reply else "") + decision.message
        reply = reply if reply.strip() else FRIENDLY_ERROR
        turn_id = self.log_reply(
            conversation_id,
            reply,
            plan.shown,
            decision,
            timer,
            None,
            waiting[-1]["id"],
            grounding,
            [],
            answered_after="handed_back",
        )
        result = self._result(conversation_id, turn_id, reply, plan.tags, plan.passages, decision, timer, None, [])
        result.grounding = grounding
        log.info("answered %d message(s) left while a person held conversation %s", len(waiting), conversation_id)
        return result

    def plan(self, text: str, history: list[dict], timer: Timer | None = None) -> "Plan":
        """Steps 1-6 for a clean message: what the turn knows before anything is generated.
        Also used to build training data in exactly the prompt format of inference."""
        timer = timer or Timer()
        tags = self.tag(text, timer)
        found = self.find(text, history, tags)
        timer.mark("retrieval")
        decision = self.decide(text, tags, history, found)
        shown = self.compact(found.passages, found.evidence)
        messages = self.prompt(history, text, self.prompt_passages(text, found, shown), tags)
        timer.mark("prompt")
        return Plan(tags, found.passages, found.evidence, decision, shown, messages)

    def find(self, text: str, history: list[dict], tags: Tags) -> Found:
        """Step 4: search with the context a follow-up needs, rank the passages' units, and judge
        (learned relevance) whether they answer the question and which of them do. An approved
        answer-memory entry for the question comes first: the team's answer, as they wrote it."""
        asked = standalone(text, history)
        hit = self._read_or(lambda: self.memory.lookup(asked) if self.memory else None, None, "the answer memory", tags)
        if hit is not None:
            unit = Unit(hit.entry["answer"], 0, 0)
            return Found(asked, [hit.passage()], [(unit, hit.score)], hit.score, True, [(unit, hit.score)], memory=hit)
        alone = self.judge(text, self.retrieve(text, tags), text, tags)
        joint = context_query(text, history)
        if joint is None:
            return alone
        with_context = self.judge(joint, self.retrieve(joint, tags), [text, joint], tags)
        # Whether the topic changed is decided by what the knowledge base answers: "and how much is
        # that?" answers nothing alone, "one more question: can I pay with PayPal?" answers best alone.
        lean = FOLLOW_UP_LEAN if leans_back(text) else 0.0
        return with_context if with_context.answer_p + lean > alone.answer_p else alone

    def judge(self, query: str, passages: list[Passage], asked: str | list[str], tags: Tags | None = None) -> Found:
        """Rank the passages' units for `asked` (the message, or it and its context: their vectors are
        averaged) and judge them with the relevance model."""
        picked = self.pick_evidence(asked, passages, tags)
        found = Found(query, passages, picked)
        if not passages:
            return found
        known = known_stems(self.retriever.vocabulary()) if self.retriever else None
        headings = [" > ".join(x for x in (p.title, p.heading) if x) for p in passages]
        scores = [p.score for p in passages]
        best = f"{headings[picked[0][0].passage]} {picked[0][0].text}" if picked else passages[0].text
        found.unit_texts = [f"{headings[u.passage]}: {u.text}" for u, _ in picked]
        ce = self.relevance.rerank(query, found.unit_texts)
        found.features = question_features(query, scores, [s for _, s in picked], best, known, ce)
        found.answer_p, found.answerable = self.relevance.answer_prob(found.features, self.cfg.retrieval.min_score)
        found.unit_features = unit_features(
            query, [(u.text, u.passage, s) for u, s in picked], scores, headings, known, ce
        )
        keep = self.relevance.keep_units(found.unit_features, self.cfg.retrieval.fallback_units)
        found.evidence = [picked[i] for i in keep][:MAX_QUOTED_UNITS]
        return found

    def redact(self, text: str):
        """Payment data (and contacts, if configured) replaced by placeholders before anything sees
        or stores the message. A redactor that fails refuses the message rather than store it."""
        if self.redactor is None:
            return text, {}
        try:
            return self.redactor(text)
        except Exception as exc:
            log.exception("redaction failed")
            raise LoopdeskError(f"the message could not be checked for card data ({type(exc).__name__})") from exc

    def tag(self, text: str, timer: Timer) -> Tags:
        """Steps 1-3: language, sentiment, entities (`assistant.turn.tagging`, shared with `loopdesk tag`)."""
        return MessageTagging(self.settings.config(), self.sentiment, self.ner).tag(text, timer.mark)

    def queue(self, conversation_id: str, decision: Decision, language: str) -> str:
        """Put the conversation in the handoff queue; the message tells the customer what happens next."""
        try:
            self.handoff.request(conversation_id, decision.reason)
            status = self.handoff.status(conversation_id)
        except StoreError as exc:
            log.error("handoff of %s not recorded: %s", conversation_id, exc)
            metrics.error("store")
            return (
                "Sorry — I could not reach our team's queue just now. Please ask again in a minute, "
                "or contact us through the channels on our help pages."
            )
        lang = language if language in messages.LANGUAGES else "en"
        business = self.settings.current().business_name
        if status.online:
            wait = messages.text(
                "queued",
                lang,
                business=business,
                position=str(status.position or 1),
                wait=messages.wait_phrase(status.wait_s, lang),
            )
        else:
            # E-mail is promised only where the shop sends it (email.smtp_host).
            key = "queued_offline" if self.cfg.email.smtp_host else "queued_offline_no_email"
            wait = messages.text(key, lang, business=business)
        return f"{decision.message}\n\n{wait}" if decision.message else wait

    # --- the steps --------------------------------------------------------------------------
    @property
    def retriever_problem(self) -> str | None:
        """Why there is no knowledge base (None when there is one)."""
        return self.retriever.reason if isinstance(self.retriever, Unavailable) else None

    def retry_retriever(self) -> None:
        """No index at start: try again (at most every 30 s), so a later `index build` is used."""
        if self.retriever or self.open_retriever is None or time.monotonic() - self._retriever_tried < 30:
            return
        self._retriever_tried = time.monotonic()
        try:
            opened = self.open_retriever(self.cfg)
            self.retriever = opened if opened is not None else Unavailable("knowledge base", "no index configured")
            log.info("knowledge base index opened")
        except LoopdeskError as exc:
            self.retriever = Unavailable("knowledge base", str(exc))

    def retrieve(self, query: str, tags: Tags) -> list[Passage]:
        self.retry_retriever()
        if not self.retriever:
            tags.notes.append(f"no knowledge base, so every question is declined: {self.retriever_problem}")
            return []
        try:
            found = self.retriever.search(query, self.cfg.retrieval.k)
        except LoopdeskError as exc:
            tags.notes.append(f"knowledge base search failed, so the question is declined: {exc}")
            return []
        return [p for p in found if p.score >= self.cfg.retrieval.min_score]

    def pick_evidence(
        self, query: str | list[str], passages: list[Passage], tags: Tags | None = None
    ) -> list[tuple[Unit, float]]:
        """Passage sentences closest to the query, best first (empty without an embedder). The relevance
        model's unit encoder ranks them when it has one; the retrieval embedder otherwise."""
        embedder = getattr(self.retriever, "embedder", None)
        if not passages or embedder is None:
            return []
        headings = [" > ".join(x for x in (p.title, p.heading) if x) for p in passages]
        n = max(self.cfg.retrieval.evidence_units, self.cfg.retrieval.fallback_units, PICKED_UNITS)
        lookup = self.cfg.retrieval.table_lookup
        return pick_evidence(
            query, evidence_units(passages), self.unit_scorer(tags) or embedder, n, headings, lookup=lookup
        )

    def warm_relevance(self, relevance: Relevance) -> None:
        """Load a relevance model's unit encoder now (a promoted model, before it serves a turn)."""
        fresh = self._fresh_embedder()
        if fresh is not None:
            relevance.unit_scorer(fresh)

    def _fresh_embedder(self):
        """A maker of a new copy of the retrieval embedder's own class, which carries the unit encoder's
        adapter (`assistant` does not import `index`; the retriever's copy keeps ranking passages with the
        index's vectors), or None while there is no index."""
        embedder = getattr(self.retriever, "embedder", None)
        if embedder is None:
            return None
        return lambda: type(embedder)(self.cfg.models.embedder, self.cfg.home)

    def unit_scorer(self, tags: Tags | None):
        """The relevance model's unit encoder, or None (none configured, no index yet, or it failed to
        load: then the retrieval embedder ranks units, and the turn's notes and the log say why)."""
        fresh = self._fresh_embedder()
        if fresh is None:
            return None
        try:
            return self.relevance.unit_scorer(fresh)
        except ModelNotFoundError as exc:
            if not self._unit_encoder_reported:
                log.error("unit encoder unavailable, units ranked by the retrieval embedder: %s", exc)
                self._unit_encoder_reported = True
            if tags is not None:
                tags.notes.append(f"unit encoder unavailable, units ranked by the retrieval embedder: {exc}")
            return None

    def live_rules(self) -> Rules:
        """The policy's rules with the owner's business name and languages, where set (`self.settings`)."""
        o = self.settings.overrides()
        changes = {k: o[k] for k in ("business_name", "supported_languages") if k in o}
        return replace(self.rules, **changes) if changes else self.rules

    def decide(self, text: str, tags: Tags, history: list[dict], found: Found) -> Decision:
        threshold = self.cfg.policy.negative_score
        earlier = [
            negative(None, t.get("sentiment_scores"), threshold=threshold)
            if t.get("sentiment_scores")
            else t.get("sentiment") == "negative"
            for t in history
            if t["role"] == "user"
        ]
        replies = [t for t in history if t["role"] in ("assistant", "agent")]
        offered = (
            bool(replies) and replies[-1]["role"] == "assistant" and replies[-1].get("escalation") in OFFER_REASONS
        )
        decision = decide(text, tags, earlier, self.live_rules(), offered)
        if decision.action == "answer":
            why = self.not_covered(found)
            if why:
                tags.notes.append(f"declined: {why}")
                business = self.settings.current().business_name
                return Decision("decline", "not_covered", canned("not_covered", business, tags.language))
        return decision

    def not_covered(self, found: Found) -> str:
        """Why the knowledge base cannot answer this ("" when it can). A decline quotes nothing: not the
        customer's words, not a passage that does not answer."""
        if not found.passages:
            return "no passage above retrieval.min_score"
        if not self.retriever or found.answerable:
            return ""
        how = (
            "relevance model"
            if self.relevance.answerable is not None
            else f"best cosine (no relevance model: {self.relevance.problem})"
        )
        return f"the passages do not answer it (P={found.answer_p:.2f} by the {how})"

    def decline_reply(self, plan: "Plan") -> str:
        """The whole reply a customer reads when `plan` declines (grounded training data learns it)."""
        return plan.decision.message

    def prompt_passages(self, text: str, found: "Found", shown: list[Passage]) -> list[Passage]:
        """The passages the model reads: with the checked reader (`generation.prompt_evidence=key`), cut
        down to the key evidence its reply must carry, so copying what it is shown is the right answer;
        otherwise (or without key evidence) every picked unit (`shown`)."""
        if not self._key_prompt() or not found.evidence:
            return shown
        key = key_evidence(found.evidence[: self.cfg.retrieval.fallback_units], text, self.cfg.retrieval.key_margin)
        if not key:
            return shown
        return self.compact(found.passages, [(u, sim) for u, sim in found.evidence if any(u is k for k in key)])

    def compact(self, passages: list[Passage], evidence: list[tuple[Unit, float]]) -> list[Passage]:
        """Each passage cut down to its evidence units, table rows as sentences (numbering kept, so
        citations still map); a passage without one shows nothing: the model sees only what answers."""
        if not evidence:
            return passages
        keep = evidence[: self.cfg.retrieval.evidence_units]
        out = []
        for i, p in enumerate(passages):
            units = sorted((u for u, _ in keep if u.passage == i), key=lambda u: u.order)
            out.append(replace(p, text="\n".join(readable(u.text) for u in units)))
        return out

    def prompt(self, history: list[dict], text: str, passages: list[Passage], tags: Tags) -> list[dict]:
        # A person's replies read as the assistant's side of the conversation.
        chat = [{"role": "assistant" if t["role"] == "agent" else t["role"], "content": t["text"]} for t in history]
        budget = self.cfg.generation.context_tokens - self.cfg.generation.max_new_tokens
        return build_messages(
            chat,
            text,
            passages,
            tags,
            self.generator.count_tokens,
            budget,
            self.settings.current().business_name,
            self.cfg.policy.upset_score,
        )

    def answer(
        self,
        messages: list[dict],
        question: str,
        passages: list[Passage],
        evidence: list[tuple[Unit, float]],
        tags: Tags,
        deadline: float | None = None,
    ) -> Iterator[tuple[str, str]]:
        """Step 7: ("token"|"replace", text) events and one ("grounding", how) event. With the
        checked reader, the evidence answers when the model has shown nothing by `deadline`
        (time.perf_counter; see generation.first_text_seconds)."""
        if passages and MEMORY_ID.match(passages[0].id):
            # The team approved this answer for this question: it is said as written, cited.
            yield "token", passages[0].text.rstrip() + " [1]"
            yield "grounding", "answer memory"
            self.store.memory_used(int(passages[0].id.split(":", 1)[1]))
            return
        reader = self.cfg.generation.reader
        fallback = evidence[: self.cfg.retrieval.fallback_units]
        if reader == "extractive" and fallback:
            yield "token", self.extractive(fallback, tags)
            yield "grounding", "extractive"
            return
        if reader == "model" or not fallback:
            renderer = StreamRenderer()
            for piece in self.generate(messages, notes=tags.notes):
                if piece := renderer.feed(piece):
                    yield "token", piece
            if tail := renderer.flush():
                yield "token", tail
            yield "grounding", "unchecked"
            return
        key, checker = self.checker_for(question, passages, evidence)
        if not key:  # the evidence adds nothing to the question: no reply could be checked against it
            yield "token", self.extractive(fallback, tags)
            yield "grounding", "fallback: no informative evidence"
            return
        late = self._too_late(messages, deadline)
        if late:
            yield "token", self.extractive(fallback, tags)
            yield "grounding", f"fallback: busy, {late}"
            return
        stream = self.generate(messages, raise_errors=True)
        try:
            for text in checker.sentences(_until(stream, deadline, checker)):
                yield "token", text
        except FirstTextLate:
            checker.problem = f"busy, no checked text within {self._limit()}"
            log.info("answered from the passages: %s", checker.problem)
        except Exception as exc:  # the model failed: the passages still answer
            checker.problem = f"generation failed ({type(exc).__name__})"
            tags.notes.append(f"generation failed: {exc}")
            metrics.error("generation")
            log.exception("generation failed, answered from the passages")
        finally:
            stream.close()  # a reply stopped early frees its place in the engine now
        problem = checker.verdict([u.text for u in key], [u.passage for u in key], question)
        if problem:
            # Held text was never shown, so the evidence is usually the first thing the customer sees.
            yield "replace" if checker.shown else "token", self.extractive(fallback, tags)
            yield "grounding", f"fallback: {problem}"
            return
        if checker.citation_added:
            yield "token", checker.citation_added
        yield "grounding", "generated"

    def checker_for(
        self, question: str, passages: list[Passage], evidence: list[tuple[Unit, float]]
    ) -> tuple[list[Unit], GroundedStream]:
        """The key evidence a generated reply must carry, and the check its sentences go through (the
        checked reader's; training data for the reader is held to the same check)."""
        fallback = evidence[: self.cfg.retrieval.fallback_units]
        key = key_evidence(fallback, question, self.cfg.retrieval.key_margin)
        # A citation may name a passage the model was shown something of: the key ones when its prompt
        # holds only the key evidence, else those of every unit shown.
        shown_units = (
            [u for u in key] if self._key_prompt() else [u for u, _ in evidence[: self.cfg.retrieval.evidence_units]]
        )
        checker = GroundedStream(
            [p.text for p in passages] + [question],
            len(passages),
            [" > ".join(x for x in (p.title, p.heading) if x) for p in passages],
            key=[u.text for u in key],
            question=question,
            key_passages=[u.passage for u in key],
            row_names=[cells[0][1] for u in evidence_units(passages) if (cells := row_cells(u.text))],
            citable=sorted({u.passage for u in shown_units}),
        )
        return key, checker

    def _key_prompt(self) -> bool:
        gen = self.cfg.generation
        return gen.reader == "checked" and gen.prompt_evidence == "key"

    def _too_late(self, messages: list[dict], deadline: float | None) -> str:
        """Why the model's reply would come past the deadline ("" when it may not): the turn has
        waited that long already, or the engine says a first sentence would take longer than is left.
        Answering from the evidence at once then is what the customer would get at the deadline
        anyway, sooner, and the engine's time goes to replies that can make it."""
        if deadline is None:
            return ""
        left = deadline - time.perf_counter()
        if left <= 0:
            return f"no model reply started within {self._limit()}"
        try:
            wait = self.generator.first_text_eta(messages, FIRST_SENTENCE_TOKENS)
        except Exception as exc:  # an estimate is advice: without one the deadline still holds
            log.warning("first-text estimate failed: %s", exc)
            wait = None
        if wait is not None and wait > left:
            return f"a first sentence would take {wait:.1f} s, {left:.1f} s left of {self._limit()}"
        return ""

    def _limit(self) -> str:
        return f"{self.cfg.generation.first_text_seconds:g} s"

    def extractive(self, picked: list[tuple[Unit, float]], tags: Tags) -> str:
        reply = extractive_reply(picked)
        # Only an upset customer (policy.upset_score, the policy's own test) gets the apology: the tagger
        # leans negative on plain support questions ("How do I return it?" reads 0.82 negative); the upset
        # model (assistant.taggers.upset) tells them apart.
        policy = self.cfg.policy
        if tags.sentiment and upset(
            tags.sentiment, threshold=policy.upset_score, negative_threshold=policy.negative_score
        ):
            reply = "I'm sorry about the trouble." + ("\n" if "\n" in reply else " ") + reply
        return reply

    def generate(
        self, messages: list[dict], raise_errors: bool = False, notes: list[str] | None = None
    ) -> Gen[str, None, None]:
        try:
            yield from self.generator.stream(messages)
        except Exception as exc:  # keep serving: the customer sees a friendly message
            if not raise_errors:
                metrics.error("generation")
                log.exception("generation failed")
                if notes is not None:
                    notes.append(f"generation failed: {type(exc).__name__}: {exc}")
            if raise_errors:
                raise
            yield FRIENDLY_ERROR

    def log_user(
        self, conversation_id: str, text: str, tags: Tags, notes: list[str], received: str | None = None
    ) -> int | None:
        """Store the customer's message (under its inbox key), then release it from the inbox."""
        turn_id = self.store_turn(
            conversation_id,
            "user",
            text,
            tags.notes,
            received,
            language=tags.language,
            sentiment=tags.sentiment.label if tags.sentiment else None,
            sentiment_scores=tags.sentiment.scores if tags.sentiment else None,
            entities=[e.__dict__ for e in tags.entities],
            notes=notes + tags.notes,
        )
        if received is not None and self.inbox is not None:
            self.inbox.done(received)
        return turn_id

    def log_reply(
        self,
        conversation_id: str,
        reply: str,
        passages: list[Passage],
        decision: Decision,
        timer: Timer,
        first_token: float | None,
        user_turn: int | None,
        grounding: str = "",
        problems: list[str] | None = None,
        answered_after: str | None = None,
    ) -> int | None:
        """`answered_after`: why this reply came later than its message (`handed_back`): the page shows it."""
        # Passage texts are kept with the turn so `finetune export` can rebuild the exact prompt.
        return self.store_turn(
            conversation_id,
            "assistant",
            reply,
            None,
            passages=[
                {
                    "id": p.id,
                    "source": p.source,
                    "score": round(p.score, 4),
                    "title": p.title,
                    "heading": p.heading,
                    "text": p.text,
                }
                for p in passages
            ],
            model_id=self.generator.model_id,
            adapter_id=self.generator.adapter_id,
            latency_ms=timer.since_start(),
            first_token_ms=first_token,
            escalation=decision.reason if decision.escalated else None,
            reply_to=user_turn,
            notes={
                "timings_ms": timer.marks,
                "user_turn": user_turn,
                "grounding": grounding,
                "problems": problems or [],
                **({"answered_after": answered_after} if answered_after else {}),
            },
        )

    def _result(
        self, conversation_id, turn_id, reply, tags, passages, decision, timer, first_token, notes
    ) -> TurnResult:
        return TurnResult(
            conversation_id,
            turn_id,
            reply,
            tags,
            passages,
            decision,
            timer.since_start(),
            first_token,
            self.generator.model_id,
            self.generator.adapter_id,
            list(notes),
            dict(timer.marks),
        )


class FirstTextLate(Exception):
    """The model showed nothing checked before the turn's first-text deadline."""


def _until(pieces: Iterator[str], deadline: float | None, checker: GroundedStream) -> Iterator[str]:
    """The model's pieces while nothing has been shown and the deadline has not passed (a busy
    engine yields "" while it waits, so this notices in time); once text is shown, all of them."""
    for piece in pieces:
        if deadline is not None and not checker.shown and time.perf_counter() > deadline:
            raise FirstTextLate
        yield piece
