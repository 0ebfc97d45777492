"""One round of the learning loop from the Learning tab, as an operator runs it, on a server started
from another working directory with `--config` pointing at temporary directories: an export is
cancelled midway (its progress moved; no dataset is left), a second export completes, a long training
run is cancelled after its first step (no adapter is left), two training steps run, the evaluation's progress moves, the tie is refused and promoted anyway with a reason.
Everything lands in the configured directories; the checkout's adapters, its `var/` and `git status`
do not change. Real bundled models throughout (a few minutes on two cores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import BROWSER_ARGS, ROOT, free_port, requires_models, sign_in, wait_for_http

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_models]

SEEDED = 300  # enough replies that redacting them takes several seconds (progress is seen moving)


def seed(cfg) -> None:
    from assistant.build import open_store
    from assistant.store.accounts import create_operator

    store = open_store(cfg)
    for i in range(SEEDED):
        cid = store.new_conversation()
        store.add_turn(
            cid, "user", f"Hello, I am customer {i}: where is my order NW-{10000 + i}? Mail c{i}@example.com"
        )
        reply = store.add_turn(
            cid, "assistant", f"Order NW-{10000 + i} left on day {i % 28 + 1}; it arrives in 3-5 days."
        )
        store.add_feedback(reply, 1)
    create_operator(store, "dana", "dana-password")


def git_state() -> tuple[str, list[str], list[str]]:
    status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    adapters = sorted(p.name for p in (ROOT / "models" / "adapters").iterdir())
    var = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "var").rglob("*")) if (ROOT / "var").exists() else []
    return status, adapters, var


@pytest.fixture
def server(tmp_path, real_index_dir):
    from assistant.config import load_config

    work, home, registry = tmp_path / "elsewhere", tmp_path / "home", tmp_path / "registry"
    work.mkdir()
    questions = tmp_path / "questions.jsonl"
    lines = (ROOT / "benchmarks" / "answer_sets" / "promotion_questions.jsonl").read_text().splitlines()
    questions.write_text("\n".join(lines[:3]) + "\n")
    conf = work / "server.toml"
    conf.write_text(
        f'[paths]\nhome = "{home}"\n[models]\nadapters_dir = "{registry}"\n'
        f'[retrieval]\nindex_dir = "{real_index_dir}"\n[evaluation]\nanswer_questions = "{questions}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPDESK_")}
    env.update(HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    old = os.environ.copy()
    os.environ.clear()
    os.environ.update(env)
    try:
        seed(load_config(str(conf)))
    finally:
        os.environ.clear()
        os.environ.update(old)
    port = free_port()
    loopdesk = str(Path(sys.executable).with_name("loopdesk"))
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(
        [loopdesk, "--config", str(conf), "serve", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(url, proc, 240, "the server", lambda: (tmp_path / "server.log").read_text())
        yield url, work, home, registry
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def watch(page, until: str, seconds: float) -> list[str]:
    """The progress line's texts while a job runs, until it contains `until`."""
    seen: list[str] = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        text = page.locator("#op-progress").inner_text()
        if not seen or seen[-1] != text:
            seen.append(text)
        if until in text:
            return seen
        time.sleep(0.3)
    raise AssertionError(f"no {until!r} after {seconds} s; saw {seen[-3:]}")


def test_a_round_from_the_learning_tab_uses_the_servers_settings(server, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    url, work, home, registry = server
    before = git_state()
    shots = os.environ.get("SCREENSHOT_DIR")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
        page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        sign_in(page, url, "dana", "dana-password")
        page.locator("[role=tab]", has_text="Learning").click()
        learn_msg = page.locator("#op-learn-message")

        # Export, watched until its count moved twice, then cancelled: no dataset is left behind.
        page.locator("#op-export").click()
        expect(learn_msg).to_contain_text("Export started", timeout=30_000)
        seen: list[str] = []
        deadline = time.time() + 120
        while time.time() < deadline:
            text = page.locator("#op-progress").inner_text()
            if "redacting" in text and text not in seen:
                seen.append(text)
            if len(seen) >= 2:
                break
            time.sleep(0.2)
        assert len(seen) >= 2, f"export progress did not move: {seen}"
        assert f"of {SEEDED}" in seen[-1]
        if shots:
            page.screenshot(path=f"{shots}/learning-progress-desktop.png", full_page=True)
        page.locator("#op-cancel").click()
        expect(learn_msg).to_contain_text("stopped", timeout=30_000)
        watch(page, "cancelled", 30)
        datasets = home / "datasets"
        assert not [d for d in datasets.glob("*") if not d.name.endswith(".partial")], list(datasets.glob("*"))

        # A complete export, chosen for training by itself.
        page.locator("#op-export").click()
        watch(page, "finished", 180)
        expect(page.locator("#op-dataset input")).to_have_value(
            str(next(datasets.glob("export-*[0-9]"))), timeout=10_000
        )
        # A long training run, cancelled once it has taken a step: no adapter appears.
        page.locator("#op-steps input").fill("500")
        page.locator("#op-train").click()
        expect(learn_msg).to_contain_text("Training of", timeout=30_000)
        watch(page, "training: ", 300)  # its first logged step
        page.locator("#op-cancel").click()
        watch(page, "cancelled", 60)
        assert not list(registry.glob("console-*")), list(registry.iterdir())

        page.locator("#op-steps input").fill("2")
        page.locator("#op-train").click()
        expect(learn_msg).to_contain_text("Training of", timeout=30_000)
        watch(page, "finished", 300)
        version = next(registry.glob("console-*")).name

        # Evaluation against the live adapter (none: the base model), its progress seen moving.
        page.locator("#op-adapter input").fill(version)
        page.keyboard.press("Enter")
        page.locator("#op-eval").click()
        expect(page.locator("#op-adapter-message")).to_contain_text("started", timeout=30_000)
        # Loss and samples of two models, then the chat pipeline answering the question set twice:
        # minutes on 2 busy cores (a run beside a compiler took over 400 s).
        seen = [t for t in watch(page, "finished", 600) if "running" in t and " of " in t]
        assert len(set(seen)) >= 2, f"evaluation progress did not move: {seen}"
        assert (registry / version / "eval.json").is_file()

        # Three questions cannot show a difference: refused, then promoted anyway with a reason.
        page.locator("#op-promote").click()
        adapter_msg = page.locator("#op-adapter-message")
        expect(adapter_msg).to_contain_text("not measurably better", timeout=30_000)
        page.locator("#op-override-reason textarea").fill("first adapter of this shop")
        page.locator("#op-promote-anyway").click()
        expect(adapter_msg).to_contain_text(f"Live adapter: {version}", timeout=120_000)
        browser.close()

    live = json.loads((registry / "live.json").read_text())
    assert live["version"] == version and "first adapter of this shop" in live["history"][-1]["reason"]
    assert (home / "jobs" / "actions.jsonl").is_file()
    assert not list(work.iterdir())[1:], list(work.iterdir())  # only server.toml: nothing written beside it
    assert git_state() == before  # the checkout: same status, same adapters, nothing new under var/
