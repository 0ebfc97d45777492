"""The Learning tab's promotion in headless Chromium, on copies of the shipped adapters: a candidate
that ties the live adapter on every question is refused with the numbers and no command-line advice;
"Promote anyway" needs a reason, then makes it live and the table shows who promoted it and why.
The runs table lists the tracked training and evaluation in words, and Train is off with its reason for
an export that is too small.
Screenshots at 1366 px and phone width go to $SCREENSHOT_DIR when set (docs/learning-*.png)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import pytest

from tests.conftest import (
    BROWSER_ARGS,
    ROOT,
    FakeGenerator,
    FakeRetriever,
    FakeSentiment,
    requires_models,
    serve_in_thread,
    sign_in,
)

pytestmark = [pytest.mark.browser, requires_models]


@pytest.fixture
def served(cfg, store, tmp_path):
    import app
    from assistant.store.accounts import create_operator
    from assistant.turn.pipeline import Assistant
    from finetune.gate import paired_comparison
    from finetune.jobs import LearningLoop
    from finetune.registry import SharedLive, provenance

    registry = tmp_path / "adapters"
    for version in ("grounded-v1", "bitext-v3"):
        shutil.copytree(ROOT / "models" / "adapters" / version, registry / version,
                        ignore=shutil.ignore_patterns("adapter.gguf"))
    same = {f"q{i}": i % 5 != 0 for i in range(24)}
    ev = {"adapter_loss": 1.1, "live_loss": 1.2, "answer_gate": paired_comparison(same, same),
          "compared_with": provenance(registry / "grounded-v1", "data", None)}
    (registry / "bitext-v3" / "eval.json").write_text(json.dumps(ev))
    cfg.models = dataclasses.replace(cfg.models, adapters_dir=str(registry))
    cfg.generation = dataclasses.replace(cfg.generation, merge_adapter=False)
    cfg.evaluation = dataclasses.replace(cfg.evaluation, answer_questions="none")
    cfg.paths = dataclasses.replace(cfg.paths, runs=str(tmp_path / "runs"))
    record_runs(tmp_path / "runs")
    small = tmp_path / "work" / "datasets" / "export-20261203T100000"
    small.mkdir(parents=True)
    (small / "train.jsonl").write_text(
        json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}) + "\n"
    )
    SharedLive(store, registry).compare_and_set({"version": "grounded-v1", "previous": [], "history": []}, None)
    a = Assistant(cfg, FakeGenerator(["Returns are free within 30 days [1]."] * 20), store, FakeRetriever(),
                  FakeSentiment())
    create_operator(store, "dana", "dana-password")
    for url in serve_in_thread(app.build_app(a, cfg, LearningLoop(cfg, tmp_path / "work"))):
        yield url, store


def record_runs(where) -> None:
    from finetune.tracking import record_run

    record_run(where, "train", name="bitext-v3", what="", adapter="bitext-v3", by="sam", seconds=750,
               params={"method": "lora", "dataset": "export-20261201T090000", "examples": 300},
               metrics={"steps": 40})  # fmt: skip
    record_run(where, "eval", name="eval-bitext-v3", what="", adapter="bitext-v3", by="dana", seconds=20,
               params={"compared_with": "grounded-v1", "method": "lora"},
               metrics={"adapter_answer_accuracy": 0.625, "live_answer_accuracy": 0.5833, "better": 3, "worse": 1,
                        "same": 20})  # fmt: skip


def test_a_tie_is_refused_and_promote_anyway_records_why(served, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    url, store = served
    shots = os.environ.get("SCREENSHOT_DIR")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
        page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        sign_in(page, url, "dana", "dana-password")
        page.locator("[role=tab]", has_text="Learning").click()
        table = page.locator("#op-adapters")
        expect(table).to_contain_text("0 better, 0 worse, 24 the same", timeout=30_000)
        runs = page.locator("#op-runs")
        expect(runs).to_contain_text("Evaluation of bitext-v3 against live adapter grounded-v1", timeout=30_000)
        expect(runs).to_contain_text("62% vs 58%")
        expect(runs).to_contain_text("Training of adapter bitext-v3 on export-20261201T090000 (300 examples)")
        expect(page.locator("#op-runs-store")).to_contain_text("MLflow")  # which store records the runs
        expect(page.locator("#op-train")).to_be_disabled()
        expect(page.locator("#op-train-note")).to_contain_text("(this one has 1)", timeout=30_000)
        page.locator("#op-adapter input").fill("bitext-v3")
        page.keyboard.press("Enter")
        page.locator("#op-promote").click()
        message = page.locator("#op-adapter-message")
        expect(message).to_contain_text("not measurably better", timeout=30_000)
        assert "--" not in message.inner_text()  # no command-line advice in the browser
        page.locator("#op-promote-anyway").click()
        expect(message).to_contain_text("say why", timeout=30_000)
        page.locator("#op-override-reason textarea").fill("the new tone tested better with the team")
        page.locator("#op-promote-anyway").click()
        expect(message).to_contain_text("Live adapter: bitext-v3", timeout=60_000)
        expect(table).to_contain_text(", override by dana: the new tone", timeout=30_000)
        assert "by dana: override by dana" not in table.inner_text()  # who is said once
        if shots:
            page.screenshot(path=f"{shots}/learning-desktop.png", full_page=True)
            phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
            sign_in(phone, url, "dana", "dana-password")
            phone.get_by_label("More tabs").click()  # a phone shows the first tabs and a menu for the rest
            phone.locator("button:visible", has_text="Learning").last.click()
            expect(phone.locator("#op-adapters")).to_contain_text("bitext-v3", timeout=30_000)
            phone.screenshot(path=f"{shots}/learning-phone.png", full_page=True)
        browser.close()
    record = store.deployed("live_adapter")
    assert record["version"] == "bitext-v3" and record["history"][-1]["by"] == "dana"
    assert "the new tone tested better" in record["history"][-1]["reason"]
