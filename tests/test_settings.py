"""A store owner's settings (`assistant.settings`, migration 17): validation with clear reasons, the
database record with who and when (SQLite and PostgreSQL), what every replica serves after a change,
the turn (prompt, canned messages, languages) and the customer's widget picking them up without a
restart, the console's actions refusing an agent on the server, and `loopdesk settings show|set|reset`.

    .venv/bin/python -m pytest -q tests/test_settings.py
"""

from __future__ import annotations

import json
import os

import pytest
import sqlalchemy as sa

from assistant.errors import InputError, StoreError
from assistant.settings import LiveSettings, check
from tests.conftest import FakeGenerator, FakeRetriever

BOTH_DATABASES = True  # the tests with the `store` fixture run on SQLite and on PostgreSQL


def test_values_are_checked_and_normalised_with_clear_reasons():
    assert check("business_name", "  Harbor \n Bank ") == "Harbor Bank"
    assert check("colour", "#0F766E") == "#0f766e"
    assert check("greeting", "  Welcome!  ") == "Welcome!" and check("greeting", "") == ""
    assert check("supported_languages", "fr, en") == ["en", "fr"]  # English first: the default language
    assert check("supported_languages", ["de"]) == ["de"]
    refused = {
        ("business_name", "   "): "must not be empty",
        ("business_name", "x" * 81): "at most 80",
        ("greeting", "y" * 501): "at most 500",
        ("colour", "red"): "hex colour like #1d4ed8",
        ("colour", "#12345"): "hex colour",
        ("colour", "#1d4ed8; background:url(x)"): "hex colour",
        ("supported_languages", "en,nl"): "unknown language nl",
        ("supported_languages", ""): "at least one language",
        ("timezone", "UTC"): "unknown setting 'timezone'",
    }
    for (key, value), reason in refused.items():
        with pytest.raises(InputError, match=reason):
            check(key, value)


def test_a_setting_is_stored_with_who_and_when_and_reset_to_the_config(cfg, store):
    live = LiveSettings(store, cfg)
    assert live.current().business_name == "Northwind Goods" and live.overrides() == {}
    live.set("business_name", "Harbor Bank", by="dana")
    live.set("supported_languages", "en,fr", by="dana")
    record = store.settings()
    assert record["business_name"]["value"] == "Harbor Bank" and record["business_name"]["updated_by"] == "dana"
    assert record["business_name"]["updated_at"] is not None
    now = live.current()
    assert (now.business_name, now.supported_languages, now.title) == (
        "Harbor Bank",
        ("en", "fr"),
        "Harbor Bank support",
    )
    assert live.config().app.business_name == "Harbor Bank" and cfg.app.business_name == "Northwind Goods"
    rows = {r["key"]: r for r in live.rows()}
    assert rows["business_name"]["source"] == "settings (database)" and rows["business_name"]["updated_by"] == "dana"
    assert rows["colour"]["source"].startswith("config app.colour") and rows["colour"]["value"] == "#1d4ed8"
    live.reset("business_name", by="ana")
    assert live.current().business_name == "Northwind Goods"
    assert store.settings()["business_name"]["updated_by"] == "ana"  # who reset it is kept
    assert live.config().policy.supported_languages == ["en", "fr"]


def test_update_checks_everything_first_and_stores_only_what_changed(cfg, store):
    live = LiveSettings(store, cfg)
    with pytest.raises(InputError) as refused:
        live.update({"business_name": "", "colour": "blue", "greeting": "Hi"}, by="dana")
    assert "must not be empty" in str(refused.value) and "hex colour" in str(refused.value)
    assert store.settings() == {}  # nothing stored when anything is refused
    changed = live.update(
        {"business_name": "Northwind Goods", "greeting": "Hello!", "colour": "#1D4ED8", "supported_languages": ["en"]},
        by="dana",
    )
    assert changed == ["greeting"] and set(store.settings()) == {"greeting"}


def test_every_replica_serves_a_change_within_its_check_period(cfg, store):
    here, elsewhere = LiveSettings(store, cfg), LiveSettings(store, cfg, check_s=3600)
    assert elsewhere.current().business_name == "Northwind Goods"  # read once, then cached
    here.set("business_name", "Harbor Bank", by="dana")
    assert here.current().business_name == "Harbor Bank"  # the process that changed it: at once
    assert elsewhere.current().business_name == "Northwind Goods"  # another replica: at its next read
    elsewhere.check_s = 0
    assert elsewhere.current().business_name == "Harbor Bank"


def test_an_unreadable_database_keeps_the_values_read_before(cfg, store):
    live = LiveSettings(store, cfg, check_s=0)
    live.set("business_name", "Harbor Bank", by="dana")
    assert live.current().business_name == "Harbor Bank"

    def down():
        raise StoreError("database call failed after 1 attempt(s): connection refused")

    store.settings = down
    assert live.current().business_name == "Harbor Bank" and "connection refused" in live.problem


def test_migration_17_adds_the_settings_table_to_a_version_16_database(tmp_path, monkeypatch):
    from assistant.store import migrations
    from assistant.store.store import Store

    url = f"sqlite:///{tmp_path / 'v16.db'}"
    engine = sa.create_engine(url)
    monkeypatch.setattr(migrations, "MIGRATIONS", [m for m in migrations.MIGRATIONS if m[0] <= 16])
    migrations.migrate(engine)
    assert not sa.inspect(engine).has_table("settings")
    monkeypatch.undo()
    store = Store(url)
    assert 17 in migrations.applied(store.engine) and store.settings() == {}
    store.put_setting("colour", "#0f766e", "dana")
    assert store.settings()["colour"]["value"] == "#0f766e"


