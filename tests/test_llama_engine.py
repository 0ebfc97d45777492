"""The fast CPU path on the real bundled GGUF: llama.cpp with continuous batching and run-time LoRA.

- the shared system prompt's cache gives the replies computed without sharing;
- tokens guessed from the prompt and checked by the model give the greedy reply in fewer steps;
- replies decoded together are the replies each would get alone (greedy), in fewer model calls —
  mostly: llama.cpp's CPU kernels add up in another order for other batch sizes, so a near-tie can
  flip a greedy token (as in llama.cpp's own server); identical prompts together agree exactly;
- a reader that stops frees its slot; a full line is `EngineBusy`; a deadline ends a reply;
- a kept or copied prompt start (passages, history) gives the replies computed in full;
- the peft -> GGUF LoRA conversion matches transformers + peft token for token, folded into the
  weights or applied at run time;
- a promoted adapter is used by the fast path at the next turn (a reply in flight ends on the old
  model); a corrupt one leaves the old one serving.
"""

import importlib.util
import json
import shutil
import threading
import time

import pytest

from tests.conftest import ROOT, requires_models

pytestmark = [
    pytest.mark.llama_cpp,
    requires_models,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"),
]
ADAPTER = ROOT / "models" / "adapters" / "grounded-v1"
PASSAGES = (
    "You are a support assistant for Northwind Goods. Answer from the passages.\n"
    "[1] Returns: You can return unworn items within 30 days of delivery for a full refund. "
    "Start a return from Orders > Return item.\n[2] Shipping: Standard shipping takes 3-5 business days."
)
QUESTIONS = ["How long do I have to return a shirt?", "How long does standard shipping take?",
             "Can I return worn shoes?", "Where do I start a return?", "Is shipping free?", "Hello there!"]


def chat(q: str) -> list[dict]:
    return [{"role": "system", "content": PASSAGES}, {"role": "user", "content": q}]


@pytest.fixture(scope="module")
def gen_cfg():
    from assistant.config import load_config

    cfg = load_config(env={})
    cfg.generation.max_new_tokens = 40
    cfg.generation.batch_slots = 4
    return cfg


@pytest.fixture(scope="module")
def fast(gen_cfg):
    from assistant.serving.llama.generator import LlamaCppGenerator

    g = LlamaCppGenerator(gen_cfg.models.generator, gen_cfg.home, gen_cfg.generation)
    yield g
    g.engine.close()


