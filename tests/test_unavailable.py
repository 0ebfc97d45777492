"""A missing component is an object that carries why (assistant.unavailable), not a None plus a string:
the pipeline's notes, the console's banner and the readiness probe all read the reason from it."""

import copy

import pytest

from assistant.turn.pipeline import Assistant
from assistant.web.console.page import health_problems
from assistant.unavailable import ComponentUnavailable, Unavailable, available, why
from tests.conftest import FakeGenerator, FakeRetriever


def test_stand_in_is_falsy_says_why_and_refuses_use():
    u = Unavailable("NER tagger", "models/taggers/ner has no head.safetensors")
    assert not u and not available(u) and available(object()) and not available(None)
    assert str(u) == "NER tagger unavailable: models/taggers/ner has no head.safetensors" == why(u, "NER tagger")
    assert why(None, "NER tagger") == "NER tagger unavailable: not configured"
    with pytest.raises(ComponentUnavailable, match="has no head.safetensors"):
        u.tag("hello")
    assert getattr(u, "embedder", None) is None and not hasattr(u, "vocabulary")
    assert copy.copy(u) is not None  # copy probes dunders: a plain AttributeError, not our error


def test_pipeline_and_console_read_each_reason(cfg, store, tmp_path):
    from assistant.taggers.loader import load_taggers

    cfg.models.ner = str(tmp_path / "no-such-tagger")
    cfg.models.sentiment = ""
    sentiment, ner, problems = load_taggers(cfg)
    assert isinstance(sentiment, Unavailable) and sentiment.reason == "not configured"
    assert isinstance(ner, Unavailable) and "no-such-tagger" in ner.reason and len(problems) == 2
    a = Assistant(cfg, FakeGenerator(), store, FakeRetriever(), sentiment, ner)
    notes = a.respond(None, "Where is my parcel?").to_json()["notes"]
    assert str(sentiment) in notes and str(ner) in notes
    banner = health_problems(a)
    assert any("no-such-tagger" in line for line in banner) and any("not configured" in line for line in banner)
    without_index = Assistant(cfg, FakeGenerator(), store, None, retriever_problem="no index at /srv/kb")
    assert without_index.retriever_problem == "no index at /srv/kb" and not without_index.retriever
    assert any("no index at /srv/kb" in line for line in health_problems(without_index))


def test_engine_choice_degrades_and_says_why(cfg, monkeypatch, tmp_path):
    """auto: llama.cpp on a CPU with a GGUF; without llama-cpp-python or without a GGUF (the Space's Hub
    model) transformers, flagged as degraded so the log warns; a setting wins."""
    import importlib.util

    from assistant.serving import registry

    monkeypatch.setattr(registry, "_cuda", lambda: False)
    real = importlib.util.find_spec
    cfg.models.generator = str(tmp_path)  # a model directory: no GGUF
    engine, why, degraded = registry.choose_engine(cfg)
    assert engine.name == "transformers" and degraded and "no GGUF" in why
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    engine, why, degraded = registry.choose_engine(cfg)
    assert engine.name == "transformers" and degraded and "llama-cpp-python is not installed" in why
    cfg.generation.engine = "transformers"
    engine, why, degraded = registry.choose_engine(cfg)
    assert (engine.name, why, degraded) == ("transformers", "generation.engine", False)
    monkeypatch.setattr(registry, "_cuda", lambda: True)
    cfg.generation.engine = "auto"
    engine, why, degraded = registry.choose_engine(cfg)
    assert engine.name == "transformers" and not degraded
