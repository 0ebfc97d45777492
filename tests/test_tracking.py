"""Experiment tracking (finetune/tracking.py) and the Learning tab's run history and Train gate.

- a tiny training and an evaluation typed as `loopdesk finetune lora|eval` are recorded (MLflow's
  SQLite store under the configured home) and read back by `list_runs` with their parameters, data
  hashes, metrics, loss curve and adapter;
- without MLflow (its import made to fail) runs still go to `<runs>/runs.jsonl` and are listed, and the
  console says which store it uses; a broken MLflow store falls back to the plain file too;
- the console's runs table reads as words and rounded numbers, newest first;
- Train is off with its reason for a small export and on for a big enough one, and the server refuses
  a small one whatever the button said.
"""

from __future__ import annotations

import json
import sys

import pytest

from assistant.errors import InputError
from tests.conftest import requires_models
from tests.test_learning_loop import tiny_model  # noqa: F401  (the module-scoped fixture)


def rows(n: int) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"How long does parcel {i} take?"},
                {"role": "assistant", "content": f"Parcel {i} arrives in {i % 5 + 1} days."},
            ]
        }
        for i in range(n)
    ]


def export(path, n: int, n_eval: int = 2):
    path.mkdir(parents=True)
    (path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows(n)))
    (path / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows(n_eval)))
    (path / "data_card.json").write_text(json.dumps({"data_hash": "exporthash123456", "train": n}))
    return path


