"""The real generator (bundled SmolLM2): streaming, LoRA adapters that change outputs, int8 path."""

import json

import pytest

from assistant.errors import AdapterError
from tests.conftest import requires_models

pytestmark = [pytest.mark.slow, requires_models]

PROMPT = [{"role": "user", "content": "Name one colour of the sky."}]


@pytest.fixture(scope="module")
def gen_cfg():
    from assistant.config import load_config

    cfg = load_config(env={"LOOPDESK_GENERATION_TEMPERATURE": "0", "LOOPDESK_GENERATION_MAX_NEW_TOKENS": "12"})
    return cfg


@pytest.fixture(scope="module")
def generator(gen_cfg):
    from assistant.serving.transformers_generator import TransformersGenerator

    return TransformersGenerator(gen_cfg.models.generator, gen_cfg.home, gen_cfg.generation)


@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory, gen_cfg):
    """A LoRA adapter with random (non-zero) B matrices, so it must change the outputs."""
    import torch
    from peft import LoraConfig, get_peft_model

    from assistant.models import load_causal_lm

    torch.manual_seed(0)
    base, _, _ = load_causal_lm(gen_cfg.models.generator, gen_cfg.home, "cpu")
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
    out = tmp_path_factory.mktemp("adapter") / "tiny-v1"
    peft_model.save_pretrained(str(out))
    return out


def text(generator, messages=PROMPT):
    return "".join(generator.stream(messages))


def test_streams_several_pieces(generator):
    pieces = list(generator.stream(PROMPT))
    assert len(pieces) >= 3 and "".join(pieces).strip()
    assert generator.count_tokens(PROMPT) > 5


def test_adapter_changes_outputs_and_can_be_removed(generator, tiny_adapter):
    base_out = text(generator)
    generator.set_adapter(tiny_adapter)
    try:
        assert generator.adapter_id == "tiny-v1"
        assert text(generator) != base_out
    finally:
        generator.set_adapter(None)
    assert generator.adapter_id is None and text(generator) == base_out


def test_corrupt_or_foreign_adapter_is_refused_and_current_stays(generator, tiny_adapter, tmp_path):
    import shutil

    generator.set_adapter(tiny_adapter)
    try:
        broken = tmp_path / "broken"
        broken.mkdir()
        (broken / "adapter_config.json").write_text("{not json")
        (broken / "adapter_model.safetensors").write_bytes(b"junk")
        with pytest.raises(AdapterError):
            generator.set_adapter(broken)
        foreign = tmp_path / "foreign"
        shutil.copytree(tiny_adapter, foreign)
        conf = json.loads((foreign / "adapter_config.json").read_text())
        conf["base_model_name_or_path"] = "meta-llama/Llama-3-8B"
        (foreign / "adapter_config.json").write_text(json.dumps(conf))
        with pytest.raises(AdapterError, match="trained on"):
            generator.set_adapter(foreign)
        truncated = tmp_path / "truncated"
        shutil.copytree(tiny_adapter, truncated)
        (truncated / "adapter_model.safetensors").write_bytes(b"\x00" * 10)
        with pytest.raises(AdapterError):
            generator.set_adapter(truncated)
        assert generator.adapter_id == "tiny-v1"
    finally:
        generator.set_adapter(None)


def test_int8_dynamic_quantization(gen_cfg, tiny_adapter):
    import dataclasses

    import torch

    from assistant.serving.transformers_generator import TransformersGenerator

    q = TransformersGenerator(gen_cfg.models.generator, gen_cfg.home,
                              dataclasses.replace(gen_cfg.generation, quantize="int8"), tiny_adapter)
    float_linears = [m for m in q.model.modules() if type(m) is torch.nn.Linear]
    assert not float_linears  # every Linear, lm_head included, runs in int8
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in q.model.modules())
    assert text(q).strip()
    assert q.adapter_id == "tiny-v1"
