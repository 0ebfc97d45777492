"""The unit encoder (MiniLM + LoRA ranking the units that answer): training pairs, training on the real
bundled MiniLM, the adapter's file and loading, the pipeline ranking units with it, and a broken adapter
reported (model file, turn notes, log) with the retrieval embedder ranking instead."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from assistant.errors import ModelNotFoundError
from assistant.grounding.evidence import Unit
from assistant.grounding.relevance import Logistic, Relevance
from finetune.unit_encoder import training_pairs
from tests.conftest import requires_models

ROWS = [
    {
        "kb": "shop",
        "answerable": True,
        "query": f"how much does {thing} cost",
        "unit_texts": [
            f"Prices: {thing} costs ${price}.",
            f"Prices: {thing} is popular with customers.",
            "Hours: 9-5.",
        ],
        "unit_labels": [True, False, False],
    }
    for thing, price in [("express", "12.99"), ("standard", "4.99"), ("gift wrap", "3"), ("next day", "19")]
] + [
    {
        "kb": "shop",
        "answerable": False,
        "query": "are you hiring",
        "unit_texts": ["Hours: 9-5."],
        "unit_labels": [False],
    }
]


def _logistic(features):
    n = len(features)
    return Logistic(tuple(features), [1.0] * n, 0.0, [0.0] * n, [1.0] * n, 0.5)


def test_pairs_are_a_question_its_answering_unit_and_a_unit_of_the_same_retrieval_that_does_not():
    pairs = training_pairs(ROWS)
    assert len(pairs) == 4  # the unanswerable row gives none
    for q, pos, neg in pairs:
        assert q.split()[-2] in pos and "costs" in pos and "costs" not in neg
    assert len(training_pairs(ROWS, repeat={"shop": 3})) == 12
    assert training_pairs(ROWS, seed=1) == training_pairs(ROWS, seed=1)


@requires_models
def test_trains_saves_a_small_safetensors_adapter_and_ranks_units_in_the_pipeline(tmp_path, cfg):
    from assistant.grounding.unit_encoder import load_unit_encoder
    from assistant.models import resolve
    from finetune.unit_encoder import train_unit_encoder
    from index.embedder import SentenceEmbedder

    base = Path(resolve(cfg.models.embedder, cfg.home).location)
    card = train_unit_encoder(ROWS * 8, tmp_path / "enc", base, epochs=2, report=lambda _: None)
    files = sorted(p.name for p in (tmp_path / "enc").iterdir())
    assert files == ["adapter_config.json", "adapter_model.safetensors", "unit_encoder.json"]
    assert (tmp_path / "enc" / "adapter_model.safetensors").stat().st_size < 4_000_000  # LoRA only, not MiniLM
    assert json.loads((tmp_path / "enc" / "adapter_config.json").read_text())["base_model_name_or_path"].startswith(
        "sentence-transformers/"
    )
    assert card["pairs"] == 32 and card["knowledge_bases"] == ["shop"]
    enc = load_unit_encoder(tmp_path / "enc", lambda: SentenceEmbedder(cfg.models.embedder, cfg.home))
    assert enc.embed(["a question"]).shape == (1, 384)

    # A relevance model naming the adapter: the pipeline ranks units with it, not the retrieval embedder.
    Relevance(_logistic(["unit_top"]), _logistic(["sim"])).save(tmp_path / "r.json", unit_encoder="enc")
    loaded = Relevance.load(tmp_path / "r.json")
    assert loaded.problem == "" and loaded.unit_encoder_dir == tmp_path / "enc"
    scorer = loaded.unit_scorer(lambda: SentenceEmbedder(cfg.models.embedder, cfg.home))
    assert scorer is loaded.unit_scorer(lambda: None)  # loaded once

    from assistant.grounding.evidence import pick_evidence

    units = [Unit("Express costs $12.99.", 0, 0), Unit("Express is popular with customers.", 0, 1)]
    tuned = pick_evidence("how much is express", units, scorer, 2, ["Prices"])
    plain = pick_evidence("how much is express", units, SentenceEmbedder(cfg.models.embedder, cfg.home), 2, ["Prices"])
    assert [u.text for u, _ in tuned][0] == "Express costs $12.99."
    assert [s for _, s in tuned] != [s for _, s in plain]  # the adapter changed the scores

    # A learning-loop round continues from the live adapter (same shape, new weights).
    again = train_unit_encoder(
        ROWS * 8, tmp_path / "round", base, epochs=1, report=lambda _: None, start_from=tmp_path / "enc"
    )
    assert again["started_from"] == str(tmp_path / "enc") and again["pairs"] == 32
    before = (tmp_path / "enc" / "adapter_model.safetensors").read_bytes()
    after = (tmp_path / "round" / "adapter_model.safetensors").read_bytes()
    assert len(after) == len(before) and after != before


def test_a_missing_adapter_makes_the_model_file_unreadable_with_the_reason(tmp_path):
    Relevance(_logistic(["unit_top"]), _logistic(["sim"])).save(tmp_path / "r.json", unit_encoder="enc")
    problem = Relevance.load(tmp_path / "r.json").problem
    assert "unit encoder" in problem and "adapter_model.safetensors" in problem


def test_an_adapter_that_fails_to_load_is_reported_once_and_the_retrieval_embedder_ranks(tmp_path, cfg, store, caplog):
    """A corrupt adapter (the files exist, the weights do not load): the turn goes on with the retrieval
    embedder, its notes say why, the log says it once, and loading is not retried at every turn."""
    from assistant.turn.pipeline import Assistant
    from assistant.types import Tags
    from tests.conftest import FakeGenerator, FakeRetriever

    (tmp_path / "enc").mkdir()
    (tmp_path / "enc" / "adapter_config.json").write_text("{not json")
    (tmp_path / "enc" / "adapter_model.safetensors").write_bytes(b"\x00" * 10)
    Relevance(_logistic(["unit_top"]), _logistic(["sim"])).save(tmp_path / "r.json", unit_encoder="enc")
    relevance = Relevance.load(tmp_path / "r.json")
    assert relevance.problem == ""
    calls = []

    def broken(folder, make_embedder):
        calls.append(folder)
        raise ModelNotFoundError(f"unit encoder {folder} is unreadable (JSONDecodeError)")

    import assistant.grounding.unit_encoder as ue

    original, ue.load_unit_encoder = ue.load_unit_encoder, broken
    try:
        a = Assistant(cfg, FakeGenerator(), store, FakeRetriever(), relevance=relevance)
        with caplog.at_level(logging.ERROR, logger="loopdesk"):
            tags1, tags2 = Tags(), Tags()
            assert a.unit_scorer(tags1) is None and a.unit_scorer(tags2) is None
    finally:
        ue.load_unit_encoder = original
    assert len(calls) == 1
    assert any("unit encoder unavailable" in n and "unreadable" in n for n in tags1.notes + tags2.notes)
    assert sum("unit encoder unavailable" in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(ModelNotFoundError):
        relevance.unit_scorer(lambda: None)


@requires_models
def test_a_corrupt_adapter_file_is_a_clear_error(tmp_path, cfg):
    from assistant.grounding.unit_encoder import load_unit_encoder
    from index.embedder import SentenceEmbedder

    (tmp_path / "enc").mkdir()
    shipped = Path(__file__).resolve().parent.parent / "models" / "relevance" / "unit-encoder"
    (tmp_path / "enc" / "adapter_config.json").write_text((shipped / "adapter_config.json").read_text())
    (tmp_path / "enc" / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ModelNotFoundError, match="unreadable"):
        load_unit_encoder(tmp_path / "enc", lambda: SentenceEmbedder(cfg.models.embedder, cfg.home))
