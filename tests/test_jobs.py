"""The console's learning loop: one background job at a time, progress and loss read while it
runs, its result or its error afterwards, a job that vanished reported as lost, and the CLI's
refusals for promote and bad input."""

import json
import os
import signal
import sys
import time

import pytest

from assistant.errors import AdapterError, InputError
from finetune.jobs import LearningLoop, wait

PROGRESS = """
import json, sys, time, pathlib
run = pathlib.Path(sys.argv[1])
for step in (1, 2, 3):
    (run / "progress.json").write_text(json.dumps({"step": step, "max_steps": 3, "losses": [[s, 3.0 - s / 2] for s in range(1, step + 1)]}))
    time.sleep(0.4)
print("{'loss': 1.5}")
print(json.dumps({"version": "v1", "metrics": {"steps": 3}}, indent=1))
"""


@pytest.fixture
def loop(cfg, tmp_path):
    import dataclasses

    # A registry of its own: promote/rollback here must never touch the shipped models/adapters.
    cfg.models = dataclasses.replace(cfg.models, adapters_dir=str(tmp_path / "adapters"))
    return LearningLoop(cfg, tmp_path / "work")


def test_one_job_at_a_time_with_progress_and_result(loop):
    loop._start("train", [sys.executable, "-c", PROGRESS, "{run}"], "dana", version="v1", max_steps=3)
    with pytest.raises(InputError, match="running already \\(started by dana"):
        loop._start("train", [sys.executable, "-c", "pass"], "sam")
    seen = []
    while (job := loop.job())["state"] == "running":
        seen.append(job["step"])
        time.sleep(0.1)
    assert job["state"] == "done" and job["result"] == {"version": "v1", "metrics": {"steps": 3}}
    assert job["step"] == 3 and job["total"] == 3 and job["losses"][-1] == [3, 1.5]
    assert max(seen) >= 1  # progress was readable while it ran
    actions = [json.loads(x) for x in (loop.jobs / "actions.jsonl").read_text().splitlines()]
    assert actions[0]["operator"] == "dana" and actions[0]["action"] == "start train"


def test_failed_and_lost_jobs_say_why(loop):
    loop._start("eval", [sys.executable, "-c", "import sys; print('error: v9 has no evaluation'); sys.exit(2)"], "dana")
    job = wait(loop, 30)
    assert job["state"] == "failed" and job["error"] == "error: v9 has no evaluation"
    state = loop._start("eval", [sys.executable, "-c", "import time; time.sleep(60)"], "dana")
    assert loop.job()["state"] == "running"
    os.killpg(state["pid"], signal.SIGKILL)  # killed with its shell (a reboot, an OOM kill): no exit code
    deadline = time.time() + 10
    while loop.job()["state"] == "running" and time.time() < deadline:
        time.sleep(0.1)
    assert loop.job()["state"] == "lost"


def test_refusals_match_the_cli(loop, tmp_path):
    with pytest.raises(InputError, match="choose an exported dataset"):
        loop.start_training(str(tmp_path), 10, "dana")
    with pytest.raises(InputError, match="no generator adapter"):
        loop.start_eval("nope", "dana")
    with pytest.raises(InputError, match="choose an adapter"):
        loop.promote("", "dana")
    with pytest.raises(AdapterError):
        loop.promote("nope", "dana")
    with pytest.raises(AdapterError, match="nothing to roll back"):
        loop.rollback("dana")


def test_jobs_run_with_the_servers_own_settings(tmp_path, monkeypatch):
    """A Learning-tab job gets the server's config file and --set overrides and runs in the server's
    working directory, so what it writes lands where the server reads it, never in the checkout."""
    from pathlib import Path

    from assistant.config import load_config
    from finetune.jobs import loopdesk

    here = tmp_path / "elsewhere"
    here.mkdir()
    conf = here / "server.toml"
    conf.write_text(
        f'[paths]\nhome = "{tmp_path / "home"}"\n[models]\nadapters_dir = "{tmp_path / "registry"}"\n'
        '[app]\nbusiness_name = "Harbor Bank"\n'
    )
    for key in list(os.environ):
        if key.startswith("LOOPDESK_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(here)
    cfg = load_config(str(conf), {"generation.max_new_tokens": "77"})
    loop = LearningLoop(cfg)
    assert loop.home == tmp_path / "home" and loop.registry == tmp_path / "registry"  # not the checkout
    loop._start("check", loopdesk(cfg, "config", "show"), "dana")
    job = wait(loop, 60)
    assert job["state"] == "done", job
    rows = {r["key"]: r for r in json.loads((Path(job["dir"]) / "log.txt").read_text())}
    assert rows["app.business_name"]["value"] == "Harbor Bank" and rows["app.business_name"]["source"] == str(conf)
    assert rows["generation.max_new_tokens"]["value"] == 77 and rows["generation.max_new_tokens"]["source"] == "flag"
    assert rows["paths.home"]["value"] == str(tmp_path / "home")
    assert rows["models.adapters_dir"]["value"] == str(tmp_path / "registry")
    loop._start("where", [sys.executable, "-c", "import os; print(os.getcwd())"], "dana")
    job = wait(loop, 30)
    assert (Path(job["dir"]) / "log.txt").read_text().strip() == str(here)  # the server's directory


def test_an_evaluation_reports_its_stage_and_how_far_it_is(loop, tmp_path):
    script = (
        "import sys, time\n"
        "from assistant.progress import ProgressFile\n"
        "report = ProgressFile(sys.argv[1])\n"
        "for i in range(4):\n"
        "    report('answering the questions (adapter)', i, 4)\n"
        "    time.sleep(0.3)\n"
    )
    loop._start("eval", [sys.executable, "-c", script, "{run}/progress.json"], "dana", version="v1")
    seen = set()
    while (job := loop.job())["state"] == "running":
        if job["stage"]:
            seen.add((job["stage"], job["step"], job["total"]))
        time.sleep(0.05)
    assert ("answering the questions (adapter)", 1, 4) in seen or ("answering the questions (adapter)", 2, 4) in seen
    assert job["state"] == "done"


def test_cancel_is_reported_as_cancelled_with_who(loop):
    loop._start("export", [sys.executable, "-c", "import time; time.sleep(60)"], "dana")
    loop.cancel("sam")
    deadline = time.time() + 10
    while loop.job()["state"] == "running" and time.time() < deadline:
        time.sleep(0.1)
    assert loop.job()["state"] == "cancelled"
    actions = [json.loads(x) for x in (loop.jobs / "actions.jsonl").read_text().splitlines()]
    assert actions[-1]["operator"] == "sam" and actions[-1]["action"] == "cancel export"
    with pytest.raises(InputError, match="no job is running"):
        loop.cancel("sam")


def test_time_left_follows_the_stage_pace():
    from finetune.jobs import _seconds_left

    assert _seconds_left({"step": 10, "max_steps": 40, "since": 100.0, "at": 120.0}) == 60.0
    assert _seconds_left({"step": 0, "max_steps": 40, "since": 100.0, "at": 120.0}) is None  # no pace yet
    assert _seconds_left({"step": 5, "max_steps": 5, "since": 100.0, "at": 120.0}) is None  # stage done
