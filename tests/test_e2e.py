"""End to end on the real bundled models: the CLI's chat turn answers from the demo KB and is stored."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, requires_models

pytestmark = [pytest.mark.slow, requires_models]


def test_real_turn_answers_with_demo_sources_and_is_stored(tmp_path, real_index_dir):
    import index
    from assistant.build import build_assistant
    from assistant.config import load_config
    from assistant.store.store import Store

    cfg = load_config(env={"LOOPDESK_STORE_URL": f"sqlite:///{tmp_path / 'e2e.db'}",
                           "LOOPDESK_RETRIEVAL_INDEX_DIR": str(real_index_dir),
                           "LOOPDESK_GENERATION_MAX_NEW_TOKENS": "40"})
    assistant = build_assistant(cfg, index.open_for_config)
    result = assistant.respond(None, "How do I return a shirt that does not fit?")
    assert result.reply.strip() and len(result.reply.split()) >= 3
    assert result.tags.language == "en"
    assert result.passages and result.passages[0].source == "returns.md"
    stored = Store(cfg.store_url).history(result.conversation_id)
    assert [t["role"] for t in stored] == ["user", "assistant"]
    assert stored[1]["text"] == result.reply and stored[1]["passages"][0]["source"] == "returns.md"
    assert stored[1]["model_id"] == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_real_fact_questions_get_the_knowledge_base_facts(tmp_path, real_index_dir):
    """The bundled models, the default (checked) reader: the KB's fact is in the reply, cited, nothing invented."""
    import index
    from assistant.build import build_assistant
    from assistant.config import load_config
    from assistant.grounding.claims import unsupported_claims

    cfg = load_config(env={"LOOPDESK_STORE_URL": f"sqlite:///{tmp_path / 'facts.db'}",
                           "LOOPDESK_RETRIEVAL_INDEX_DIR": str(real_index_dir)})
    assistant = build_assistant(cfg, index.open_for_config)
    express = assistant.respond(None, "how much is express shipping?")
    assert "12.99" in express.reply and "[1]" in express.reply
    assert not unsupported_claims(express.reply, [p.text for p in express.passages])
    steps = assistant.respond(None, "How do I return a shirt that does not fit?")
    assert "Return or exchange" in steps.reply and "[" in steps.reply and steps.passages[0].source == "returns.md"
    follow = assistant.respond(express.conversation_id, "and how long does it take?")
    assert any(f in follow.reply for f in ("1–2 business days", "1-2 business days")), follow.reply
    declined = assistant.respond(None, "What is the name of your CEO?")
    assert declined.decision.action == "decline" and "human agent" in declined.reply and "CEO" not in declined.reply


def test_cli_chat_json(tmp_path, real_index_dir):
    env = dict(os.environ, LOOPDESK_STORE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
               LOOPDESK_RETRIEVAL_INDEX_DIR=str(real_index_dir), LOOPDESK_GENERATION_MAX_NEW_TOKENS="24",
               # A server under that limit answers from the evidence ("busy"); a terminal waits for the model.
               LOOPDESK_GENERATION_FIRST_TEXT_SECONDS="0.01", HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "assistant.cli.main", "chat", "How do I return a shirt that does not fit?",
                           "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert data["reply"].strip() and data["language"] == "en"
    assert any(s["source"] == "returns.md" for s in data["sources"])
    assert data["latency_ms"] > 0 and data["conversation_id"]
    assert "busy" not in (data["grounding"] or ""), data["grounding"]


def test_cli_reports_missing_index_clearly(tmp_path):
    env = dict(os.environ, LOOPDESK_RETRIEVAL_INDEX_DIR=str(tmp_path / "none"), HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "assistant.cli.main", "index", "search", "refund", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "no index" in proc.stderr