def test_the_turn_uses_the_owners_name_and_languages_from_the_next_message(cfg, store):
    from assistant.turn.pipeline import Assistant

    gen = FakeGenerator()
    a = Assistant(cfg, gen, store, FakeRetriever())
    french = "Bonjour, comment puis-je retourner une chemise qui ne me va pas ?"
    assert a.respond(None, french).decision.reason == "unsupported_language"  # only English configured
    live = LiveSettings(store, cfg, check_s=0)  # the console of another replica
    live.set("business_name", "Harbor Bank", by="dana")
    live.set("supported_languages", ["en", "fr"], by="dana")
    a.settings.check_s = 0  # the next turn reads the record (within CHECK_S seconds in a real app)
    a.respond(None, "How do refunds work?")
    assert "assistant for Harbor Bank" in gen.calls[-1][0]["content"] and "Northwind" not in gen.calls[-1][0]["content"]
    assert a.respond(None, french).decision.reason != "unsupported_language"
    declining = Assistant(cfg, gen, store, FakeRetriever(passages=[]))
    assert "Harbor Bank help pages" in declining.respond(None, "Do you have a loyalty points program?").reply


def test_the_widget_and_cited_pages_show_the_owners_name_and_colour(cfg, store):
    from fastapi.testclient import TestClient

    from assistant.turn.pipeline import Assistant
    from assistant.web.http_api import build_api

    a = Assistant(cfg, FakeGenerator(), store, FakeRetriever())
    a.settings.set("business_name", "Harbor Bank", by="dana")
    a.settings.set("colour", "#0f766e", by="dana")
    client = TestClient(build_api(a, cfg))
    widget = client.get("/widget.js").text
    assert "#0f766e" in widget and "Harbor Bank" in widget and "Northwind" not in widget
    assert "Harbor Bank" in client.get("/kb/returns.md%230").text


def test_the_console_actions_refuse_an_agent_on_the_server(cfg, store):
    from assistant.store.accounts import Accounts, create_operator
    from assistant.web.console.settings_tab import reset_settings, save_settings

    create_operator(store, "dana", "dana-password", role="admin")
    create_operator(store, "abel", "abel-password", role="agent")
    accounts = Accounts(store, sleep=lambda s: None)
    admin, agent = (accounts.sign_in(n, f"{n}-password").token for n in ("dana", "abel"))
    live = LiveSettings(store, cfg)
    with pytest.raises(InputError, match="only an admin can change the settings"):
        save_settings(live, accounts, agent, "Abel's Shop", "", "#000000", ["en"])
    with pytest.raises(InputError, match="only an admin"):
        reset_settings(live, accounts, agent)
    assert store.settings() == {}
    said = save_settings(live, accounts, admin, "Harbor Bank", "", "#1d4ed8", ["en", "de"])
    assert said.startswith("Saved: business name, languages.")
    assert live.current().business_name == "Harbor Bank" and store.settings()["business_name"]["updated_by"] == "dana"
    with pytest.raises(InputError, match="hex colour"):
        save_settings(live, accounts, admin, "Harbor Bank", "", None, ["en"])


def test_the_cli_shows_sets_and_resets_settings(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from assistant.cli.main import app
    from assistant.store.store import Store

    for k in [k for k in os.environ if k.startswith("LOOPDESK_")]:
        monkeypatch.delenv(k)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    base = ["--set", f"store.url={url}", "--set", f"paths.home={tmp_path}"]
    run = CliRunner().invoke
    out = run(app, [*base, "settings", "set", "business_name", "Harbor Bank", "--json"])
    assert out.exit_code == 0, out.output
    row = json.loads(out.output[out.output.index("{") :])
    assert (
        row["value"] == "Harbor Bank"
        and row["updated_by"].startswith("cli")
        and row["config_value"] == "Northwind Goods"
    )
    bad = run(app, [*base, "settings", "set", "colour", "red", "--json"])
    assert bad.exit_code == 2 and "hex colour" in bad.output
    bad = run(app, [*base, "settings", "set", "supported_languages", "en,xx", "--json"])
    assert bad.exit_code == 2 and "unknown language xx" in bad.output
    shown = run(app, [*base, "settings", "show", "--json"])
    rows = {r["key"]: r for r in json.loads(shown.output[shown.output.index("{") :])["settings"]}
    assert rows["business_name"]["value"] == "Harbor Bank" and rows["colour"]["value"] == "#1d4ed8"
    reset = run(app, [*base, "settings", "reset", "business_name", "--json"])
    assert reset.exit_code == 0 and json.loads(reset.output[reset.output.index("{") :])["value"] == "Northwind Goods"
    assert Store(url).settings()["business_name"]["value"] is None  # the row keeps who reset it


def test_evaluations_and_training_sets_use_the_config_alone(cfg, store):
    from assistant.build import DATASET, EVAL, SERVE

    LiveSettings(store, cfg).set("business_name", "Harbor Bank", by="dana")
    assert SERVE.owner_settings and not EVAL.owner_settings and not DATASET.owner_settings
    fixed = LiveSettings(None, cfg)  # what build_assistant gives the eval and dataset profiles
    assert fixed.current().business_name == "Northwind Goods" and fixed.config() is cfg
    with pytest.raises(InputError, match="config file alone"):
        fixed.set("business_name", "Other", by="dana")
