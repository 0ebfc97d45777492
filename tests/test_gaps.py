"""Knowledge gaps: the store's signals (declined, upset, rated down, labelled "not in the pages"; not "talk
to a person", nor a question labelled "in the pages"), topics
grouped with the real MiniLM biggest first, `loopdesk report gaps --json`, and saving a draft article
(refusals, where it goes); the console's Gaps tab in headless Chromium saves an article and the
rebuilt index finds it."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime, timedelta, timezone

import pytest

from assistant.errors import InputError
from tests.conftest import BROWSER_ARGS, FakeGenerator, FakeSentiment, requires_models, serve_in_thread, sign_in

GIFT = ["Do you sell gift cards?", "can i buy a gift card for my sister", "gift cards available?",
        "Where can I get a Northwind gift voucher?", "do u have gift certificates", "How do I buy a gift card online?"]
CRYPTO = ["Can I pay with bitcoin?", "do you take crypto payments", "Is paying in Ethereum possible?"]


def exchange(store, question: str, reply: str, escalation: str | None = None, rating: int | None = None) -> int:
    cid = store.new_conversation()
    asked = store.add_turn(cid, "user", question)
    turn = store.add_turn(cid, "assistant", reply, escalation=escalation, reply_to=asked)
    if rating is not None:
        store.add_feedback(turn, rating)
    return turn


def fill(store) -> None:
    for q in GIFT:
        exchange(store, q, "Our help pages do not cover that.", "not_covered")
    for q in CRYPTO:
        exchange(store, q, "We accept cards.", rating=-1)
    exchange(store, "I want to talk to a real person", "I'll get someone.", "human_requested")
    exchange(store, "How long do refunds take?", "3-5 days [1].", rating=1)  # answered well: no gap


def test_signals_are_declines_upsets_and_thumbs_down_only(store):
    fill(store)
    rows = store.gap_signals(datetime.now(timezone.utc) - timedelta(days=1))
    texts = {r["text"] for r in rows}
    assert texts == set(GIFT) | set(CRYPTO)
    assert {r["why"] for r in rows} == {"declined", "rated down"}
    assert store.gap_signals(datetime.now(timezone.utc) + timedelta(hours=1)) == []  # outside the window


def test_an_operators_coverage_label_decides_whether_a_question_is_a_gap(store):
    from assistant.web.console import operator as op

    covered = exchange(store, "do you have gift wrap?", "Our help pages do not cover that.", "not_covered")
    missing = exchange(store, "Can I pay in two instalments?", "Your card is charged when the order ships [1].")
    twice = exchange(store, "do you ship to mars?", "Our help pages do not cover that.", "not_covered")
    op.save_label(store, covered, "covered", "in the pages", "dana")  # a relevance miss, not a gap
    op.save_label(store, missing, "covered", "not in the pages", "dana")  # answered, but not from the pages
    op.save_label(store, twice, "covered", "not in the pages", "dana")
    rows = store.gap_signals(datetime.now(timezone.utc) - timedelta(days=1))
    assert sorted((r["text"], r["why"]) for r in rows) == [
        ("Can I pay in two instalments?", "not in the pages"),
        ("do you ship to mars?", "not in the pages"),
    ]


@requires_models
def test_topics_are_grouped_biggest_first_with_examples_and_a_draft(store, minilm):
    from assistant.reports.gaps import gap_report

    fill(store)
    gaps = gap_report(store, minilm, days=7)
    assert gaps[0].count == 6 and "gift" in gaps[0].topic and set(gaps[0].examples) <= set(GIFT)
    assert gaps[0].why == {"declined": 6} and gaps[0].trend == "new"
    assert gaps[1].count == 3 and set(gaps[1].questions) == set(CRYPTO)
    draft = gaps[0].draft()
    assert draft.startswith("# ") and draft.count("## ") == 6 and "TODO: the answer." in draft


@requires_models
def test_the_cli_lists_the_repeated_uncovered_questions_first(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from assistant.cli.main import app
    from assistant.store.store import Store

    for k in [k for k in __import__("os").environ if k.startswith("LOOPDESK_")]:
        monkeypatch.delenv(k)
    url = f"sqlite:///{tmp_path / 'gaps.db'}"
    fill(Store(url))
    out = CliRunner().invoke(app, ["--set", f"store.url={url}", "report", "gaps", "--days", "3", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output[out.output.index("{"):])
    assert [g["count"] for g in data["gaps"]][:2] == [6, 3]
    assert "gift" in data["gaps"][0]["topic"] and data["gaps"][0]["examples"]
    bad = CliRunner().invoke(app, ["--set", f"store.url={url}", "report", "gaps", "--days", "0", "--json"])
    assert bad.exit_code == 2 and "days must be at least 1" in bad.output


def test_an_article_is_saved_only_when_answered_and_never_over_a_page(cfg, tmp_path):
    import dataclasses

    import index
    from finetune.articles import article_target, save_article

    cfg.paths = dataclasses.replace(cfg.paths, home=str(tmp_path / "home"))  # no index yet: the demo's folders
    assert article_target(cfg) == (cfg.home / "kb", [index.DEMO_KB, cfg.home / "kb"])  # the demo index
    cfg.retrieval = dataclasses.replace(cfg.retrieval, index_dir=str(tmp_path / "idx"))
    with pytest.raises(InputError, match="set retrieval.kb_dir"):
        save_article(cfg, "gift-cards", "# Gift cards\n\nWe sell them.")
    cfg.retrieval = dataclasses.replace(cfg.retrieval, kb_dir=str(tmp_path / "kb"))
    with pytest.raises(InputError, match="TODO"):
        save_article(cfg, "gift-cards", "# Gift cards\n\n## Do you sell them?\n\nTODO: the answer.\n")
    with pytest.raises(InputError, match="file name"):
        save_article(cfg, "!!!", "# Gift cards\n\nWe sell them.")
    path = save_article(cfg, "Gift cards", "# Gift cards\n\nWe sell them.")
    assert path == tmp_path / "kb" / "gift-cards.md" and path.read_text() == "# Gift cards\n\nWe sell them.\n"
    with pytest.raises(InputError, match="exists already"):
        save_article(cfg, "gift cards", "# Other\n\nText.")
    assert path.read_text() == "# Gift cards\n\nWe sell them.\n"  # untouched


@pytest.mark.browser
@pytest.mark.slow
@requires_models
def test_the_gaps_tab_drafts_an_article_and_the_rebuilt_index_serves_it(cfg, store, tmp_path, chromium_path,
                                                                     real_index_dir):
    import dataclasses

    from playwright.sync_api import expect, sync_playwright

    import app
    import index
    from assistant.store.accounts import create_operator
    from assistant.turn.pipeline import Assistant
    from finetune.jobs import LearningLoop, wait

    kb, idx = tmp_path / "kb", tmp_path / "index"
    shutil.copytree(index.DEMO_KB, kb)
    shutil.copytree(real_index_dir, idx)
    cfg.retrieval = dataclasses.replace(cfg.retrieval, index_dir=str(idx), kb_dir=str(kb))
    cfg.models = dataclasses.replace(cfg.models, adapters_dir=str(tmp_path / "adapters"))
    fill(store)
    a = Assistant(cfg, FakeGenerator(["ok [1]."] * 5), store, index.open_for_config(cfg), FakeSentiment())
    create_operator(store, "dana", "dana-password")
    loop = LearningLoop(cfg, tmp_path / "work")
    for url in serve_in_thread(app.build_app(a, cfg, loop)):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
            page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            sign_in(page, url, "dana", "dana-password")
            page.get_by_role("tab", name="Gaps").click()
            page.locator("#op-gaps-find").click()
            table = page.locator("#op-gaps")
            expect(table).to_contain_text("gift", timeout=60_000)
            page.locator("#op-gaps [role=gridcell]", has_text="gift").first.click()
            draft = page.locator("#op-gaps-draft textarea")
            expect(draft).to_have_value(re.compile("TODO: the answer"), timeout=30_000)
            if shots := os.environ.get("SCREENSHOT_DIR"):
                page.screenshot(path=f"{shots}/gaps-desktop.png", full_page=True)
                page.set_viewport_size({"width": 390, "height": 844})
                page.screenshot(path=f"{shots}/gaps-phone.png", full_page=True)
                page.set_viewport_size({"width": 1366, "height": 900})
            page.locator("#op-gaps-save").click()
            expect(page.locator("#op-gaps-message")).to_contain_text("TODO", timeout=30_000)  # refused
            draft.fill("# Gift cards\n\n## Do you sell gift cards?\n\nYes: Northwind gift cards of $25, $50 and "
                       "$100 are sold online under Gift cards and never expire.\n")
            page.locator("#op-gaps-name textarea").fill("gift cards")
            page.locator("#op-gaps-save").click()
            expect(page.locator("#op-gaps-message")).to_contain_text("the index is being rebuilt", timeout=30_000)
            job = wait(loop, 300)
            assert job["kind"] == "index" and job["state"] == "done", job
            browser.close()
    assert (kb / "gift-cards.md").is_file()
    found = index.open_for_config(cfg).search("can I buy a gift card?", 3)
    assert found[0].source == "gift-cards.md", [p.source for p in found]


def test_an_index_built_from_the_shops_own_pages_is_never_rebuilt_from_the_demo(cfg, tmp_path):
    import dataclasses

    from finetune.articles import article_target
    from index.builder import build_index
    from tests.conftest import FakeEmbedder

    cfg.paths = dataclasses.replace(cfg.paths, home=str(tmp_path / "home"))  # never the developer's own index
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "opening-hours.md").write_text("# Opening hours\n\nWe open at 9.\n")
    build_index([shop], cfg.index_dir, FakeEmbedder())  # `loopdesk index build shop/` without --out
    with pytest.raises(InputError, match="set retrieval.kb_dir"):
        article_target(cfg)
