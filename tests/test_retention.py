"""Retention and the right to erasure: `loopdesk store purge --older-than 90d` and
`loopdesk store erase --conversation ID | --email ADDRESS` remove conversations with everything
attached, and nothing else."""

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from assistant.turn.handoff import Handoff
from assistant.turn.pipeline import Assistant
from tests.conftest import ROOT, FakeGenerator, FakeRetriever, FakeSentiment

BOTH_DATABASES = True  # each test with the `store` fixture runs on SQLite and on PostgreSQL


def seeded(cfg, store):
    a = Assistant(cfg, FakeGenerator(["Returns are free within 30 days [1]."] * 10), store, FakeRetriever(),
                  FakeSentiment())
    old = a.respond(None, "How do returns work for shoes?")
    store.add_feedback(old.turn_id, 1)
    kim = a.respond(None, "I want to talk to a human")
    Handoff(store).leave_email(kim.conversation_id, "kim@example.com")
    mail = a.respond(None, "my address is lee@example.com, where are my returns?")
    keep = a.respond(None, "How do returns work for sandals?")
    with store.engine.begin() as c:  # the first conversation was last active 120 days ago
        c.execute(sa.text("UPDATE conversations SET last_activity_at = :t WHERE id = :id"),
                  {"t": datetime.now(timezone.utc) - timedelta(days=120), "id": old.conversation_id})
    return old, kim, mail, keep


def cli(cfg, *args):
    env = {"LOOPDESK_STORE_URL": cfg.store_url, "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "assistant.cli.main", *args, "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    return out.returncode, (json.loads(out.stdout) if out.stdout.strip() else None), out.stderr


def test_purge_and_erase(cfg, store):
    old, kim, mail, keep = seeded(cfg, store)
    rc, dry, _ = cli(cfg, "store", "purge", "--older-than", "90d", "--dry-run")
    assert rc == 0 and dry == {"dry_run": True, "conversations": 1}
    rc, done, _ = cli(cfg, "store", "purge", "--older-than", "90d")
    assert rc == 0 and done["conversations"] == 1 and done["turns"] == 2 and done["feedback"] == 1
    assert store.history(old.conversation_id) == [] and store.history(keep.conversation_id)
    assert store.conversations_mentioning("KIM@example.com") == [kim.conversation_id]
    assert store.conversations_mentioning("lee@example.com") == [mail.conversation_id]
    rc, erased, _ = cli(cfg, "store", "erase", "--email", "kim@example.com")
    assert rc == 0 and erased["conversations"] == 1 and erased["handoff_events"] == 2
    assert store.handoff(kim.conversation_id) is None and store.handoff_queue() == []
    rc, erased, _ = cli(cfg, "store", "erase", "--conversation", mail.conversation_id)
    assert rc == 0 and erased["turns"] == 2
    assert [c["id"] for c in store.conversation_page()[0]] == [keep.conversation_id]
    rc, _, err = cli(cfg, "store", "erase", "--conversation", "nope")
    assert rc == 2 and "no conversation nope" in err
    rc, _, err = cli(cfg, "store", "purge", "--older-than", "soon")
    assert rc == 2 and "90d" in err


def test_an_absurd_age_is_a_clear_error_not_a_traceback(cfg, store):
    for age in ("99999999999999d", "999999w"):
        rc, out, err = cli(cfg, "store", "purge", "--older-than", age)
        assert rc == 2 and "before the year 1" in out["error"], (age, out, err)


def test_erasure_reaches_turns_waiting_in_the_spool(store, tmp_path):
    """A conversation spooled while the database was down must not come back at the next replay."""
    from assistant.store.spool import Spool

    spool = Spool(tmp_path / "spool.jsonl")
    kim = spool.append({"op": "conversation", "id": "11111111-1111-4111-8111-111111111111", "source": "chat"})
    spool.append({"op": "turn", "conversation_id": kim["id"], "role": "user",
                  "text": "my e-mail is Kim@Example.com", "fields": {}})
    other = spool.append({"op": "conversation", "id": "22222222-2222-4222-8222-222222222222", "source": "chat"})
    spool.append({"op": "turn", "conversation_id": other["id"], "role": "user", "text": "hello", "fields": {}})
    assert spool.erase([], "kim@example.com") == [kim["id"]]
    assert spool.replay(store) == 2
    assert store.history(kim["id"]) == [] and [t["text"] for t in store.history(other["id"])] == ["hello"]


def test_an_address_a_channel_gave_is_found_for_erasure(store):
    """A customer the shop's page or an API client named with an e-mail address is found by that whole
    address (upper or lower case), and only they: neither a wildcard nor a part of another address matches."""
    named = store.new_conversation("chat", {"customer_name": "Ada", "customer_email": "Ada@Example.com"})
    store.new_conversation("chat", {"customer_name": "Bob", "customer_email": "bob@example.com"})
    store.new_conversation("chat", {"customer_email": "da@example.com.au"})  # holds "da@example.com"
    assert store.conversations_mentioning("ada@example.COM") == [named]
    assert store.conversations_mentioning("%@example.com") == []
    assert store.conversations_mentioning("da@example.com") == []  # only the whole address is theirs
