"""Continuous batching over llama.cpp: many customers' replies decode together in one model call.

One background thread owns a llama.cpp context with `slots` sequences. Each step it packs into a
single `llama_decode` batch the next token of every reply in progress plus chunks of the prompts of
newly admitted ones (up to `n_batch` tokens), then samples one token per reply from its logits. A
reply that ends (end-of-generation token, its token limit, its deadline, or a caller that stopped
reading) frees its slot for the next request in line at once — nobody waits for a whole batch.

Each sequence has a KV cache of its own (llama.cpp's `kv_unified=False`): with one cache shared by all
sequences, every token attends over the cells of every reply in flight (masked), and a step of 8
replies with 340-token prompts took 58 ms instead of 40 (bf16 + adapter, measured; it grows with
the number of replies). No prompt start is read twice: the system prompt (about 40% of a turn's
prompt) is kept in a sequence of its own, a finished reply's cache stays in its sequence until the
slot is needed, and a reply in flight lends its own; a new prompt starts after the longest start any
of them holds (see `_place`). Each step runs under `assistant.cpu_turns`, so the rest of a turn's
work does not take a core from llama.cpp's threads in the middle of one.

Why our own scheduler: llama-cpp-python's `Llama` decodes one sequence at a time and its server
serialises requests; the batching is llama.cpp's own (`n_seq_max` sequences in one context).

A new adapter reaches the next reply without a restart, two ways: `use_model` swaps in a model with
the adapter folded into its weights (`assistant.serving.llama.lora_merge`; the default, faster) once the replies in
flight have ended — new ones wait in line meanwhile; `use_lora` applies a GGUF LoRA at run time from
the next step on (quantised weights, which cannot take a merge).

    python -m assistant.serving.llama.engine 8     # decode 8 prompts together and print tokens/s
"""

from __future__ import annotations

import codecs
import collections
import ctypes
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.cpu_turns import TURNS
from assistant.errors import GenerationError, ModelNotFoundError

log = logging.getLogger("loopdesk.llama")
RECALIBRATE_IDLE_S = 30.0  # an idle engine times its steps again when the last timing is older


def model_params(ll):
    """llama.cpp's model parameters, with the AMX weight buffers off where this build has them.

    `scripts/install_llama_cpp.sh` builds llama.cpp without its AMX kernels, because they crash
    decoding the bundled Q4_1 (ggml-org/llama.cpp#20824). A llama-cpp-python built some other way
    (a native pip build on an AMX CPU) still has them: keeping the weights out of the extra
    (AMX / repacked) buffers means no AMX kernel ever runs, at the cost of the repacked Q4 kernels."""
    from assistant.serving.llama.probe import amx_compiled, system_info

    params = ll.llama_model_default_params()
    if amx_compiled(system_info()):
        global _warned_amx
        if not _warned_amx:
            log.warning("llama.cpp was built with AMX kernels (known to crash on Q4 weights): not using them")
            _warned_amx = True
        params.use_extra_bufts = False
    return params


_warned_amx = False


class EngineBusy(GenerationError):
    """The line of waiting replies is full; the caller should tell the customer and retry later."""


class TurnTimeout(GenerationError):
    """A reply ran past its deadline (waiting plus decoding)."""


@dataclass
class Sampling:
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int = 0
    ignore_eos: bool = False
    """Decode exactly max_new_tokens (benchmarks compare engines on the same number of tokens)."""


