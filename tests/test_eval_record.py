"""`loopdesk finetune eval` writes beside the adapter only with --record: without it the adapter's
eval.json (the promotion's evidence, read by `finetune promote`) and its model card stay byte for byte
what they were, and the result is only printed; with --record both are rewritten from this evaluation."""

import json
import os

import pytest

from tests.conftest import requires_models
from tests.test_learning_loop import tiny_model  # noqa: F401  (the module-scoped fixture)

pytestmark = [pytest.mark.slow, requires_models]


def test_eval_writes_eval_json_and_card_only_with_record(tmp_path, tiny_model, monkeypatch):  # noqa: F811
    from typer.testing import CliRunner

    from assistant.cli.main import app
    from finetune.lora import LoraTrainConfig, train_lora

    rows = [
        {
            "messages": [
                {"role": "user", "content": f"How long does parcel {i} take?"},
                {"role": "assistant", "content": f"Parcel {i} arrives in {i % 5 + 1} days."},
            ]
        }
        for i in range(8)
    ]
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (ds / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    registry = tmp_path / "adapters"
    train_lora(
        LoraTrainConfig(
            data=str(ds),
            out=str(registry),
            version="v1",
            base=str(tiny_model),
            rank=4,
            max_steps=1,
            batch_size=4,
            max_length=64,
            save_steps=10,
        ),
        tmp_path / "home",
        log=lambda *_: None,
    )
    adapter = registry / "v1"
    evidence = json.dumps({"adapter_loss": 1.0, "base_loss": 2.0, "note": "what v1 was promoted on"}).encode()
    (adapter / "eval.json").write_bytes(evidence)
    card = (adapter / "README.md").read_bytes()
    assert b"what v1 was promoted on" not in card  # the card as training wrote it (no evaluation yet)

    for k in [k for k in os.environ if k.startswith("LOOPDESK_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("LOOPDESK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOOPDESK_STORE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("LOOPDESK_MODELS_GENERATOR", str(tiny_model))
    monkeypatch.setenv("LOOPDESK_MODELS_ADAPTERS_DIR", str(registry))
    monkeypatch.setenv("LOOPDESK_GENERATION_DEVICE", "cpu")
    args = [
        "finetune",
        "eval",
        "--adapter",
        "v1",
        "--data",
        str(tmp_path / "other.jsonl"),
        "--questions",
        "none",
        "--max-examples",
        "2",
        "--generate",
        "1",
        "--max-new-tokens",
        "4",
        "--json",
    ]
    # Some other data: an evaluation that must not become v1's evidence.
    (tmp_path / "other.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[4:]))

    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    printed = json.loads(done.output[done.output.index("{\n") :])
    assert printed["n"] == 2 and "adapter_loss" in printed and printed["data"] == str(tmp_path / "other.jsonl")
    assert (adapter / "eval.json").read_bytes() == evidence  # byte-identical: not rewritten
    assert (adapter / "README.md").read_bytes() == card

    done = CliRunner().invoke(app, args + ["--record"])
    assert done.exit_code == 0, done.output
    recorded = json.loads((adapter / "eval.json").read_text())
    assert recorded["data"] == str(tmp_path / "other.jsonl") and recorded["n"] == 2 and "note" not in recorded
    new_card = (adapter / "README.md").read_text()
    assert new_card.encode() != card and "## Held-out evaluation" in new_card
    assert f"| adapter | {recorded['adapter_loss']} |" in new_card


def test_the_console_evaluation_records(tmp_path, monkeypatch):
    """The console's Evaluate job is the evidence its Promote button checks: it runs with --record."""
    from assistant.config import load_config
    from finetune.jobs import LearningLoop

    registry = tmp_path / "adapters"
    (registry / "v1").mkdir(parents=True)
    (tmp_path / "ds").mkdir()
    (registry / "v1" / "adapter.json").write_text(json.dumps({"data": str(tmp_path / "ds")}))
    cfg = load_config(env={"LOOPDESK_HOME": str(tmp_path), "LOOPDESK_MODELS_ADAPTERS_DIR": str(registry)})
    loop = LearningLoop(cfg)
    started = []
    monkeypatch.setattr(loop, "_start", lambda kind, command, operator, **info: started.append(command) or {})
    loop.start_eval("v1", "dana")
    assert "--record" in started[0] and started[0][started[0].index("eval") - 1] == "finetune"
