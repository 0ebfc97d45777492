"""Where new kinds plug in: an engine, a tagger kind and a help-desk integration are each one
module plus one registry entry. Each test registers a fake and shows the product uses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment


def test_a_registered_engine_is_chosen_opened_and_prepares_promoted_adapters(cfg, tmp_path):
    from assistant.serving import registry
    from assistant.serving.engine import Engine

    prepared: list[Path] = []

    def open_fake(c, why):
        g = FakeGenerator(["From the fake engine [1]."])
        g.engine_name, g.engine_reason = "fake", why
        return g

    def preparer(c):
        def prepare(adapter_dir: Path) -> Path:
            prepared.append(adapter_dir)
            return adapter_dir / "fake-form"

        return prepare

    registry.register(Engine("fake", open=open_fake, prepare_adapter=preparer))
    try:
        cfg.generation.engine = "fake"
        engine, why, degraded = registry.choose_engine(cfg)
        assert (engine.name, why, degraded) == ("fake", "generation.engine", False)
        generator = registry.open_generator(cfg)
        assert generator.engine_reason == "generation.engine"
        assert "".join(generator.stream([{"role": "user", "content": "hi"}])).strip() == "From the fake engine [1]."
        # promotion asks the registry, never a particular engine
        cfg.models.generator = str(tmp_path)  # no GGUF: llama.cpp has nothing to prepare here
        prepare = registry.prepare_adapter(cfg)
        assert prepare is not None
        prepare(tmp_path / "v2")
        assert prepared == [tmp_path / "v2"]
    finally:
        registry.unregister("fake")
    assert "fake" not in registry.engines()


def test_an_unknown_engine_setting_is_a_clear_error(cfg):
    from assistant.errors import ConfigError
    from assistant.serving import registry

    cfg.generation.engine = "vllm-in-process"
    with pytest.raises(ConfigError, match="none of"):
        registry.choose_engine(cfg)


def test_a_registered_tagger_kind_is_opened_on_the_shared_backbone(cfg, tmp_path):
    from assistant.errors import LoopdeskError
    from assistant.taggers import registry
    from assistant.taggers.loader import open_taggers
    from assistant.taggers.registry import TaggerKind

    class Intent:
        def __init__(self, meta):
            self.labels = meta["labels"]

        def tag(self, text):
            return "refund" if "money back" in text else "other"

    class FakeBackbone:
        def attach(self, name, directory):
            if not Path(directory).is_dir():
                raise LoopdeskError(f"{name} adapter {directory} is missing")
            return {"labels": ["refund", "other"]}

    (tmp_path / "intent").mkdir()
    registry.register(
        TaggerKind(
            "intent", "intent classifier", directory=lambda c: str(tmp_path / "intent"), make=lambda b, m, c: Intent(m)
        )
    )
    try:
        cfg.models.sentiment = str(tmp_path / "missing-sentiment")
        cfg.models.ner = ""
        taggers, problems = open_taggers(cfg, backbone=FakeBackbone())
        assert taggers["intent"].tag("I want my money back") == "refund"
        assert "sentiment tagger" in str(taggers["sentiment"]) and "missing" in str(taggers["sentiment"])
        assert any("NER tagger" in p and "not configured" in p for p in problems)
        assert not any("intent" in p for p in problems)
    finally:
        registry.unregister("intent")
    assert "intent" not in registry.kinds()


def test_a_registered_integration_gets_its_routes_on_the_api(cfg, store):
    from fastapi.testclient import TestClient

    from assistant.turn.pipeline import Assistant
    from assistant.web.http_api import build_api
    from assistant.web.integrations import registry
    from assistant.web.integrations.registry import Integration

    seen = []

    def mount(api, assistant, c, http):
        @api.post("/integrations/fakedesk", include_in_schema=False)
        def hook(event: dict):
            seen.append((event["text"], http))
            return {"handled": True, "business": c.app.business_name}

    registry.register(Integration("fakedesk", mount=mount))
    try:
        a = Assistant(cfg, FakeGenerator(), store, FakeRetriever(), FakeSentiment())
        client = TestClient(build_api(a, cfg, integration_clients={"fakedesk": "recorder"}))
        r = client.post("/integrations/fakedesk", json={"text": "hello"})
        assert r.status_code == 200 and r.json()["handled"] is True
        assert seen == [("hello", "recorder")]
        # the built-in one is still mounted (404 without its secret, not 405/unknown)
        assert client.post("/integrations/chatwoot/wrong", json={}).status_code == 404
    finally:
        registry.unregister("fakedesk")