def together(fast, questions: list[str]) -> list[str]:
    out: dict[int, str] = {}

    def run(i: int) -> None:
        out[i] = "".join(fast.stream(chat(questions[i])))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(questions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [out[i] for i in range(len(questions))]


def test_batched_replies_equal_replies_alone(fast):
    alone = ["".join(fast.stream(chat(q))) for q in QUESTIONS]
    assert all(alone) and alone == ["".join(fast.stream(chat(q))) for q in QUESTIONS]  # greedy: repeatable
    steps_before = fast.engine.steps
    both = together(fast, QUESTIONS)
    assert sum(a == b for a, b in zip(alone, both)) >= 4, list(zip(alone, both))
    tokens = sum(len(fast.tokenizer(a)["input_ids"]) for a in alone)
    # 6 replies on 4 slots: far fewer decode steps than tokens (one step decodes every reply in flight)
    assert fast.engine.steps - steps_before < 0.6 * tokens
    same = together(fast, [QUESTIONS[1]] * 4)
    assert len(set(same)) == 1 and "3" in same[0]  # no reply leaks into another's sequence


def test_shared_prompt_start_gives_the_replies_computed_without_it(fast):
    """The system prompt's cache is copied from its own sequence into each reply's (per-sequence
    caches): the replies must be exactly those of an engine that computes every prompt in full."""
    from assistant.serving.transformers_generator import chat_ids
    from assistant.serving.llama.engine import LlamaEngine, Sampling

    # Between two questions, a prompt with another start: the cache a shared start is copied into
    # then holds other values at those positions, so a copy that moved no data would show.
    other = chat_ids(
        fast.tokenizer, [{"role": "system", "content": "You answer in French."}, {"role": "user", "content": "Bonjour"}]
    )

    def replies(engine) -> list[list[int]]:
        out = []
        q = [chat_ids(fast.tokenizer, chat(x)) for x in QUESTIONS[:4]]
        for ids in (q[0], q[1], other, q[2], other, q[3]):  # two in a row teach the engine the shared start
            r = engine.submit(ids, Sampling(24), 60)
            while r.out.get(timeout=60)[0] == "piece":
                pass
            if ids is not other:
                out.append(r.generated)
        return out

    plain = LlamaEngine(fast.served, slots=2, context_tokens=512)
    plain.MIN_PREFIX = 10**9  # never shares
    try:
        expected = replies(plain)
        assert plain.prefix_tokens_reused == 0
    finally:
        plain.close()
    shared = LlamaEngine(fast.served, slots=2, context_tokens=512)
    try:
        assert replies(shared) == expected
        assert shared.prefix_tokens_reused >= 2 * shared.MIN_PREFIX  # the 3rd and 4th questions reused it
    finally:
        shared.close()


def test_a_kept_or_copied_prompt_start_gives_the_replies_computed_without_it(fast):
    """A finished reply's cache stays in its sequence, and a reply in flight lends its cache: a
    question asked again, another with the same passages, or the next turn of a conversation starts
    after the common part (a free sequence taken over or copied, or a copy of a reply still
    decoding); the replies are exactly those of an engine that computes every prompt in full."""
    from assistant.serving.transformers_generator import chat_ids
    from assistant.serving.llama.engine import LlamaEngine, Sampling

    a, b = (chat_ids(fast.tokenizer, chat(q)) for q in QUESTIONS[:2])
    # The next turn after b: its prompt continues b's beyond the shared system prompt.
    d = chat_ids(fast.tokenizer, [*chat(QUESTIONS[1]), {"role": "assistant", "content": "3-5 business days."},
                                  {"role": "user", "content": QUESTIONS[4]}])
    common = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    assert common > 2 * LlamaEngine.MIN_PREFIX and d[: len(b)] == b

    def run(engine, ids):
        before = engine.prefix_tokens_reused
        r = engine.submit(ids, Sampling(24), 60)
        while r.out.get(timeout=60)[0] == "piece":
            pass
        return r.generated, engine.prefix_tokens_reused - before

    plain = LlamaEngine(fast.served, slots=2, context_tokens=512)
    plain.MIN_PREFIX = 10**9  # never reuses
    try:
        expected = [run(plain, x)[0] for x in (a, b, a, d)]
    finally:
        plain.close()
    kept = LlamaEngine(fast.served, slots=3, context_tokens=512)
    try:
        got = [run(kept, x) for x in (a, b, a)]
        assert [g for g, _ in got] == expected[:3]
        assert [n for _, n in got] == [0, common, len(a) - 1]  # then the passages, then all but one token
    finally:
        kept.close()
    fresh = LlamaEngine(fast.served, slots=2, context_tokens=512)
    try:  # nothing kept yet: b still decoding (a long reply) when d comes, d copies b's cache from it
        long = fresh.submit(b, Sampling(200, ignore_eos=True), 60)
        assert long.out.get(timeout=60)[0] == "piece"  # b's prompt is in its cache now
        reply, reused = run(fresh, d)
        long.cancelled.set()
        assert reply == expected[3] and reused >= len(b)
    finally:
        fresh.close()


def test_guessed_tokens_checked_by_the_model_give_the_greedy_reply_in_fewer_steps(fast):
    """Prompt lookup: tokens that followed the reply's last words in the prompt are checked in the
    same step; the reply stays the greedy one (the passages' words are copied in fewer steps)."""
    from assistant.serving.transformers_generator import chat_ids
    from assistant.serving.llama.engine import LlamaEngine, Sampling

    def replies(draft_tokens: int) -> tuple[list[list[int]], int, int]:
        engine = LlamaEngine(fast.served, slots=2, context_tokens=512, draft_tokens=draft_tokens)
        try:
            out = []
            for q in QUESTIONS:
                r = engine.submit(chat_ids(fast.tokenizer, chat(q)), Sampling(40), 60)
                while r.out.get(timeout=60)[0] == "piece":
                    pass
                out.append(r.generated)
            return out, engine.steps, engine.accepted
        finally:
            engine.close()

    plain, plain_steps, _ = replies(0)
    guessed, steps, accepted = replies(8)
    assert sum(a == b for a, b in zip(plain, guessed)) >= 5, (plain, guessed)  # one near-tie may flip
    assert accepted > 0.2 * sum(map(len, guessed))  # copied runs: a fifth of the tokens at least
    assert steps < 0.8 * plain_steps


def test_stopped_reader_frees_its_slot_and_a_full_line_is_busy(fast, gen_cfg):
    from assistant.serving.llama.engine import EngineBusy, LlamaEngine, Sampling

    stream = fast.stream(chat(QUESTIONS[0]))
    next(stream)
    stream.close()  # the pipeline stops reading (a loop, an unsupported claim)
    for _ in range(100):
        if fast.engine.load()["active"] == 0:
            break
        threading.Event().wait(0.05)
    assert fast.engine.load() == {"active": 0, "waiting": 0, "slots": 4}

    small = LlamaEngine(fast.gguf, slots=1, context_tokens=512, max_waiting=1)
    try:
        from assistant.serving.transformers_generator import chat_ids

        ids = chat_ids(fast.tokenizer, [{"role": "user", "content": "Write a very long story about a ship at sea."}])
        first = small.submit(ids, Sampling(200), seconds=0.5)  # ends at its deadline
        assert first.out.get(timeout=30)[0] == "piece"  # decoding: its slot is taken
        small.submit(ids, Sampling(5), seconds=30)  # waits
        with pytest.raises(EngineBusy):
            small.submit(ids, Sampling(5), seconds=30)
        kinds = ["piece"]
        while True:
            kind, value = first.out.get(timeout=30)
            kinds.append(kind)
            if kind != "piece":
                break
        assert kind == "error" and "time limit" in str(value) and "piece" in kinds
    finally:
        small.close()


@pytest.mark.slow
@pytest.mark.parametrize("merge", [True, False], ids=["folded-in", "run-time"])
def test_gguf_lora_matches_transformers_and_peft(fast, gen_cfg, merge):
    """Greedy tokens with the converted adapter (folded into the weights, or applied by llama.cpp at
    run time) are transformers + peft's, token for token, up to a
    near-tie: the two engines may part only where transformers' two best tokens are within 0.1 logit
    (the bf16 weights and f16 cache round differently; "How long does standard shipping take?" opens
    with "I" 33.426 against "You" 33.403), and then on its second choice. A wrong conversion (names,
    the rotary permutation, alpha) parts at a confident token."""
    import torch

    from assistant.serving.transformers_generator import TransformersGenerator, chat_ids
    from assistant.serving.llama.engine import Sampling

    ref = TransformersGenerator(gen_cfg.models.generator, gen_cfg.home, gen_cfg.generation, adapter=ADAPTER)
    fast.merge = merge
    fast.set_adapter(ADAPTER)
    assert (fast.engine.path != fast.served) == merge
    try:
        for q in QUESTIONS[:4]:
            ids = chat_ids(fast.tokenizer, chat(q))
            with torch.inference_mode():
                out = ref.model.generate(
                    torch.tensor([ids]), max_new_tokens=40, do_sample=False, output_scores=True,
                    return_dict_in_generate=True, pad_token_id=fast.tokenizer.eos_token_id,
                )
            expected = out.sequences[0, len(ids) :].tolist()
            r = fast.engine.submit(ids, Sampling(40), 60)
            while r.out.get(timeout=60)[0] == "piece":
                pass
            ends = {fast.tokenizer.eos_token_id, fast.tokenizer.convert_tokens_to_ids("<|im_end|>")}
            got = r.generated + ([next(iter(ends & {expected[len(r.generated)]}), -1)] if len(r.generated) < 40 else [])
            if got[: len(expected)] == expected:
                continue
            i = next(j for j, (a, b) in enumerate(zip(got, expected)) if a != b)
            top = torch.topk(out.scores[i][0], 2)
            assert float(top.values[0] - top.values[1]) < 0.1, (q, i, fast.tokenizer.decode(got[: i + 1]))
            assert got[i] == int(top.indices[1])
    finally:
        fast.set_adapter(None)
        fast.merge = True


def test_promoted_adapter_is_used_at_the_next_turn(fast, gen_cfg, tmp_path):
    from assistant.serving.live_adapter import LiveAdapterWatcher, write_live
    from assistant.errors import AdapterError
    from assistant.serving.llama.generator import engine_files
    from assistant.serving.llama.lora_merge import merged_path
    from finetune.registry import promote

    registry = tmp_path / "adapters"
    shutil.copytree(ADAPTER, registry / "v1", ignore=shutil.ignore_patterns("adapter.gguf"))
    write_live(registry, None, [])
    watcher = LiveAdapterWatcher(registry, fast)
    watcher.refresh()
    base = "".join(fast.stream(chat(QUESTIONS[0])))
    prepare = engine_files(gen_cfg.models.generator, gen_cfg.home, gen_cfg.generation)
    promote(registry, "v1", fast.model_id, force=True, reason="engine test", prepare=prepare)
    assert (registry / "v1" / "adapter.gguf").is_file()  # written by the promotion, before live.json
    assert merged_path(fast.served, registry / "v1" / "adapter.gguf").is_file()  # and the folded-in model
    # A reply in flight when the adapter changes ends on the model it started with (the swap waits).
    in_flight = fast.stream(chat(QUESTIONS[0]))
    first = next(in_flight)
    swap = threading.Thread(target=watcher.refresh)  # what the pipeline does before each turn
    swap.start()
    assert first + "".join(in_flight) == base
    swap.join(60)
    assert fast.adapter_id == "v1" and fast.engine.path.parent.name == "merged"  # folded into the weights
    tuned = "".join(fast.stream(chat(QUESTIONS[0])))
    assert tuned != base and "Orders > Return item" in tuned
    # Replicas ask before every turn: many turns asking at once swap nothing more.
    swaps = fast.engine.swaps
    askers = [threading.Thread(target=fast.set_adapter, args=(registry / "v1", "v1")) for _ in range(4)]
    for t in askers:
        t.start()
    for t in askers:
        t.join(60)
    assert fast.engine.swaps == swaps and "".join(fast.stream(chat(QUESTIONS[0]))) == tuned

    # A corrupt candidate: llama.cpp never sees it, the live adapter keeps serving.
    shutil.copytree(registry / "v1", registry / "broken")
    (registry / "broken" / "adapter_model.safetensors").write_bytes(b"\0" * 100)
    with pytest.raises(AdapterError):
        fast.set_adapter(registry / "broken")
    assert fast.adapter_id == "v1" and "".join(fast.stream(chat(QUESTIONS[0]))) == tuned
    (registry / "live.json").write_text(json.dumps({"version": None, "previous": []}))
    watcher.refresh()
    assert fast.adapter_id is None and "".join(fast.stream(chat(QUESTIONS[0]))) == base
    assert fast.engine.path == fast.served


def test_eta_counts_the_prompts_ahead_and_the_replies_in_flight(fast):
    """The engine's estimate of when a reply would have its first sentence: known from the start
    (calibrated at load), and later when other prompts are waiting to be read."""
    from assistant.serving.transformers_generator import chat_ids
    from assistant.serving.llama.engine import Sampling

    engine = fast.engine
    ids = chat_ids(fast.tokenizer, chat(QUESTIONS[0]))
    idle = engine.eta(ids, 24)
    assert idle is not None and 0 < idle < 30
    with engine._cv:  # the engine thread cannot take them before we ask
        reqs = [engine.submit(chat_ids(fast.tokenizer, chat(q)), Sampling(4), 60) for q in QUESTIONS[1:4]]
        busy = engine.eta(ids, 24)
    assert busy is not None and busy > idle
    for r in reqs:
        while r.out.get()[0] == "piece":
            pass


def test_forgetting_the_caches_empties_the_system_prompt_sequence_and_no_other(fast):
    """A new adapter drops every kept cache (computed with the old one): the system prompt's own
    sequence and the finished replies' — not a sequence in use."""
    from assistant.serving.transformers_generator import chat_ids
    from assistant.serving.llama.engine import LlamaEngine, Sampling

    eng = LlamaEngine(fast.served, slots=2, context_tokens=512)
    try:
        for q in QUESTIONS[:2]:  # two prompts with the same system prompt: it is learnt and kept
            r = eng.submit(chat_ids(fast.tokenizer, chat(q)), Sampling(4), 60)
            while r.out.get(timeout=60)[0] == "piece":
                pass

        def pos(seq: int) -> int:
            return eng.ll.llama_memory_seq_pos_max(eng.mem, seq)

        assert eng._prefix and pos(eng._prefix_seq) >= 0 and max(pos(s) for s in range(2)) >= 0
        eng.use_lora(None)  # on the engine thread, between steps
        assert not eng._prefix and pos(eng._prefix_seq) == -1 and pos(0) == -1 and pos(1) == -1
    finally:
        eng.close()


def test_a_stale_busy_calibration_is_timed_again_when_idle(fast, monkeypatch):
    """Step costs timed while the machine was busy made every later reply "too late" for good (no
    reply ran, so nothing corrected them); an idle engine now times fresh ones."""
    from assistant.serving.llama import engine as engine_module
    from assistant.serving.llama.engine import LlamaEngine

    monkeypatch.setattr(engine_module, "RECALIBRATE_IDLE_S", 0.5)
    e = LlamaEngine(fast.served, slots=1, context_tokens=512)
    try:
        ids = e.tokenize("How long do refunds take?")
        with e._cv:  # as if the start had been timed on a machine busy with something else
            e._step_costs.clear()
            e._step_costs.extend([(128, 60.0), (16, 50.0)])
            e._last_timed -= 10
        assert e.eta(ids, 8) > 100
        deadline = time.time() + 20
        while e.recalibrations == 0 and time.time() < deadline:
            time.sleep(0.2)
        assert e.recalibrations >= 1 and e.eta(ids, 8) < 5
    finally:
        e.close()
