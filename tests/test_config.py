"""Config precedence (defaults < file < env < flags), provenance, and all-at-once validation."""

import pytest

from assistant.config import describe, load_config
from assistant.errors import ConfigError


def test_precedence_and_sources(tmp_path):
    f = tmp_path / "loopdesk.toml"
    f.write_text('[generation]\nmax_new_tokens = 99\ntemperature = 0.5\n[retrieval]\nk = 7\n')
    cfg = load_config(f, overrides={"retrieval.k": "2"}, env={"LOOPDESK_GENERATION_TEMPERATURE": "0.1"})
    assert cfg.generation.max_new_tokens == 99
    assert cfg.generation.temperature == 0.1
    assert cfg.retrieval.k == 2
    assert cfg.sources["generation.max_new_tokens"] == str(f)
    assert cfg.sources["generation.temperature"] == "env LOOPDESK_GENERATION_TEMPERATURE"
    assert cfg.sources["retrieval.k"] == "flag"
    assert cfg.sources["app.port"] == "default"


def test_home_alias_and_derived_paths(tmp_path):
    cfg = load_config(env={"LOOPDESK_HOME": str(tmp_path)})
    assert cfg.home == tmp_path
    assert cfg.index_dir == tmp_path / "index"
    assert cfg.store_url == f"sqlite:///{tmp_path / 'loopdesk.db'}"


def test_list_from_env():
    cfg = load_config(env={"LOOPDESK_POLICY_SUPPORTED_LANGUAGES": "en, fr"})
    assert cfg.policy.supported_languages == ["en", "fr"]


def test_every_problem_reported_at_once(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(env={"LOOPDESK_GENERATION_TOP_P": "2", "LOOPDESK_APP_PORT": "abc",
                         "LOOPDESK_GENERATION_DEVICE": "tpu"}, overrides={"nope.x": 1})
    msg = str(err.value)
    for fragment in ("top_p", "app.port", "device", "unknown setting 'nope.x'"):
        assert fragment in msg


def test_broken_toml_is_a_clear_error(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[generation\nx=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(f, env={})


def test_describe_has_docs():
    rows = describe(load_config(env={}))
    assert {r["key"] for r in rows} >= {"generation.max_new_tokens", "store.url", "models.generator"}
    assert all(r["doc"] for r in rows)


def test_secrets_are_masked_in_config_show():
    from assistant.config import describe, load_config

    cfg = load_config(env={"LOOPDESK_APP_OPERATOR_TOKEN": "supersecret",
                           "LOOPDESK_STORE_URL": "postgresql://loop:pa55word@db:5432/loopdesk"})
    shown = {r["key"]: r["value"] for r in describe(cfg)}
    assert shown["app.operator_token"] == "(set, hidden)"
    assert shown["store.url"] == "postgresql://loop:***@db:5432/loopdesk"
    assert "supersecret" not in str(shown) and "pa55word" not in str(shown)


def test_handoff_keys_and_their_old_names(tmp_path, caplog):
    """The queue's settings live under [handoff]; a file or env written for the old [policy] keys still
    works, with a warning that says where the key lives now."""
    f = tmp_path / "loopdesk.toml"
    f.write_text("[handoff]\nabandon_minutes = 30\n")
    cfg = load_config(f, env={})
    assert cfg.handoff.abandon_minutes == 30 and cfg.sources["handoff.abandon_minutes"] == str(f)
    f.write_text("[policy]\nabandon_minutes = 15\n")
    with caplog.at_level("WARNING", logger="loopdesk.config"):
        cfg = load_config(f, env={"LOOPDESK_POLICY_DEFAULT_WAIT_MINUTES": "2"})
    assert cfg.handoff.abandon_minutes == 15 and cfg.handoff.default_wait_minutes == 2
    assert "policy.abandon_minutes is now handoff.abandon_minutes" in caplog.text
    assert not hasattr(cfg.policy, "abandon_minutes")
    f.write_text("[handoff]\nabandon_minutes = 30\n[policy]\nabandon_minutes = 15\n")  # both: the new name wins
    assert load_config(f, env={}).handoff.abandon_minutes == 30