@dataclass
class Request:
    """One reply in the engine: prompt ids in, text pieces out through `out`."""

    ids: list[int]
    sampling: Sampling
    deadline: float
    out: "queue.Queue[tuple[str, object]]" = field(default_factory=queue.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    seq: int = -1
    n_past: int = 0
    next_token: int | None = None
    generated: list[int] = field(default_factory=list)
    decoder: codecs.IncrementalDecoder = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    rng: np.random.Generator | None = None
    share_prefix: int = 0
    drafts: list[int] = field(default_factory=list)
    """Tokens guessed from the prompt for this step (greedy replies only), checked by the model."""

    def cached(self) -> list[int]:
        """The tokens whose cache this reply's sequence holds (positions 0 .. n_past - 1)."""
        return (self.ids + self.generated)[: self.n_past]


class LlamaEngine:
    def __init__(
        self,
        gguf_path: str | Path,
        slots: int = 8,
        context_tokens: int = 2048,
        threads: int = 0,
        n_batch: int = 512,
        max_waiting: int = 64,
        draft_tokens: int = 0,
    ) -> None:
        import os

        import llama_cpp as ll

        self.ll = ll
        # llama.cpp prints every load step to stderr through this logger; keep its errors only.
        if not log.isEnabledFor(logging.DEBUG):
            logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        ll.llama_backend_init()
        threads = threads or max(1, len(os.sched_getaffinity(0)))
        cparams = ll.llama_context_default_params()
        # Room for every slot's full context, plus the shared prefix's sequence.
        cparams.n_ctx = context_tokens * (slots + 1)
        cparams.n_batch = cparams.n_ubatch = n_batch
        cparams.n_seq_max = slots + 1  # the last sequence holds the shared prompt prefix
        cparams.n_threads = cparams.n_threads_batch = threads
        cparams.kv_unified = False  # a cache per sequence (see the module docstring)
        # An f16 cache (llama.cpp's default): a q8_0 one halves its memory, but a step of 8 replies with
        # 340-token prompts took 53 ms instead of 40 (bf16 + adapter, measured). Flash attention: as fast.
        cparams.flash_attn_type = ll.LLAMA_FLASH_ATTN_TYPE_ENABLED
        cparams.no_perf = True
        self._cparams = cparams
        self.model = self.ctx = None
        self._load(Path(gguf_path))
        self.batch = ll.llama_batch_init(n_batch, 0, 1)
        self.slots: int = slots
        self.context_tokens, self.n_batch, self.max_waiting = context_tokens, n_batch, max_waiting
        self.threads: int = threads
        self.draft_tokens = draft_tokens
        self.drafted = self.accepted = 0  # draft tokens checked / confirmed by the model
        self._cv = threading.Condition()
        self._waiting: collections.deque[Request] = collections.deque()
        self._active: list[Request] = []
        # Free sequences, least recently used first, with the tokens their caches still hold: a
        # finished reply's cache is kept until its sequence is needed (see `_place`).
        self._free: collections.OrderedDict[int, list[int]] = collections.OrderedDict((s, []) for s in range(slots))
        self._prefix_seq = slots
        self._prefix: list[int] = []  # tokens whose cache `_prefix_seq` holds
        self._last_ids: list[int] = []
        self.prefix_tokens_reused = 0  # prompt tokens not read again (a kept cache taken over or copied)
        self.prompt_tokens = 0  # prompt tokens of every reply placed
        self._tasks: collections.deque[tuple] = collections.deque()  # run on the engine thread between steps
        self._switch: tuple[Path, Future] | None = None  # a model to serve once the replies in flight end
        self._switch_lock = threading.Lock()
        self.swaps = 0  # models swapped in since start
        self._closed = False
        self.steps = 0
        self._step_costs: collections.deque[tuple[int, float]] = collections.deque(maxlen=64)  # (tokens, s)
        self._calibrated = threading.Event()
        self._last_timed = time.monotonic()
        self.recalibrations = 0  # step costs timed again while idle (see _loop)
        self._thread = threading.Thread(target=self._loop, name="llama-engine", daemon=True)
        self._thread.start()
        self._calibrated.wait(60)  # ready to serve when constructed (a deadline does not pay for it)

    # --- public -----------------------------------------------------------------------------
    def use_lora(self, path: Path | None, timeout: float = 120.0) -> None:
        """Serve this GGUF LoRA adapter (None: the base model) from the next decode step on.

        Loaded and applied on the engine's own thread, between two steps (llama.cpp's model and
        context are not shared across threads); raises GenerationError if llama.cpp rejects it,
        and the adapter in use stays."""
        done: Future = Future()
        with self._cv:
            self._tasks.append((lambda: self._switch_lora(path), done))
            self._cv.notify()
        done.result(timeout=timeout)

    def use_model(self, path: Path, timeout: float = 300.0) -> None:
        """Serve another GGUF model (the same vocabulary: e.g. one with an adapter folded in).

        New replies wait in line while the ones in flight finish (at most their time limit), then
        the engine thread swaps the model between two steps: one model in memory at a time. If the
        new file does not load, the old one is loaded again and GenerationError is raised."""
        with self._switch_lock:
            done: Future = Future()
            with self._cv:
                self._switch = (Path(path), done)
                self._cv.notify()
            done.result(timeout=timeout)

    def _load(self, path: Path) -> None:
        """Load `path` and make its context, freeing the ones in use first (engine thread, or
        __init__); raises ModelNotFoundError, and then nothing is loaded."""
        ll = self.ll
        if self.ctx:
            ll.llama_free(self.ctx)
        if self.model:
            ll.llama_model_free(self.model)  # also frees the run-time adapters loaded for it
        self.model = self.ctx = None
        self._adapters: dict[str, object] = {}
        if not path.is_file():
            raise ModelNotFoundError(f"GGUF model {path} is missing")
        model = ll.llama_model_load_from_file(str(path).encode(), model_params(ll))
        if not model:
            raise ModelNotFoundError(f"llama.cpp cannot load {path}")
        ctx = ll.llama_init_from_model(model, self._cparams)
        if not ctx:
            ll.llama_model_free(model)
            raise ModelNotFoundError(
                f"llama.cpp cannot create a context for {path} ({self._cparams.n_seq_max - 1} x "
                f"{self._cparams.n_ctx // self._cparams.n_seq_max} tokens)"
            )
        self.model, self.ctx, self.path = model, ctx, path
        self.vocab = ll.llama_model_get_vocab(model)
        self.n_vocab = ll.llama_vocab_n_tokens(self.vocab)
        self.mem = ll.llama_get_memory(ctx)

    def _swap_model(self, path: Path) -> None:
        old = self.path
        self._forget_caches()  # the new context's caches start empty
        self._last_ids = []
        try:
            self._load(path)
        except ModelNotFoundError as exc:
            self._load(old)
            raise GenerationError(f"{exc}; still serving {old.name}") from exc
        self.swaps += 1
        log.info("llama.cpp now serves %s", path.name)

    def _switch_lora(self, path: Path | None) -> None:
        ll = self.ll
        self._forget_caches()  # they were computed with the adapter being replaced
        adapters = []
        if path is not None:
            key = f"{path}:{path.stat().st_mtime_ns}"
            if key not in self._adapters:
                adapter = ll.llama_adapter_lora_init(self.model, str(path).encode())
                if not adapter:
                    raise GenerationError(f"llama.cpp rejected the LoRA adapter {path}")
                self._adapters[key] = adapter
            adapters.append(self._adapters[key])
        arr = (ll.llama_adapter_lora_p_ctypes * max(1, len(adapters)))(*adapters)
        scales = (ctypes.c_float * max(1, len(adapters)))(*([1.0] * len(adapters)))
        if ll.llama_set_adapters_lora(self.ctx, arr, len(adapters), scales) != 0:
            raise GenerationError(f"llama.cpp could not apply the LoRA adapter {path}")

    def submit(self, ids: list[int], sampling: Sampling, seconds: float) -> Request:
        """Queue a reply; its pieces arrive on `request.out`. Raises EngineBusy when the line is full."""
        if not ids:
            raise GenerationError("empty prompt")
        keep = max(16, self.context_tokens - sampling.max_new_tokens)
        req = Request(ids[-keep:], sampling, time.monotonic() + seconds)
        if sampling.temperature > 0:
            req.rng = np.random.default_rng(sampling.seed)
        with self._cv:
            if self._closed:
                raise GenerationError("the llama.cpp engine is closed")
            if len(self._waiting) >= self.max_waiting:
                raise EngineBusy(f"{len(self._waiting)} replies already waiting for the model")
            self._waiting.append(req)
            self._cv.notify()
        return req

    def eta(self, ids: list[int], tokens: int) -> float | None:
        """About how many seconds a reply to `ids`, submitted now, would take to produce `tokens`
        tokens (None until a few steps have been timed). Every prompt token not yet read, its own
        included (past the shared system prompt), costs what a token costs in the steps measured
        lately; then each token of the reply takes one step, shared with every other reply in flight."""
        with self._cv:
            if len(self._step_costs) < 2:
                return None
            n, t = np.array(self._step_costs, dtype=np.float64).T
            unread = sum(len(r.ids) - r.n_past for r in self._active if r.next_token is None)
            unread += sum(len(r.ids) - _common(r.ids, self._prefix) for r in self._waiting)
            unread += len(ids) - _common(ids, self._prefix)
            replies = min(self.slots, len(self._active) + len(self._waiting) + 1)
        # step seconds = overhead + per_token * tokens in the step, fitted to the recent steps
        if np.ptp(n) > 0:
            per_token, overhead = np.polyfit(n, t, 1)
        else:
            per_token, overhead = t.mean() / max(n.mean(), 1.0), 0.0
        per_token, overhead = max(float(per_token), 1e-5), max(float(overhead), 0.0)
        prompt = unread * per_token + -(-unread // self.n_batch) * overhead
        return prompt + tokens * (overhead + per_token * replies)

    def _calibrate(self) -> None:
        """Time a step of 128 and one of 16 tokens in a scratch sequence (after one untimed, which
        pays for first-touch memory), so `eta` knows the step costs before the first reply: ~0.3 s,
        on the engine thread before it takes any reply."""
        big, small = min(128, self.n_batch), min(16, self.n_batch)
        for timed, n in ((False, big), (True, big), (True, small)):
            for i in range(n):
                self._add(i, i % self.n_vocab, i, 0, i == n - 1)
            self.batch.n_tokens = n
            t0 = time.monotonic()
            ok = self.ll.llama_decode(self.ctx, self.batch) == 0
            seconds = time.monotonic() - t0
            self.ll.llama_memory_seq_rm(self.mem, 0, -1, -1)
            if ok and timed:
                with self._cv:  # `eta` reads them from request threads
                    self._step_costs.append((n, seconds))
                    self._last_timed = time.monotonic()

    def _stale(self) -> bool:
        """The step costs were last timed long ago (caller holds the lock)."""
        return time.monotonic() - self._last_timed > RECALIBRATE_IDLE_S

    def load(self) -> dict:
        """Replies decoding and waiting (for health pages and the load benchmark)."""
        with self._cv:
            return {"active": len(self._active), "waiting": len(self._waiting), "slots": self.slots}

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        raw = text.encode()
        buf = (self.ll.llama_token * (len(raw) + 16))()
        n = self.ll.llama_tokenize(self.vocab, raw, len(raw), buf, len(buf), False, special)
        if n < 0:
            raise GenerationError(f"prompt of {len(raw)} bytes does not tokenize")
        return list(buf[:n])

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout=10)

    # --- the loop -----------------------------------------------------------------------------
    def _loop(self) -> None:
        # On this thread, like every decode: llama.cpp's OpenMP team belongs to the thread that
        # calls it, and a first decode on another thread left replies decoding at 53 instead of 83
        # tokens/s (measured).
        try:
            self._calibrate()
        finally:
            self._calibrated.set()
        while True:
            recalibrate = False
            with self._cv:
                while (
                    not self._closed and not self._waiting and not self._active and not self._tasks and not self._switch
                ):
                    # Idle: step costs timed while the machine was busy would keep every later reply
                    # "too late" for good (no reply runs, so no step corrects them): time fresh ones.
                    if not self._cv.wait(timeout=RECALIBRATE_IDLE_S) and self._stale():
                        recalibrate = True
                        break
                if recalibrate:
                    self._step_costs.clear()
                if self._closed:
                    for r in list(self._waiting) + self._active:
                        r.out.put(("error", GenerationError("the llama.cpp engine was closed")))
                    return
            if recalibrate:
                self._calibrate()
                self.recalibrations += 1
                continue
            with self._cv:
                tasks, self._tasks = self._tasks, collections.deque()
                # Caches of replies in flight before this round (a sequence filled by a copy in this
                # round is not copied again before the next decode has moved its data).
                admit = bool(self._free and self._waiting and not self._switch)  # a model swap waits for no reply
                sources = [(o.seq, o.cached()) for o in self._active] if admit else []
                while admit and self._free and self._waiting:
                    r = self._waiting.popleft()
                    if r.cancelled.is_set():
                        continue
                    self._place(r, sources)
                    self._active.append(r)
                active = list(self._active)
                switch, self._switch = (self._switch, None) if self._switch and not active else (None, self._switch)
            if switch:
                try:
                    self._swap_model(switch[0])
                    switch[1].set_result(None)
                except Exception as exc:
                    switch[1].set_exception(exc)
            for fn, done in tasks:
                try:
                    done.set_result(fn())
                except Exception as exc:
                    done.set_exception(exc)
            if active:
                try:
                    self._step(active)
                except Exception as exc:  # a failed decode ends the replies in it, never the engine
                    log.exception("llama.cpp decode step failed")
                    for r in active:
                        self._finish(r, GenerationError(f"llama.cpp decode failed: {exc}"))

    # --- reusing computed prompt starts ---------------------------------------------------------------
    # A prompt is the system prompt, then the passages picked for the question, then the conversation.
    # Its cache is worth reusing at three levels: the system prompt (every turn, about 40% of a
    # prompt) is kept in a sequence of its own; and a reply's whole cache stays in its sequence after
    # it ends, so a later question that retrieves the same passages (a popular question, asked again
    # in other words or by another customer) starts after them. The longest start wins: a free
    # sequence that holds it is taken over as it is, a reply in flight or the system prompt is copied.
    # The system prompt is learnt, not configured: the longest common start of two consecutive
    # prompts, so a new business name or prompt template is picked up by itself.
    MIN_PREFIX = 32

    def _place(self, r: Request, sources: list[tuple[int, list[int]]]) -> None:
        """Give `r` a free sequence, its cache filled with the longest start of its prompt we hold."""
        limit = len(r.ids) - 1  # the last prompt token is always fed: its logits give the first token
        src, best = self._prefix_seq, min(_common(r.ids, self._prefix), limit)
        prefix = best
        for seq, toks in [*self._free.items(), *sources]:
            n = min(_common(r.ids, toks), limit)
            if n > best:
                src, best = seq, n
        if best < self.MIN_PREFIX:
            r.seq, best = next(iter(self._free)), 0  # the least recently used
        elif src in self._free and (best == len(self._free[src]) or len(self._free) == 1):
            r.seq = src  # all it holds is this prompt's start (or it is the last one free): take it over
        else:  # copy, and keep the source's own cache for a later prompt that continues it
            r.seq = next(s for s in self._free if s != src)
            self._copy(src, r.seq, best)
        del self._free[r.seq]
        self.ll.llama_memory_seq_rm(self.mem, r.seq, best, -1)
        r.n_past = best
        self.prefix_tokens_reused += r.n_past
        self.prompt_tokens += len(r.ids)
        if prefix < self.MIN_PREFIX:  # none yet, or another system prompt now
            learn = min(_common(r.ids, self._last_ids), limit)
            if learn >= self.MIN_PREFIX:
                r.share_prefix = learn  # once prefilled that far, its cache becomes the shared prefix
        self._last_ids = r.ids

    def _publish_prefix(self, r: Request) -> None:
        self._forget_prefix()
        self._copy(r.seq, self._prefix_seq, r.share_prefix)
        self._prefix = r.ids[: r.share_prefix]
        r.share_prefix = 0

    def _copy(self, src: int, dst: int, n: int) -> None:
        """The first `n` cached positions of sequence `src` into the empty sequence `dst`: llama.cpp
        copies a whole per-sequence cache (at the next decode); the tail past `n` is dropped."""
        self.ll.llama_memory_seq_cp(self.mem, src, dst, -1, -1)
        self.ll.llama_memory_seq_rm(self.mem, dst, n, -1)

    def _forget_prefix(self) -> None:
        if self._prefix:
            self.ll.llama_memory_seq_rm(self.mem, self._prefix_seq, -1, -1)
            self._prefix = []

    def _forget_caches(self) -> None:
        """Drop every kept cache (the adapter changes: they were computed with the old one)."""
        self._forget_prefix()
        self._forget_replies()

    def _forget_replies(self) -> None:
        for seq in self._free:
            self.ll.llama_memory_seq_rm(self.mem, seq, -1, -1)
            self._free[seq] = []

    def forget_replies(self) -> None:
        """Drop the caches finished replies left behind, keeping the system prompt's (benchmarks:
        a prompt timed again is read again, as a new question's would be)."""
        done: Future = Future()
        with self._cv:
            self._tasks.append((self._forget_replies, done))
            self._cv.notify()
        done.result(timeout=60)

    def _step(self, active: list[Request]) -> None:
        b, now = self.batch, time.monotonic()
        n, outputs = 0, []
        for r in active:  # stop replies whose reader left or whose time is up, before spending on them
            if r.cancelled.is_set():
                self._finish(r, None)
            elif now > r.deadline:
                self._finish(r, TurnTimeout("the reply ran past its time limit"))
        active = [r for r in active if r.seq >= 0]
        decoding = [r for r in active if r.next_token is not None]
        guess = self.draft_tokens > 0 and len(decoding) <= self.DRAFT_WHEN_AT_MOST
        for r in decoding:
            assert r.next_token is not None  # decoding: it has a token to feed
            self._add(n, r.next_token, r.n_past, r.seq, True)
            outputs.append((r, n))
            r.n_past += 1
            n += 1
            if guess and r.sampling.temperature <= 0 and r.sampling.repetition_penalty == 1.0:
                room = min(
                    self.n_batch - n - len(decoding),  # every reply's next token still fits
                    self.context_tokens - r.n_past - 1,
                    r.sampling.max_new_tokens - len(r.generated) - 1,
                )
                r.drafts = self._draft(r.ids + r.generated, min(self.draft_tokens, room))
                for j, tok in enumerate(r.drafts):
                    self._add(n, tok, r.n_past + j, r.seq, True)
                    n += 1
        for r in active:
            if r.next_token is None and n < self.n_batch:
                chunk = r.ids[r.n_past : r.n_past + self.n_batch - n]
                for j, tok in enumerate(chunk):
                    last = r.n_past + j == len(r.ids) - 1
                    self._add(n, tok, r.n_past + j, r.seq, last)
                    if last:
                        outputs.append((r, n))
                    n += 1
                r.n_past += len(chunk)
        if n == 0:
            return
        b.n_tokens = n
        t0 = time.monotonic()  # timed with the wait for side work: what a step costs the replies
        with TURNS.engine():  # other work of the turns waits for this step (see assistant.cpu_turns)
            rc = self.ll.llama_decode(self.ctx, b)
        seconds = time.monotonic() - t0
        if rc != 0:
            raise GenerationError(f"llama_decode returned {rc}")
        self.steps += 1
        with self._cv:
            self._step_costs.append((n, seconds))
            self._last_timed = time.monotonic()
        for r in active:
            if r.share_prefix and r.n_past >= r.share_prefix:
                self._publish_prefix(r)
        for r, i in outputs:
            drafts, r.drafts = r.drafts, []
            k = 0
            # The model's token at each position; while it equals the draft there, the draft's own
            # logits (already computed in this step) give the next one.
            while self._emit(r, self._sample(r, self._logits(i + k))) and k < len(drafts):
                if r.next_token != drafts[k]:
                    break
                r.n_past += 1  # the draft's cache entry is the right token's
                k += 1
            self.drafted += len(drafts)
            self.accepted += k
            if drafts and r.seq >= 0:  # drop the cache of the drafts that were wrong
                self.ll.llama_memory_seq_rm(self.mem, r.seq, r.n_past, -1)

    def _logits(self, i: int) -> np.ndarray:
        return np.ctypeslib.as_array(self.ll.llama_get_logits_ith(self.ctx, i), shape=(self.n_vocab,))

    def _emit(self, r: Request, tok: int) -> bool:
        """Send the reply's next token; False when the reply ended with it (or before it)."""
        if self.ll.llama_vocab_is_eog(self.vocab, tok) and not r.sampling.ignore_eos:
            self._finish(r, None)
            return False
        r.generated.append(tok)
        piece = r.decoder.decode(self._piece(tok))
        if piece:
            r.out.put(("piece", piece))
        if len(r.generated) >= r.sampling.max_new_tokens or r.n_past + 1 >= self.context_tokens:
            self._finish(r, None)
            return False
        r.next_token = tok
        return True

    # --- guessing ahead (prompt lookup) -------------------------------------------------------------
    # A grounded reply copies runs of words from its passages: after the last few tokens, the tokens
    # that followed them in the prompt are a good guess. The guesses go into the same decode call as
    # the reply's next token; the model's own greedy choice at each position decides how many stand,
    # so the reply is the one greedy decoding gives. Only when few replies are decoding: with many,
    # the batch already keeps the cores busy and wrong guesses would cost everyone.
    DRAFT_WHEN_AT_MOST = 2

    @staticmethod
    def _draft(ctx: list[int], k: int) -> list[int]:
        """Up to k tokens that followed the latest earlier occurrence of ctx's last 3 (else 2) tokens."""
        if k <= 0:
            return []
        for n in (3, 2):
            if len(ctx) <= n:
                continue
            tail, first = ctx[-n:], ctx[-n]
            for start in range(len(ctx) - n - 1, -1, -1):
                if ctx[start] == first and ctx[start : start + n] == tail:
                    return ctx[start + n : start + n + k]
        return []

    def _add(self, i: int, tok: int, pos: int, seq: int, logits: bool) -> None:
        b = self.batch
        b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = tok, pos, 1, logits
        b.seq_id[i][0] = seq

    def _sample(self, r: Request, logits: np.ndarray) -> int:
        s = r.sampling
        if s.repetition_penalty != 1.0:  # as transformers does: over the prompt and the reply so far
            logits = logits.copy()
            seen = np.unique(np.asarray(r.ids + r.generated))
            vals = logits[seen]
            logits[seen] = np.where(vals > 0, vals / s.repetition_penalty, vals * s.repetition_penalty)
        if s.temperature <= 0 or r.rng is None:
            return int(np.argmax(logits))
        z = logits.astype(np.float64) / s.temperature
        p = np.exp(z - z.max())
        p /= p.sum()
        order = np.argsort(-p)
        keep = order[: int(np.searchsorted(np.cumsum(p[order]), s.top_p) + 1)]
        return int(r.rng.choice(keep, p=p[keep] / p[keep].sum()))

    def _piece(self, tok: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self.ll.llama_token_to_piece(self.vocab, tok, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self.ll.llama_token_to_piece(self.vocab, tok, buf, -n, 0, False)
        return buf.raw[:n]

    def _finish(self, r: Request, error: Exception | None) -> None:
        if r.seq < 0:
            return
        tail = r.decoder.decode(b"", final=True)
        if tail and error is None:
            r.out.put(("piece", tail))
        # Keep what the cache holds for a later prompt with the same start (after a failed decode
        # its content is unknown: drop it).
        kept = r.cached() if error is None or isinstance(error, TurnTimeout) else []
        self.ll.llama_memory_seq_rm(self.mem, r.seq, len(kept), -1)
        with self._cv:
            self._active.remove(r)
            self._free[r.seq] = kept  # most recently used last
        r.seq = -1
        r.out.put(("error", error) if error else ("end", None))


def _common(a: list[int], b: list[int]) -> int:
    """Length of the common start of two token lists."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


if __name__ == "__main__":
    import sys

    from assistant.config import load_config
    from assistant.serving.llama.weights import base_gguf_path

    cfg = load_config()
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    eng = LlamaEngine(base_gguf_path(cfg.models.generator, cfg.home), slots=max(n, 1))
    prompt = eng.tokenize("<|im_start|>user\nWrite a long story about a ship.<|im_end|>\n<|im_start|>assistant\n")
    t0 = time.perf_counter()
    reqs = [eng.submit(prompt, Sampling(64), 120) for _ in range(n)]
    total = 0
    for r in reqs:
        while (item := r.out.get())[0] == "piece":
            total += 1
    dt = time.perf_counter() - t0
    print(f"{n} replies, {total} pieces in {dt:.2f}s: {total / dt:.1f} pieces/s, {eng.steps} steps")
