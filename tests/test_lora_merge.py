"""Folding a GGUF LoRA adapter into float GGUF weights (small synthetic files; the real model's merge
is checked against transformers + peft in tests/test_llama_engine.py)."""

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from assistant.errors import AdapterError  # noqa: E402
from assistant.serving.llama.lora_merge import KEEP_MERGED, can_merge, merge_lora, merged_path  # noqa: E402


def bf16_bytes(x: np.ndarray) -> np.ndarray:
    bits = x.astype(np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16).view(np.uint8)


def write(path, tensors: dict, kv: dict | None = None, raw: dict | None = None):
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_uint32("llama.block_count", 1)
    for k, v in (kv or {}).items():
        w.add_float32(k, v)
    for name, arr in tensors.items():
        kind = (raw or {}).get(name)
        w.add_tensor(name, arr, raw_dtype=kind) if kind else w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 8)).astype(np.float32)  # out x in
    a, b = rng.normal(size=(2, 8)).astype(np.float32), rng.normal(size=(6, 2)).astype(np.float32)
    base = tmp_path / "models" / "base.bf16.gguf"
    base.parent.mkdir()
    norm = np.ones(8, dtype=np.float32)
    write(base, {"blk.0.attn_q.weight": bf16_bytes(w), "blk.0.attn_norm.weight": norm},
          raw={"blk.0.attn_q.weight": gguf.GGMLQuantizationType.BF16})
    lora = tmp_path / "v1" / "adapter.gguf"
    lora.parent.mkdir()
    write(lora, {"blk.0.attn_q.weight.lora_a": a, "blk.0.attn_q.weight.lora_b": b}, kv={"adapter.lora.alpha": 4.0})
    return base, lora, w, a, b


def test_merged_weights_are_w_plus_scaled_b_a_rounded_once(files):
    base, lora, w, a, b = files
    out = merge_lora(base, lora)
    assert out == merged_path(base, lora) and out.parent == base.parent / "merged"
    assert not list(out.parent.glob(".merging-*"))  # written through a temp file, renamed
    r = gguf.GGUFReader(str(out))
    t = {x.name: x for x in r.tensors}
    got = (t["blk.0.attn_q.weight"].data.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    w_bf16 = (bf16_bytes(w).view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    expected = w_bf16 + (4.0 / 2) * (b @ a)  # alpha / r, as llama.cpp and peft scale
    assert np.allclose(got, expected, rtol=1 / 128, atol=1e-3)  # one bf16 rounding
    assert not np.allclose(got, w_bf16, atol=1e-2)  # the adapter did change it
    assert np.array_equal(t["blk.0.attn_norm.weight"].data, np.ones(8, dtype=np.float32))  # untouched
    assert r.fields["llama.block_count"].contents() == 1  # metadata copied
    assert merge_lora(base, lora) == out  # reused, not written again


def test_a_retrained_adapter_gets_its_own_file_and_old_ones_are_pruned(files):
    base, lora, w, a, b = files
    seen = []
    for i in range(KEEP_MERGED + 2):
        write(lora, {"blk.0.attn_q.weight.lora_a": a * (i + 1), "blk.0.attn_q.weight.lora_b": b},
              kv={"adapter.lora.alpha": 4.0})
        seen.append(merge_lora(base, lora))
    assert len(set(seen)) == KEEP_MERGED + 2
    kept = sorted(p.name for p in (base.parent / "merged").glob("*.gguf"))
    assert kept == sorted(p.name for p in seen[-KEEP_MERGED:])


def test_an_adapter_for_other_tensors_or_quantised_weights_is_refused(files, tmp_path):
    base, lora, w, a, b = files
    other = tmp_path / "v2" / "adapter.gguf"
    other.parent.mkdir()
    write(other, {"blk.7.attn_q.weight.lora_a": a, "blk.7.attn_q.weight.lora_b": b}, kv={"adapter.lora.alpha": 4.0})
    with pytest.raises(AdapterError, match="does not have"):
        merge_lora(base, other)
    assert not list((base.parent / "merged").glob("*"))  # nothing half-written left
    not_lora = tmp_path / "v3" / "adapter.gguf"
    not_lora.parent.mkdir()
    write(not_lora, {"x": a})
    with pytest.raises(AdapterError, match="not a GGUF LoRA"):
        merge_lora(base, not_lora)
    assert can_merge(base)
    q8 = tmp_path / "models" / "base.q8.gguf"
    write(q8, {"blk.0.attn_q.weight": np.zeros((6, 34), dtype=np.uint8)},
          raw={"blk.0.attn_q.weight": gguf.GGMLQuantizationType.Q8_0})
    assert not can_merge(q8)
