"""CPU turn-taking between the llama.cpp engine's steps and the rest of a turn's work (fakes only)."""

import threading
import time

from assistant.cpu_turns import CpuTurns


def test_side_work_waits_for_the_step_in_progress_and_goes_before_the_next():
    turns, order = CpuTurns(cores=2, max_wait=5.0), []
    in_step, side_asked = threading.Event(), threading.Event()

    def engine():
        with turns.engine():
            order.append("step 1")
            in_step.set()
            side_asked.wait(5)
            time.sleep(0.05)  # the side job is waiting now: it must not start inside this step
            order.append("step 1 end")
        time.sleep(0.01)  # the side job wakes up ...
        with turns.engine():  # ... and the next step waits for it
            order.append("step 2")

    def side():
        in_step.wait(5)
        side_asked.set()
        with turns.side():
            order.append("side")
            time.sleep(0.05)
            order.append("side end")

    threads = [threading.Thread(target=engine), threading.Thread(target=side)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert order == ["step 1", "step 1 end", "side", "side end", "step 2"]
    assert turns.engine_overrun == 0


def test_the_engine_steps_anyway_when_side_work_runs_past_its_limit():
    turns = CpuTurns(cores=2, max_wait=0.1)
    started, release = threading.Event(), threading.Event()

    def stuck_side():
        with turns.side():
            started.set()
            release.wait(5)  # e.g. a side job blocked on something else

    t = threading.Thread(target=stuck_side)
    t.start()
    started.wait(5)
    t0 = time.monotonic()
    with turns.engine():
        waited = time.monotonic() - t0
    release.set()
    t.join(5)
    assert 0.09 <= waited < 2 and turns.engine_overrun == 1


def test_at_most_one_side_job_per_core():
    turns, running, peak, lock = CpuTurns(cores=2), [0], [0], threading.Lock()

    def side():
        with turns.side():
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.03)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=side) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak[0] == 2
