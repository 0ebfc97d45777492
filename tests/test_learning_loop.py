"""The learning loop end to end on a tiny model: store with feedback and a correction -> export
(PII replaced) -> a few LoRA steps with TRL -> eval -> promote -> the pipeline answers with the new
adapter and the turn records its id; plus the refusals (empty export, corrupt adapter, rollback)."""

import json
import shutil

import pytest

from assistant.errors import AdapterError, InputError
from tests.conftest import FakeRetriever, requires_models

pytestmark = [pytest.mark.slow, requires_models]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 2-layer Llama with SmolLM2's tokenizer and chat template: trains in seconds on a CPU."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from assistant.config import load_config
    from assistant.models import resolve

    cfg = load_config(env={})
    tok = AutoTokenizer.from_pretrained(resolve("bundled:smollm2-135m-instruct", cfg.home).location)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=1024, tie_word_embeddings=True,
                                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id))
    out = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def fill_store(store):
    cid = store.new_conversation()
    store.add_turn(cid, "user", "Hi, I'm John Carter, my order NW-48213 never arrived. Mail me at john@example.com")
    good = store.add_turn(cid, "assistant", "Sorry! I reshipped order NW-48213 and e-mailed john@example.com.")
    store.add_feedback(good, 1)
    cid2 = store.new_conversation()
    store.add_turn(cid2, "user", "How long do refunds take?")
    bad = store.add_turn(cid2, "assistant", "Refunds take a year.", passages=[
        {"id": "refunds.md#0", "source": "refunds.md", "score": 0.7, "title": "Refunds", "heading": "Cards",
         "text": "Card refunds take 3-5 business days."}])
    store.add_feedback(bad, -1)
    store.add_feedback(bad, -1, correction="Card refunds take 3-5 business days after we receive the item.",
                       source="operator")
    cid3 = store.new_conversation()
    store.add_turn(cid3, "user", "Do you sell cars?")
    worse = store.add_turn(cid3, "assistant", "Yes, cheap cars!")
    store.add_feedback(worse, -1)
    cid4 = store.new_conversation()
    store.add_turn(cid4, "user", "What is the return window?")
    store.add_turn(cid4, "assistant", "Unrated answer.")


def test_empty_export_is_refused(store, tmp_path):
    from finetune.export import export_dataset

    with pytest.raises(InputError, match="no usable turns"):
        export_dataset(store, tmp_path / "ds")
    assert not (tmp_path / "ds" / "train.jsonl").exists()


