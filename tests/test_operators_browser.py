"""The console's Operators tab in headless Chromium, three browser contexts on one in-process app (fake
models): an admin adds an agent and reads the new password once; the agent signs in with it and sees the
team but no control he may use; the admin resets his password, and the agent's open console refuses his
next action; the admin removes him; the last admin cannot make herself an agent.

    .venv/bin/python -m pytest -q tests/test_operators_browser.py
    SCREENSHOT_DIR=docs .venv/bin/python -m pytest -q tests/test_operators_browser.py   # also the screenshots
"""

from __future__ import annotations

import os
import re

import pytest

from tests.conftest import BROWSER_ARGS, FakeGenerator, FakeRetriever, FakeSentiment, open_tab, serve_in_thread, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def served(cfg, store):
    import app
    from assistant.store.accounts import create_operator
    from assistant.turn.pipeline import Assistant

    a = Assistant(cfg, FakeGenerator(["(never called)"]), store, FakeRetriever(), FakeSentiment())
    create_operator(store, "dana", "dana-password", "admin")
    for url in serve_in_thread(app.build_app(a, cfg)):
        yield url, store


def choose(page, name: str) -> None:
    page.locator("#op-operators-name input").click()
    page.locator(f"[role=option][aria-label='{name}']").click()


def test_an_admin_adds_resets_and_removes_an_agent(served, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    url, store = served
    shots = os.environ.get("SCREENSHOT_DIR")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=BROWSER_ARGS)
        admin = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        sign_in(admin, url, "dana", "dana-password")
        open_tab(admin, "Operators")
        expect(admin.locator("#op-operators")).to_contain_text("dana", timeout=30_000)

        admin.locator("#op-operators-new textarea, #op-operators-new input").first.fill("Abel")
        admin.locator("#op-operators-add").click()
        said = admin.locator("#op-operators-message")
        expect(said).to_contain_text("abel (agent) added by dana", timeout=30_000)
        password = re.search(r"Password for abel: (\S+) —", said.inner_text()).group(1)
        expect(admin.locator("#op-operators [role=row]", has_text="abel")).to_contain_text("offline")  # never signed in
        assert store.operator_role("abel") == "agent"
        if shots:
            admin.screenshot(path=f"{shots}/console-operators-desktop.png", full_page=True)

        agent = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        sign_in(agent, url, "abel", password)
        open_tab(agent, "Operators")
        expect(agent.locator("#op-operators-message")).to_contain_text("only an admin can change it", timeout=30_000)
        expect(agent.locator("#op-operators-add")).to_be_disabled()
        expect(agent.locator("#op-operators-remove")).to_be_disabled()
        if shots:
            agent.screenshot(path=f"{shots}/console-operators-phone.png", full_page=True)

        choose(admin, "abel")
        admin.locator("#op-operators-reset").click()
        expect(said).to_contain_text("Password reset", timeout=30_000)
        fresh = re.search(r"Password for abel: (\S+) —", said.inner_text()).group(1)
        assert fresh != password
        open_tab(agent, "Queue")
        open_tab(agent, "Operators")  # his next action, on the console he had open
        expect(agent.locator("#op-operators-message")).to_contain_text("your password was reset", timeout=30_000)

        third = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        sign_in(third, url, "abel", fresh)  # the new password works

        choose(admin, "abel")
        expect(admin.locator("#op-operators-role input[value=agent]")).to_be_checked()  # his role, shown
        admin.locator("#op-operators-remove").click()
        expect(said).to_contain_text("Remove the account abel?", timeout=30_000)
        admin.locator("#op-operators-remove-yes").click()
        expect(said).to_contain_text("abel removed", timeout=30_000)
        expect(admin.locator("#op-operators")).not_to_contain_text("abel")
        assert store.operator_account("abel") is None

        choose(admin, "dana")
        expect(admin.locator("#op-operators-role input[value=admin]")).to_be_checked(timeout=30_000)
        admin.locator("#op-operators-role label", has_text="agent").click()
        admin.locator("#op-operators-set-role").click()
        expect(said).to_contain_text("dana is the last admin", timeout=30_000)
        assert store.operator_role("dana") == "admin"
        browser.close()
