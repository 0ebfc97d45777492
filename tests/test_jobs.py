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
