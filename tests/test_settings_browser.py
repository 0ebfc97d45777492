"""The console's Settings tab in headless Chromium, with an admin, a customer and an agent side by side
(one browser context each) on the app with the real MiniLM index and the extractive reader (no language
model): the admin renames the shop, picks a colour and French, and the customer's reloaded page has the
new name, title, greeting and colour; the admin uploads a help page with a new fact, the index is rebuilt
in the background (its state shown in the tab), and the customer's next question is answered from that
page, cited; a broken PDF fails its build, said in the tab, while the index in use keeps answering, and
deleting it rebuilds cleanly; an agent sees the tab with every control off.

Screenshots of the tab (1366x900 and 390x844) go to $SCREENSHOT_DIR when set:
console-settings-desktop.png and console-settings-phone.png.

    SCREENSHOT_DIR=docs .venv/bin/python -m pytest -q tests/test_settings_browser.py
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil

import pytest

from tests.conftest import BROWSER_ARGS, FakeGenerator, FakeSentiment, requires_models, serve_in_thread, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.browser, requires_models]

GIFT_PAGE = (
    "# Gift wrapping\n\n## How much is gift wrapping?\n\n"
    "Gift wrapping costs $4.50 and is available for orders over $20.\n"
)


def ask(page, text: str) -> str:
    """Send `text` on the customer page; the answer once it is complete (cited, or a decline)."""
    before = page.locator("#chat .message-row.bot-row").count()
    box = page.locator("#message textarea")
    box.fill(text)
    box.press("Enter")
    page.wait_for_function(
        f"document.querySelectorAll('#chat .message-row.bot-row').length > {before}", timeout=120_000
    )
    page.wait_for_function(
        "(() => { const rows = document.querySelectorAll('#chat .message-row.bot-row');"
        " const t = rows[rows.length - 1].innerText;"
        " return /Sources:|human agent|person/.test(t) && !document.querySelector('#chat .pending-note'); })()",
        timeout=120_000,
    )
    return page.locator("#chat .message-row.bot-row").last.inner_text()


def build_finished(page, loop, expect, timeout_s: int = 300) -> dict:
    """Wait for the index build the tab started; the tab's job line says how it ended."""
    from finetune.jobs import wait

    job = wait(loop, timeout_s)
    assert job["kind"] == "index", job
    expect(page.locator("#op-kb-job")).to_contain_text(
        "finished" if job["state"] == "done" else job["state"], timeout=30_000
    )
    return job


