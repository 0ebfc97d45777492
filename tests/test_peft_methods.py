"""Every `finetune lora --method` on a tiny model: it trains, writes safetensors with its peft type in
the config and the manifest, changes the model's output, is accepted by the registry's checks and the
evaluation, and only LoRA is offered to llama.cpp (the others are refused there with the reason)."""

from __future__ import annotations

import json

import pytest

from assistant.errors import AdapterError, InputError
from tests.conftest import requires_models
from tests.test_learning_loop import tiny_model  # noqa: F401  (the module-scoped fixture)

pytestmark = [pytest.mark.slow, requires_models]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    ds = tmp_path_factory.mktemp("ds")
    rows = [{"messages": [{"role": "user", "content": f"How long does parcel {i} take?"},
                          {"role": "assistant", "content": f"Parcel {i} arrives in {i % 5 + 1} days."}]}
            for i in range(12)]
    (ds / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (ds / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:3]))
    return ds


@pytest.mark.parametrize("method,peft_type", [("lora", "LORA"), ("adalora", "ADALORA"), ("prefix", "PREFIX_TUNING"),
                                              ("ia3", "IA3")])
def test_each_method_trains_saves_and_evaluates(method, peft_type, tmp_path, tiny_model, data):  # noqa: F811
    from assistant.serving.transformers_generator import check_adapter_dir
    from finetune.gen_eval import evaluate
    from finetune.lora import LoraTrainConfig, train_lora

    registry = tmp_path / "adapters"
    tc = LoraTrainConfig(data=str(data), out=str(registry), version=f"tiny-{method}", base=str(tiny_model),
                         rank=8, alpha=16, learning_rate=5e-2, max_steps=4, batch_size=4, max_length=64,
                         save_steps=10, logging_steps=1, method=method)
    manifest = train_lora(tc, tmp_path / "home", log=lambda *_: None)
    out = registry / f"tiny-{method}"
    assert json.loads((out / "adapter_config.json").read_text())["peft_type"] == peft_type
    assert manifest["method"] == method and manifest["metrics"]["adapter_bytes"] > 0
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pt"))  # safetensors only
    check_adapter_dir(out, str(tiny_model.resolve()))
    result = evaluate(str(tiny_model), tmp_path / "home", out, data, None, max_examples=3, generate=1,
                      max_new_tokens=8)
    assert result["adapter_loss"] != result["base_loss"]  # the adapter changes the model
    if method != "lora":
        from finetune.registry import promote

        with pytest.raises(AdapterError, match="only LoRA adapters are promoted"):
            promote(registry, f"tiny-{method}", str(tiny_model.resolve()), force=True, reason="try")


def test_a_candidate_of_another_kind_is_evaluated_against_a_live_lora(tmp_path, tiny_model, data):  # noqa: F811
    from finetune.gen_eval import evaluate
    from finetune.lora import LoraTrainConfig, train_lora

    registry = tmp_path / "adapters"
    for method in ("lora", "ia3"):
        train_lora(LoraTrainConfig(data=str(data), out=str(registry), version=method, base=str(tiny_model), rank=4,
                                   max_steps=2, batch_size=4, max_length=64, save_steps=10, method=method),
                   tmp_path / "home", log=lambda *_: None)
    result = evaluate(str(tiny_model), tmp_path / "home", registry / "ia3", data, registry / "lora", max_examples=3,
                      generate=1, max_new_tokens=8)
    assert {"base_loss", "adapter_loss", "live_loss"} <= set(result)


def test_an_unknown_method_is_refused(tmp_path, tiny_model, data):  # noqa: F811
    from finetune.lora import LoraTrainConfig, train_lora

    with pytest.raises(InputError, match="--method must be one of lora, adalora, prefix, ia3"):
        train_lora(LoraTrainConfig(data=str(data), out=str(tmp_path), base=str(tiny_model), method="bitfit"),
                   tmp_path / "home")


def test_llama_cpp_takes_lora_only(tmp_path):
    from assistant.serving.llama.lora_gguf import servable_by_llama_cpp

    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "IA3"}))
    with pytest.raises(AdapterError, match="IA3 adapters cannot be served by llama.cpp"):
        servable_by_llama_cpp(tmp_path)
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    servable_by_llama_cpp(tmp_path)