def test_import_is_idempotent_and_strict(store, tmp_path):
    from finetune.transcripts import import_transcripts

    f = tmp_path / "t.csv"
    f.write_text("instruction,response,intent\nwhere is my parcel?,It ships in 2 days.,track_order\n"
                 ",missing request,track_order\ncancel please,Done.,cancel_order\n")
    with pytest.raises(InputError, match="nothing imported, 1 problem.*line 3: empty request"):
        import_transcripts(store, f)
    assert store.counts()["imported"] == 0
    first = import_transcripts(store, f, skip_bad=True)
    assert (first["imported"], first["skipped"]) == (2, 1) and first["problems"][0]["line"] == 3
    again = import_transcripts(store, f, skip_bad=True)
    assert again["imported"] == 0 and again["already_present"] == 2
    assert store.counts()["imported"] == 2
    j = tmp_path / "t.jsonl"
    j.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n{broken\n')
    r = import_transcripts(store, j, skip_bad=True)
    assert r["imported"] == 1 and r["problems"][0]["reason"].startswith("invalid JSON")


def test_loop_export_train_eval_promote_serve(store, tmp_path, tiny_model, cfg):
    import dataclasses

    from assistant.serving.live_adapter import LiveAdapterWatcher, read_live
    from assistant.serving.transformers_generator import TransformersGenerator
    from assistant.turn.pipeline import Assistant
    from finetune.export import export_dataset
    from finetune.gen_eval import evaluate
    from finetune.lora import LoraTrainConfig, train_lora
    from finetune.registry import list_adapters, promote, rollback
    from finetune.transcripts import import_transcripts

    fill_store(store)
    csv = tmp_path / "bitext.csv"
    rows = [("where is my order?", "You can track it under {{Order History}}.", "track_order"),
            ("cancel my purchase 12345678", "I cancelled purchase {{Order Number}} for you.", "cancel_order")]
    csv.write_text("instruction,response,intent\n" + "".join(f'"{u}","{a}",{i}\n' for u, a, i in rows))
    import_transcripts(store, csv)

    card = export_dataset(store, tmp_path / "ds", eval_fraction=0.0)
    assert card["kept"] == {"rated_good": 1, "corrected": 1, "imported": 2}
    assert card["dropped"] == {"rated_bad": 1, "unrated": 1}
    assert card["pii_redacted"]["EMAIL_ADDRESS"] == 2 and card["pii_redacted"]["ORDER_ID"] >= 2
    text = (tmp_path / "ds" / "train.jsonl").read_text()
    assert "john@example.com" not in text and "NW-48213" not in text and "12345678" not in text
    assert "{{Email Address}}" in text and "{{Order Number}}" in text
    assert "Card refunds take 3-5 business days" in text and "a year" not in text and "cars" not in text
    assert card["grounded"] == 1 and card["ungrounded"] == 3 and "grounded-v1" in card["format"]
    corrected = next(json.loads(x) for x in text.splitlines() if "receive the item" in x)
    system = corrected["messages"][0]["content"]  # the inference prompt, with the passages of that turn
    assert "[1] Refunds > Cards\nCard refunds take 3-5 business days." in system and "Northwind Goods" in system

    registry = tmp_path / "adapters"
    home = tmp_path / "home"
    tc = LoraTrainConfig(data=str(tmp_path / "ds"), out=str(registry), version="tiny-v1", base=str(tiny_model),
                         rank=8, alpha=16, learning_rate=5e-3, max_steps=6, batch_size=2, max_length=384,
                         save_steps=3, logging_steps=1)
    manifest = train_lora(tc, home, log=lambda *_: None)
    out = registry / "tiny-v1"
    assert manifest["metrics"]["steps"] == 6 and manifest["metrics"]["tokens_per_second"] > 0
    assert (out / "adapter_model.safetensors").is_file() and (out / "loss.png").is_file()
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pt"))  # no pickled weights
    assert json.loads((out / "adapter.json").read_text())["base_model"] == str(tiny_model.resolve())

    result = evaluate(str(tiny_model), home, out, tmp_path / "ds" / "train.jsonl", generate=2, max_new_tokens=8,
                      record=True)
    assert result["adapter_loss"] < result["base_loss"]
    assert {"base_perplexity", "adapter_rougeL", "adapter_mean_length", "samples"} <= set(result)

    # A corrupt candidate is refused at promote time and nothing becomes live.
    broken = registry / "broken"
    shutil.copytree(out, broken)
    (broken / "adapter_model.safetensors").write_bytes(b"not weights")
    with pytest.raises(AdapterError):
        promote(registry, "broken", str(tiny_model.resolve()))
    assert read_live(registry) == {}

    gcfg = dataclasses.replace(cfg.generation, max_new_tokens=6, temperature=0.0)
    generator = TransformersGenerator(str(tiny_model), home, gcfg)
    watcher = LiveAdapterWatcher(registry, generator)
    assistant = Assistant(cfg, generator, store, FakeRetriever(), adapter_watcher=watcher)
    before = assistant.respond(None, "How long do refunds take?")
    assert before.adapter_id is None

    assert promote(registry, "tiny-v1", str(tiny_model.resolve()))["live"] == "tiny-v1"
    after = assistant.respond(None, "How long do refunds take?")  # same process: no restart
    assert after.adapter_id == "tiny-v1"
    assert store.turn(after.turn_id)["adapter_id"] == "tiny-v1"
    listed = {a["version"]: a for a in list_adapters(registry, {})}
    assert listed["tiny-v1"]["live"] and listed["tiny-v1"]["kind"] == "generator"

    # A second adapter that is no better is refused unless forced; rollback returns to the previous one.
    shutil.copytree(out, registry / "tiny-v2")
    ev = json.loads((registry / "tiny-v2" / "eval.json").read_text())
    ev["adapter_loss"] = ev["base_loss"] + 1
    ev["live_loss"] = result["adapter_loss"]
    with pytest.raises(AdapterError, match="evaluated against the base model; tiny-v1 is live now"):
        (registry / "tiny-v2" / "eval.json").write_text(json.dumps(ev))  # tiny-v1's own eval: stale now
        promote(registry, "tiny-v2", str(tiny_model.resolve()))
    from finetune.registry import provenance

    ev["compared_with"] = provenance(registry / "tiny-v1", ev["data_hash"])  # evaluated against tiny-v1
    (registry / "tiny-v2" / "eval.json").write_text(json.dumps(ev))
    with pytest.raises(AdapterError, match="does not beat tiny-v1"):
        promote(registry, "tiny-v2", str(tiny_model.resolve()))
    promote(registry, "tiny-v2", str(tiny_model.resolve()), force=True, reason="testing rollback", by="dana")
    assert rollback(registry)["live"] == "tiny-v1"
    assert assistant.respond(None, "Any news?").adapter_id == "tiny-v1"


def test_training_resumes_after_a_kill(tmp_path, tiny_model, store):
    from finetune.lora import LoraTrainConfig, train_lora

    ds = tmp_path / "train.jsonl"
    ds.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"question {i}"},
                                                   {"role": "assistant", "content": f"answer number {i}"}]}) + "\n"
                          for i in range(8)))
    home = tmp_path / "home"
    tc = LoraTrainConfig(data=str(ds), out=str(tmp_path / "reg"), version="r1", base=str(tiny_model), rank=4,
                         max_steps=4, batch_size=2, save_steps=2, logging_steps=1, max_length=64)
    import transformers

    real_step = transformers.Trainer.training_step
    calls = {"n": 0}

    def dying_step(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # killed during step 3, after the step-2 checkpoint
            raise KeyboardInterrupt("killed")
        return real_step(self, *a, **k)

    transformers.Trainer.training_step = dying_step
    try:
        with pytest.raises(KeyboardInterrupt):
            train_lora(tc, home, log=lambda *_: None)
    finally:
        transformers.Trainer.training_step = real_step
    assert (home / "checkpoints" / "r1" / "checkpoint-2").is_dir() and not (tmp_path / "reg" / "r1").exists()
    messages = []
    manifest = train_lora(tc, home, log=messages.append)
    assert any("resuming from" in m and "checkpoint-2" in m for m in messages)
    assert manifest["metrics"]["steps"] == 4


def test_an_export_reports_progress_and_a_stopped_one_leaves_no_dataset(store, tmp_path):
    from finetune.export import export_dataset

    fill_store(store)
    seen = []

    def stop_midway(stage, done, total):
        seen.append((stage, done, total))
        if stage == "writing the dataset":
            raise KeyboardInterrupt  # as a Cancel (SIGTERM) would, after the redaction

    with pytest.raises(KeyboardInterrupt):
        export_dataset(store, tmp_path / "ds", report=stop_midway)
    assert seen[0] == ("reading and redacting the logs", 0, 4)
    assert not (tmp_path / "ds").exists()  # nothing that looks like a finished dataset
    card = export_dataset(store, tmp_path / "ds")
    assert (tmp_path / "ds" / "train.jsonl").is_file() and card["train"] == 2
    assert not (tmp_path / "ds.partial").exists()
    export_dataset(store, tmp_path / "ds")  # an earlier export is replaced whole
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(InputError, match="more than an earlier export"):
        export_dataset(store, tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"
    (tmp_path / "ds" / "extra.jsonl").write_text("hand-written rows")  # an export with a file of someone's
    with pytest.raises(InputError, match="more than an earlier export"):
        export_dataset(store, tmp_path / "ds")
    assert (tmp_path / "ds" / "extra.jsonl").read_text() == "hand-written rows"
