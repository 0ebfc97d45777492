"""A team working the handoff queue, without a browser, on SQLite and PostgreSQL: assign, transfer (holder
or admin only, one winner when two race), close several at once, online/away status shared through the
database (what customers are told), and migration 15 on a database that had accounts before it.

    .venv/bin/pytest -q tests/test_queue_assignment.py
"""

import threading

import pytest

from assistant.errors import InputError
from assistant.store.accounts import create_operator
from assistant.turn.assignment import Assignment
from assistant.turn.handoff import Handoff
from assistant.turn.pipeline import Assistant
from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment

BOTH_DATABASES = True  # each test with the `store` fixture runs on SQLite and on PostgreSQL


def team(cfg, store):
    a = Assistant(cfg, FakeGenerator(["Returns are free within 30 days [1]."] * 10), store, FakeRetriever(),
                  FakeSentiment())
    create_operator(store, "dana", "dana-password", "admin")
    create_operator(store, "sam", "sam-password", "agent")
    create_operator(store, "lee", "lee-password", "agent")
    return a, Assignment(store, a.handoff)


def queued(a, text="Can I talk to a real person please?"):
    return a.respond(None, text).conversation_id


def moves(store, cid):
    return [(e["kind"], e["actor"], e["detail"]) for e in store.handoff_events(cid)][1:]  # after "requested"


def test_assign_then_transfer_and_who_may(cfg, store):
    a, t = team(cfg, store)
    cid = queued(a)
    assert t.assign(cid, "sam", "lee") == "assigned"  # anyone may assign
    row = store.handoff(cid)
    assert (row["state"], row["assigned_to"], row["operator"]) == ("queued", "sam", None)
    assert store.handoff_queue()[0]["assigned_to"] == "sam"
    with pytest.raises(InputError, match="assigned to sam already"):
        t.assign(cid, "sam", "dana")
    with pytest.raises(InputError, match="no operator named 'kim'"):
        t.assign(cid, "kim", "dana")
    with pytest.raises(InputError, match="choose an operator"):
        t.assign(cid, " ", "dana")
    t.assign(cid, "lee", "dana")  # re-assigned

    a.handoff.take(cid, "lee")
    with pytest.raises(InputError, match="only lee or an admin"):
        t.transfer(cid, "sam", "sam")  # an agent cannot pull someone else's conversation
    t.transfer(cid, "sam", "lee")  # the holder can
    row = store.handoff(cid)
    assert (row["state"], row["operator"], row["assigned_to"]) == ("human", "sam", "sam")
    with pytest.raises(InputError, match="take the conversation"):
        a.handoff.reply(cid, "lee", "Still here?")  # lee does not hold it any more
    a.handoff.reply(cid, "sam", "Hi, Sam here. Which order is it?")
    assert Handoff(store).status(cid).operator == "sam"  # the customer's page names the new holder
    assert t.assign(cid, "dana", "dana") == "transferred"  # an admin can; assigning a held item transfers it
    with pytest.raises(InputError, match="dana has it already"):
        t.transfer(cid, "dana", "dana")
    assert moves(store, cid) == [
        ("assigned", "lee", {"from": None, "to": "sam"}),
        ("assigned", "dana", {"from": "sam", "to": "lee"}),
        ("taken", "lee", {}),
        ("transferred", "lee", {"from": "lee", "to": "sam"}),
        ("transferred", "dana", {"from": "sam", "to": "dana"}),
    ]
    a.handoff.close(cid, "dana")
    with pytest.raises(InputError, match="not in the queue"):
        t.assign(cid, "sam", "dana")
    assert a.handoff.request(cid, "human_requested")
    assert store.handoff(cid)["assigned_to"] is None  # asked again: a fresh, unassigned item


def test_two_transfers_at_once_one_wins(cfg, store):
    a, t = team(cfg, store)
    cid = queued(a)
    a.handoff.take(cid, "lee")  # an agent: once it is not theirs, they cannot move it again
    wins, errors = [], []

    def transfer(to):
        try:
            t.transfer(cid, to, "lee")
            wins.append(to)
        except InputError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=transfer, args=(n,)) for n in ("sam", "dana")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(wins) == 1 and len(errors) == 1, (wins, errors)
    assert store.handoff(cid)["operator"] == wins[0]
    assert [k for k, *_ in moves(store, cid)] == ["taken", "transferred"]


def test_close_several_at_once(cfg, store):
    a, t = team(cfg, store)
    ids = [queued(a, f"Order {n} is late, can I talk to a person?") for n in range(3)]
    a.handoff.take(ids[1], "sam")
    a.handoff.close(ids[2], "lee")  # closed meanwhile by someone else
    closed, refused = t.close_many([ids[0], ids[1], ids[2], ids[0]], "dana")
    assert closed == ids[:2]
    assert refused == [(ids[2], "this conversation is closed already")]
    assert store.handoff_queue() == []
    for cid in ids[:2]:
        assert [(e["kind"], e["actor"]) for e in store.handoff_events(cid)][-1] == ("closed", "dana")
    with pytest.raises(InputError, match="select the queue items"):
        t.close_many([], "dana")


def test_bulk_close_leaves_a_colleagues_conversation_open(cfg, store):
    """Ticked while queued, taken by Sam before Lee clicks "Close selected": it stays with Sam (an
    agent cannot close, then take, what another holds); the queued one closes; an admin may close both."""
    a, t = team(cfg, store)
    held, waiting = queued(a, "Refund please, a person?"), queued(a, "Talk to a human about my order")
    a.handoff.take(held, "sam")
    closed, refused = t.close_many([held, waiting], "lee")
    assert closed == [waiting] and refused == [(held, "sam is answering it now")]
    assert store.handoff(held)["state"] == "human"
    closed, _ = t.close_many([held], "dana")  # an admin
    assert closed == [held]


def test_away_operators_do_not_count_as_online(cfg, store):
    from assistant.store.store import Store

    a, t = team(cfg, store)
    store.touch_operator("dana")  # Dana has the console open
    assert a.handoff.operators_online() == ["dana"]
    t.set_status("dana", "away")
    other_replica = Handoff(Store(store.url))
    assert other_replica.operators_online() == []  # the status is in the database
    r = a.respond(None, "connect me to an agent")
    assert "No one from the Northwind Goods team is online" in r.reply
    assert not a.handoff.status(r.conversation_id).online
    t.set_status("dana", "online")
    assert other_replica.status(r.conversation_id).online
    presence = {m.name: (m.status, m.presence) for m in t.team()}
    assert presence == {"dana": ("online", "online"), "lee": ("online", "signed out"),
                        "sam": ("online", "signed out")}
    with pytest.raises(InputError, match="online or away"):
        t.set_status("dana", "busy")


def test_migration_15_keeps_existing_accounts_online(tmp_path):
    import sqlalchemy as sa

    from assistant.store import migrations
    from assistant.store.store import Store

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    every = migrations.MIGRATIONS
    try:
        migrations.MIGRATIONS = [m for m in every if m[0] < 15]  # the database as it was before
        migrations.migrate(engine)
    finally:
        migrations.MIGRATIONS = every
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO operators (name, password_hash, created_at, role) "
                          "VALUES ('old', 'x', CURRENT_TIMESTAMP, 'agent')"))
    store = Store(url)
    assert 15 in migrations.applied(store.engine)
    assert [(m["name"], m["status"]) for m in store.operator_team()] == [("old", "online")]