def test_an_admin_renames_the_shop_and_adds_a_help_page_the_customer_gets(
    cfg, store, tmp_path, chromium_path, real_index_dir
):
    from playwright.sync_api import expect, sync_playwright

    import app
    import index
    from assistant.store.accounts import create_operator
    from assistant.turn.pipeline import Assistant
    from finetune.jobs import LearningLoop

    kb, idx = tmp_path / "kb", tmp_path / "index"
    shutil.copytree(index.DEMO_KB, kb)
    shutil.copytree(real_index_dir, idx)
    cfg.retrieval = dataclasses.replace(cfg.retrieval, index_dir=str(idx), kb_dir=str(kb))
    cfg.generation = dataclasses.replace(cfg.generation, reader="extractive")  # cited sentences, no model
    cfg.models = dataclasses.replace(cfg.models, adapters_dir=str(tmp_path / "adapters"))
    a = Assistant(cfg, FakeGenerator(["(never called)"]), store, index.open_for_config(cfg), FakeSentiment())
    a.settings.check_s = 0.5  # another replica's view: a short check period keeps the test short
    a.unit_scorer(None)  # as `app.launch` does: the unit encoder loads before the first customer, not in the turn
    create_operator(store, "dana", "dana-password")
    create_operator(store, "abel", "abel-password", role="agent")
    loop = LearningLoop(cfg, tmp_path / "work")
    gift = tmp_path / "upload" / "gift-wrapping.md"
    gift.parent.mkdir()
    gift.write_text(GIFT_PAGE)
    broken = tmp_path / "upload" / "manual.pdf"
    broken.write_bytes(b"%PDF-1.4\n1 0 obj\nnot really a PDF\n")
    shots = os.environ.get("SCREENSHOT_DIR")
    for url in serve_in_thread(app.build_app(a, cfg, loop)):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
            customer = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            customer.goto(url)
            expect(customer.locator("#brand")).to_contain_text("Northwind Goods", timeout=60_000)
            before = ask(customer, "how much is gift wrapping?")
            assert "4.50" not in before, before

            admin = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            sign_in(admin, url, "dana", "dana-password")
            admin.get_by_role("tab", name="Settings").click()
            name = admin.locator("#op-set-name textarea, #op-set-name input").first
            expect(name).to_have_value("Northwind Goods", timeout=30_000)
            expect(admin.locator("#op-kb-pages")).to_contain_text("shipping.md")
            name.fill("")
            admin.locator("#op-set-save").click()
            expect(admin.locator("#op-set-message")).to_contain_text("must not be empty", timeout=30_000)
            name.fill("Harbor Gifts")
            admin.locator("#op-set-languages label", has_text="French (fr)").click()
            expect(admin.locator("#op-set-languages label", has_text="French (fr)").locator("input")).to_be_checked()
            admin.locator("#op-set-colour button.dialog-button").click()
            hex_box = admin.locator("#op-set-colour .input-wrap input")
            hex_box.fill("#0f766e")
            hex_box.press("Enter")
            admin.locator("#op-set-message").click()  # closes the colour dialog
            admin.locator("#op-set-save").click()
            expect(admin.locator("#op-set-message")).to_contain_text(
                "Saved: business name, colour, languages", timeout=30_000
            )
            expect(admin.locator("#op-set-sources")).to_contain_text("Business name: set by dana")

            customer.reload()
            expect(customer.locator("#brand")).to_contain_text("Harbor Gifts", timeout=60_000)
            expect(customer.locator("#chat")).to_contain_text("I'm the Harbor Gifts assistant")
            expect(customer).to_have_title("Harbor Gifts support", timeout=30_000)
            colour = customer.locator("#brand h2").evaluate("e => getComputedStyle(e).color")
            assert colour == "rgb(15, 118, 110)", colour  # #0f766e

            admin.locator("#op-kb-upload input[type=file]").set_input_files(str(gift))
            # Gradio may render the name and its extension apart ("gift-wrapping .md") while it uploads.
            expect(admin.locator("#op-kb-upload")).to_contain_text(re.compile(r"gift-wrapping\s*\.md"), timeout=30_000)
            admin.locator("#op-kb-put").click()
            expect(admin.locator("#op-kb-message")).to_contain_text("Added gift-wrapping.md", timeout=30_000)
            expect(admin.locator("#op-kb-pages")).to_contain_text("gift-wrapping.md")
            assert build_finished(admin, loop, expect)["state"] == "done"
            sign_in(admin, url, "dana", "dana-password")  # a fresh console page: its header has the new name
            expect(admin.locator("h2", has_text="operator console")).to_have_text("Harbor Gifts · operator console")
            admin.get_by_role("tab", name="Settings").click()
            expect(admin.locator("#op-kb-pages")).to_contain_text("gift-wrapping.md", timeout=30_000)
            expect(admin.locator("#op-kb-job")).to_contain_text("finished")  # the last job, shown on opening
            if shots:
                admin.wait_for_timeout(1500)  # the sign-in's follow-up calls end (they fade what they update)
                admin.screenshot(path=f"{shots}/console-settings-desktop.png", full_page=True)
            answer = ask(customer, "how much is gift wrapping?")
            assert "$4.50" in answer and "Gift wrapping" in answer.split("Sources:")[-1], answer

            admin.locator("#op-kb-upload input[type=file]").set_input_files(str(broken))
            expect(admin.locator("#op-kb-upload")).to_contain_text("manual.pdf", timeout=30_000)
            admin.locator("#op-kb-put").click()
            expect(admin.locator("#op-kb-message")).to_contain_text("Added manual.pdf", timeout=30_000)
            assert build_finished(admin, loop, expect)["state"] == "failed"
            expect(admin.locator("#op-kb-job")).to_contain_text("manual.pdf: corrupt PDF")
            still = ask(customer, "how much is gift wrapping?")  # the build in use still answers
            assert "$4.50" in still and "Gift wrapping" in still.split("Sources:")[-1], still

            admin.locator("#op-kb-name").click()
            admin.get_by_role("option", name="manual.pdf").click()
            admin.locator("#op-kb-delete").click()
            expect(admin.locator("#op-kb-message")).to_contain_text("Deleted manual.pdf", timeout=30_000)
            assert build_finished(admin, loop, expect)["state"] == "done"
            assert not (kb / "manual.pdf").exists() and (kb / "gift-wrapping.md").is_file()

            agent = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            sign_in(agent, url, "abel", "abel-password")
            agent.get_by_role("tab", name="Settings").click()
            expect(agent.locator("#op-set-message")).to_contain_text("only an admin can change them", timeout=30_000)
            expect(agent.locator("#op-set-name textarea, #op-set-name input").first).to_have_value("Harbor Gifts")
            for control in ("#op-set-save", "#op-kb-put", "#op-kb-delete"):
                expect(agent.locator(control)).to_be_disabled()

            if shots:
                admin.set_viewport_size({"width": 390, "height": 844})
                admin.screenshot(path=f"{shots}/console-settings-phone.png", full_page=True)
            browser.close()
    assert store.settings()["business_name"]["updated_by"] == "dana"
    assert re.search(r"\$4\.50", (kb / "gift-wrapping.md").read_text())