@pytest.mark.slow
@requires_models
def test_a_cli_training_and_evaluation_are_recorded_and_read_back(tmp_path, tiny_model, monkeypatch):  # noqa: F811
    from typer.testing import CliRunner

    from assistant.cli.main import app
    from finetune.tracking import backend, list_runs, metric_history

    ds = export(tmp_path / "export-20261203T100000", 8)
    home, registry = tmp_path / "home", tmp_path / "adapters"
    for k in [k for k in __import__("os").environ if k.startswith("LOOPDESK_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("LOOPDESK_HOME", str(home))
    monkeypatch.setenv("LOOPDESK_STORE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("LOOPDESK_MODELS_GENERATOR", str(tiny_model))
    monkeypatch.setenv("LOOPDESK_MODELS_ADAPTERS_DIR", str(registry))
    monkeypatch.setenv("LOOPDESK_GENERATION_DEVICE", "cpu")
    train = ["finetune", "lora", "--data", str(ds), "--version", "v1", "--max-steps", "5", "--batch-size", "4"]
    train += ["--max-length", "64", "--rank", "4", "--save-steps", "10", "--by", "dana", "--json"]
    done = CliRunner().invoke(app, train)
    assert done.exit_code == 0, done.output
    evaluate = ["finetune", "eval", "--adapter", "v1", "--data", str(ds), "--questions", "none", "--max-examples"]
    evaluate += ["2", "--generate", "1", "--max-new-tokens", "4", "--record", "--by", "sam", "--json"]
    done = CliRunner().invoke(app, evaluate)
    assert done.exit_code == 0, done.output

    manifest = json.loads((registry / "v1" / "adapter.json").read_text())
    ev = json.loads((registry / "v1" / "eval.json").read_text())
    runs = list_runs(home / "runs")
    assert [r["kind"] for r in runs] == ["eval", "train"]  # newest first
    assert {r["backend"] for r in runs} == {backend()}
    if backend() == "mlflow":
        assert (home / "runs" / "mlflow.db").is_file() and not (home / "runs" / "runs.jsonl").exists()
    evaluation, training = runs

    assert training["adapter"] == "v1" and training["by"] == "dana" and training["name"] == "v1"
    p, m = training["params"], training["metrics"]
    assert p["method"] == "lora" and p["rank"] == "4" and p["max_steps"] == "5" and p["batch_size"] == "4"
    assert p["dataset"] == ds.name and p["examples"] == "8" and p["base_model"] == manifest["base_model"]
    assert training["data_hash"] == manifest["data_hash"] and p["export_data_hash"] == "exporthash123456"
    assert m["steps"] == 5 and m["minutes"] == pytest.approx(manifest["metrics"]["train_seconds"] / 60, abs=0.01)
    assert m["train_loss_last"] == pytest.approx(manifest["metrics"]["train_loss_last"])
    curve = metric_history(home / "runs", training)
    csv = [line.split(",") for line in (registry / "v1" / "loss.csv").read_text().splitlines()[1:]]
    assert curve == [(int(s), pytest.approx(float(v))) for s, v in csv] and curve
    if backend() == "mlflow":  # the manifest and model card travel with the run as artifacts
        assert len(list((home / "runs" / "artifacts").rglob("adapter.json"))) == 1

    assert evaluation["adapter"] == "v1" and evaluation["by"] == "sam"
    assert evaluation["params"]["compared_with"] == "base model" and evaluation["params"]["method"] == "lora"
    assert evaluation["params"]["recorded_as_evidence"] == "yes" and evaluation["data_hash"] == ev["data_hash"]
    assert evaluation["metrics"]["adapter_loss"] == pytest.approx(ev["adapter_loss"])
    assert evaluation["metrics"]["base_loss"] == pytest.approx(ev["base_loss"])
    assert evaluation["metrics"]["examples"] == 2 and evaluation["metrics"]["minutes"] >= 0


def test_without_mlflow_runs_go_to_a_plain_file_and_are_listed(tmp_path, monkeypatch):
    from finetune import tracking

    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError
    where = tmp_path / "runs"
    assert tracking.backend() == "jsonl" and "MLflow is not installed" in tracking.describe(where)
    first = tracking.record_run(
        where,
        "train",
        name="v1",
        what="training of adapter v1",
        params={"method": "lora", "rank": 16, "target_modules": ["q_proj", "v_proj"]},
        metrics={"steps": 40, "train_loss_last": 1.25, "skipped": None},
        adapter="v1",
        data_hash="abc",
        by="dana",
        started=1_700_000_000,
        seconds=600,
        curve=[(5, 2.5), (10, 1.25)],
    )
    assert first["backend"] == "jsonl"
    tracking.record_run(
        where, "eval", name="eval-v1", what="evaluation", params={}, metrics={"adapter_answer_accuracy": 0.5},
        adapter="v1", started=1_700_000_900, seconds=30,
    )  # fmt: skip
    assert (where / "runs.jsonl").is_file() and not (where / "mlflow.db").exists()
    runs = tracking.list_runs(where)
    assert [r["kind"] for r in runs] == ["eval", "train"]
    train = runs[1]
    assert train["params"] == {"method": "lora", "rank": "16", "target_modules": "q_proj,v_proj", "data_hash": "abc",
                               "adapter": "v1"}  # fmt: skip
    assert train["metrics"] == {"steps": 40.0, "train_loss_last": 1.25, "minutes": 10.0}
    assert train["by"] == "dana" and train["started_at"] == "2023-11-14T22:13:20+00:00"
    assert tracking.metric_history(where, train) == [(5, 2.5), (10, 1.25)]


def test_a_broken_mlflow_store_falls_back_to_the_plain_file(tmp_path):
    pytest.importorskip("mlflow")
    pytest.importorskip("alembic")
    from finetune import tracking

    where = tmp_path / "runs"
    where.mkdir()
    (where / "mlflow.db").write_bytes(b"not a database at all" * 100)
    run = tracking.record_run(where, "train", name="v1", what="t", params={}, metrics={"steps": 1}, adapter="v1")
    assert run["backend"] == "jsonl"
    assert [r["adapter"] for r in tracking.list_runs(where)] == ["v1"]  # the broken store is skipped, not fatal


def test_an_evaluation_is_tracked_in_words_in_the_runs_table(tmp_path, monkeypatch):
    """`track_evaluation` maps an evaluation (answer accuracy, the paired comparison) into the tracker;
    the runs table shows it and a training in a team lead's words."""
    from assistant.web.console.learning_tab import RUN_COLUMNS, run_rows
    from finetune import tracking
    from finetune.gen_eval import track_evaluation

    monkeypatch.setitem(sys.modules, "mlflow", None)  # fast: the plain file (the MLflow path is tested above)
    where = tmp_path / "runs"
    adapter = tmp_path / "adapters" / "console-20261203-101500"
    adapter.mkdir(parents=True)
    (adapter / "adapter.json").write_text(json.dumps({"method": "adalora"}))
    tracking.record_run(
        where, "train", name=adapter.name, what="", adapter=adapter.name, by="dana", started=1_796_000_000,
        seconds=12.4 * 60, params={"method": "adalora", "dataset": "export-20261203T100000", "examples": 300},
        metrics={"steps": 40, "train_loss_last": 1.2345678},
    )  # fmt: skip
    result = {
        "n": 40,
        "data_hash": "d1",
        "adapter_loss": 1.1,
        "live_loss": 1.3,
        "adapter_answer_accuracy": 0.6250,
        "live_answer_accuracy": 0.5833,
        "answer_questions": "q.jsonl",
        "answer_questions_hash": "q1",
        "answer_gate": {"wins": 3, "losses": 1, "ties": 20, "p_value": 0.31},
    }
    out = track_evaluation(result, adapter, "grounded-v1", where, "sam", 20, 1_796_001_000, recorded=True)
    assert out["backend"] == "jsonl"
    runs = tracking.list_runs(where)
    ev = runs[0]
    assert ev["params"]["questions_hash"] == "q1" and ev["params"]["compared_with"] == "grounded-v1"
    assert ev["metrics"]["better"] == 3 and ev["metrics"]["worse"] == 1 and ev["metrics"]["same"] == 20
    assert ev["metrics"]["adapter_answer_accuracy"] == 0.625 and ev["metrics"]["live_answer_accuracy"] == 0.5833

    table = run_rows(list(reversed(runs)))  # given oldest first, shown newest first
    assert len(RUN_COLUMNS) == len(table[0]) == 7
    assert table[0] == [
        "2026-11-30 01:10",
        "sam",
        "Evaluation of console-20261203-101500 against live adapter grounded-v1 (kept as its promotion evidence)",
        "62% vs 58%",
        "3 better, 1 worse, 20 same",
        "under 1",
        "AdaLoRA",
    ]
    assert table[1] == [
        "2026-11-30 00:53",
        "dana",
        "Training of adapter console-20261203-101500 on export-20261203T100000 (300 examples)",
        "—",
        "—",
        "12",
        "AdaLoRA",
    ]
    assert not any(c in cell for row in table for cell in row for c in "{}[]")  # no raw dicts or lists


@pytest.fixture
def loop(cfg, tmp_path):
    import dataclasses

    from finetune.jobs import LearningLoop

    cfg.models = dataclasses.replace(cfg.models, adapters_dir=str(tmp_path / "adapters"))
    cfg.paths = dataclasses.replace(cfg.paths, home=str(tmp_path / "home"))  # runs land here, never in ~
    return LearningLoop(cfg, tmp_path / "work")


def test_train_is_off_with_its_reason_for_a_small_export_and_the_server_refuses(loop, tmp_path, monkeypatch):
    from assistant.web.console.learning_tab import train_gate
    from finetune.jobs import MIN_TRAIN_EXAMPLES

    small = export(loop.datasets_dir / "export-small", 3)
    big = export(loop.datasets_dir / "export-big", MIN_TRAIN_EXAMPLES)

    button, note = train_gate(loop, None)
    assert button["interactive"] is False and "needs an exported dataset" in note
    button, note = train_gate(loop, str(small))
    assert button["interactive"] is False
    assert f"Train needs at least {MIN_TRAIN_EXAMPLES} rated, corrected or imported replies" in note
    assert "(this one has 3)" in note
    button, note = train_gate(loop, str(big))
    assert button["interactive"] is True and note == ""
    button, note = train_gate(None, str(big))
    assert button["interactive"] is False and "cannot train" in note

    started = []
    monkeypatch.setattr(loop, "_start", lambda kind, command, operator, **info: started.append(command) or {})
    with pytest.raises(InputError, match=f"at least {MIN_TRAIN_EXAMPLES} .*this one has 3"):
        loop.start_training(str(small), 10, "dana")  # a stale or forged click: refused all the same
    assert started == []
    loop.start_training(str(big), 10, "dana")
    assert started and "--by=dana" in started[0]  # the run is recorded with who started it


def test_the_loop_lists_runs_and_names_its_store(loop, tmp_path, monkeypatch):
    from finetune import tracking

    monkeypatch.setitem(sys.modules, "mlflow", None)
    assert loop.runs() == [] and "runs.jsonl" in loop.tracker()
    before = loop.runs_stamp()
    tracking.record_run(tracking.location(loop.cfg), "train", name="v1", what="", params={}, metrics={}, adapter="v1")
    assert loop.runs_stamp() != before and [r["adapter"] for r in loop.runs()] == ["v1"]
    assert tracking.location(loop.cfg) == loop.cfg.home / "runs"  # under the configured home, not the checkout
