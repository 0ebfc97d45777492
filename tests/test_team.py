"""Team features of the console without a browser, on SQLite and PostgreSQL: saved replies with variables
(admins keep them, everyone uses them), internal notes that no customer view, API response or training
export contains, tags and the tag filter, the satisfaction question (once per conversation, only after
an operator closed it), first-response / resolution times and per-operator numbers in the daily report.

    .venv/bin/pytest -q tests/test_team.py
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from assistant.errors import InputError
from assistant.turn.handoff import Handoff
from assistant.turn.pipeline import Assistant
from assistant.web.console import operator as op
from assistant.web.console import team, team_stats
from assistant.web.satisfaction import (
    conversation_language,
    page_language,
    record_satisfaction,
    satisfaction_due,
)
from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment

BOTH_DATABASES = True  # each test with the `store` fixture runs on SQLite and on PostgreSQL


def assistant(cfg, store):
    return Assistant(
        cfg, FakeGenerator(["Returns are free within 30 days [1]."] * 20), store, FakeRetriever(), FakeSentiment()
    )


def handed_over(cfg, store, operator="dana"):
    """A conversation a customer asked a person for, taken by `operator`."""
    a = assistant(cfg, store)
    cid = a.respond(None, "How do returns work for shoes?").conversation_id
    a.respond(cid, "I want to talk to a real person")
    Handoff(store).take(cid, operator)
    return a, cid


def test_saved_replies_are_kept_by_admins_and_filled_in_for_a_conversation(cfg, store):
    store.add_operator("ana", "x", role="admin")
    store.add_operator("bo", "x", role="agent")
    with pytest.raises(InputError, match="only an admin"):
        team.save_reply(store, "Greeting", "Hi {customer_name}!", "bo")
    assert store.saved_replies() == []
    assert (
        team.save_reply(
            store,
            "Greeting",
            "Hi {customer_name}, I'm {operator_name} from {business_name}. Braces stay: {{like this}}.",
            "ana",
        )
        == "Saved reply “Greeting” added."
    )
    assert (
        team.save_reply(store, "  Greeting ", "Hi {customer_name}, I'm {operator_name} from {business_name}.", "ana")
        == "Saved reply “Greeting” updated."
    )
    for bad, why in (
        ("Hi {order_id}", r"unknown variable \{order_id\}: use \{customer_name\}"),
        ("Hi {customer_name", "expected '}'"),
        ("Hi {operator_name:>9}", "nothing after the name"),
        ("Hi {operator_name!r}", "nothing after the name"),
        ("Hi {}", "unknown variable"),
        ("   ", "type the reply's text"),
    ):
        with pytest.raises(InputError, match=why):
            team.save_reply(store, "Bad", bad, "ana")
    with pytest.raises(InputError, match="give the saved reply a name"):
        team.save_reply(store, " ", "Hello", "ana")
    assert [r["name"] for r in store.saved_replies()] == ["Greeting"]

    a = assistant(cfg, store)
    named = store.new_conversation("chatwoot", {"customer_name": "Kim"})
    text, note = team.fill_reply(store, "Greeting", named, "bo", "Northwind Goods")
    assert text == "Hi Kim, I'm Bo from Northwind Goods." and "read it over" in note
    anonymous = a.respond(None, "hello").conversation_id
    text, note = team.fill_reply(store, "Greeting", anonymous, "bo", "Northwind Goods")
    assert text == "Hi there, I'm Bo from Northwind Goods." and "No name is known" in note
    team.save_reply(store, "Braces", "Use {{code}} for {business_name}", "ana")
    assert team.fill_reply(store, "Braces", anonymous, "bo", "Acme")[0] == "Use {code} for Acme"

    with pytest.raises(InputError, match="only an admin"):
        team.delete_reply(store, "Greeting", "bo")
    assert team.delete_reply(store, "Greeting", "ana") == "Saved reply “Greeting” deleted."
    with pytest.raises(InputError, match="no saved reply"):
        team.fill_reply(store, "Greeting", anonymous, "bo", "Acme")
    with pytest.raises(InputError, match="no saved reply"):
        team.delete_reply(store, "Greeting", "ana")


def test_internal_notes_reach_operators_only(cfg, store, tmp_path):
    from fastapi.testclient import TestClient

    from assistant.web.chat_session import ChatSession
    from assistant.web.console.page import transcript
    from assistant.web.http_api import build_api, create_api_key
    from finetune.export import export_dataset

    a = assistant(cfg, store)
    key = create_api_key(store, "shop-site")
    client = TestClient(build_api(a, cfg))
    auth = {"Authorization": f"Bearer {key}"}
    body = client.post("/v1/chat", json={"message": "How do returns work for shoes?"}, headers=auth).json()
    cid = body["conversation_id"]
    client.post("/v1/chat", json={"message": "I want to talk to a real person", "conversation_id": cid}, headers=auth)
    Handoff(store).take(cid, "dana")
    secret = "Customer is a known chargeback abuser, check order NW-4411 first"
    team.add_note(store, cid, "dana", secret)
    Handoff(store).reply(cid, "dana", "Hi, I'm Dana. Which order is it?")
    with pytest.raises(InputError, match="type the note first"):
        team.add_note(store, cid, "dana", "   ")
    with pytest.raises(InputError, match="at most 2,000"):
        team.add_note(store, cid, "dana", "x" * 2001)
    with pytest.raises(InputError, match="open a conversation"):
        team.add_note(store, None, "dana", "hello")

    # The operator's transcript shows it, marked internal, after the turns written before it.
    shown = team.transcript_with_notes(op.conversation(store, cid), store.notes(cid), transcript)
    assert "Internal note by Dana" in shown and "never sent to the customer" in shown and secret in shown
    assert shown.index(secret) < shown.index("Which order is it?")

    # Nothing a customer or an API client reads has it.
    assert all(secret not in t["text"] for t in store.history(cid, limit=1000))
    assert all(secret not in t["text"] for t in store.turns_after(cid, 0))
    page = client.get(f"/v1/conversations/{cid}/messages", headers=auth)
    assert page.status_code == 200 and "Which order is it?" in page.text and secret not in page.text
    session = ChatSession(a, "Hello!", conversation_id=cid)
    assert session.poll() and any("Which order is it?" in m.content for m in session.messages)
    assert all(secret not in m.content for m in session.messages)

    # Nor does a training export, though the conversation's answer is in it.
    op.rate(store, body["turn_id"], True, operator="dana")
    export_dataset(store, tmp_path / "ds", redactor=lambda text: (text, Counter()), eval_fraction=0.0)
    exported = "".join(p.read_text() for p in (tmp_path / "ds").iterdir())
    assert "How do returns work for shoes?" in exported and secret not in exported and "NW-4411" not in exported


def test_tags_filter_the_conversation_list(cfg, store):
    a = assistant(cfg, store)
    first = a.respond(None, "How do returns work for shoes?").conversation_id
    second = a.respond(None, "Where is my refund?").conversation_id
    assert team.add_tag(store, first, "dana", "  Refund Request ") == "refund-request"
    assert team.add_tag(store, first, "dana", "vip") == "vip"
    assert team.add_tag(store, second, "lee", "vip") == "vip"
    with pytest.raises(InputError, match="tagged vip already"):
        team.add_tag(store, first, "lee", "VIP")
    for bad in ("", "no!", "x" * 33, "-lead"):
        with pytest.raises(InputError):
            team.add_tag(store, first, "dana", bad)
    with pytest.raises(InputError, match="open a conversation"):
        team.add_tag(store, None, "dana", "vip")
    assert store.tags(first) == ["refund-request", "vip"]
    assert store.tag_counts() == [{"tag": "vip", "conversations": 2}, {"tag": "refund-request", "conversations": 1}]

    rows, total = op.conversations(store, tag="refund-request")
    assert total == 1 and [r["conversation"] for r in rows] == [first] and rows[0]["tags"] == "refund-request, vip"
    assert op.conversations(store, tag="vip")[1] == 2 and op.conversations(store, tag="any")[1] == 2
    assert op.conversations(store, tag="nothing-like-it")[1] == 0
    assert team.remove_tag(store, first, "vip") == "vip"
    with pytest.raises(InputError, match="has no tag vip"):
        team.remove_tag(store, first, "vip")
    assert [r["conversation"] for r in op.conversations(store, tag="vip")[0]] == [second]


def test_satisfaction_is_asked_once_after_an_operator_closed_it(cfg, store):
    a, cid = handed_over(cfg, store)
    h = Handoff(store)
    h.reply(cid, "dana", "Sorted: the refund is on its way.")
    assert not satisfaction_due(store, cid) and not record_satisfaction(store, cid, True)  # still open
    h.close(cid, "dana")
    assert satisfaction_due(store, cid)
    assert record_satisfaction(store, cid, False) is True
    assert record_satisfaction(store, cid, True) is False  # the first answer stands
    answer = store.satisfaction(cid)
    assert (answer["rating"], answer["operator"]) == (-1, "dana") and not satisfaction_due(store, cid)
    # Asked again later? No: the customer comes back, a person closes it again, the question stays answered.
    a.respond(cid, "Actually, I need a person again")
    h.take(cid, "lee")
    h.close(cid, "lee")
    assert not satisfaction_due(store, cid) and store.satisfaction(cid)["rating"] == -1

    # A queue item closed as abandoned (the customer left) is not asked.
    left = a.respond(None, "I want to talk to a human").conversation_id
    assert h.close_abandoned(1, now=datetime.now(timezone.utc) + timedelta(minutes=5)) == [left]
    assert not satisfaction_due(store, left) and not record_satisfaction(store, left, True)
    # Closed without anyone taking it (spam, solved elsewhere): no person answered, nothing is asked.
    queued = a.respond(None, "I want to talk to a real person please").conversation_id
    h.close(queued, "lee")
    assert not satisfaction_due(store, queued) and not record_satisfaction(store, queued, True)
    # Taken, handed back to the assistant, closed later by someone else: that stretch ended at the hand-back.
    back = a.respond(None, "Can I speak to an agent?").conversation_id
    h.take(back, "dana")
    h.hand_back(back, "dana")
    h.close(back, "lee")
    assert not satisfaction_due(store, back)
    with pytest.raises(Exception, match="1 \\(good\\) or -1"):
        store.add_satisfaction(queued, 5, "lee")

    # The question speaks the customer's language.
    store.add_turn(queued, "user", "Merci beaucoup pour votre aide", language="fr")
    assert conversation_language(store, queued) == "fr"
    store.add_turn(queued, "user", "Dank je wel", language="nl")  # no translation: English
    assert conversation_language(store, queued) == "en"
    # The page's own language, where the chat session keeps one, comes first.
    assert page_language(SimpleNamespace(language="de"), store, queued) == "de"
    assert page_language(SimpleNamespace(), store, queued) == "en"


def test_erasure_takes_notes_tags_and_answers_too(cfg, store):
    a, cid = handed_over(cfg, store)
    team.add_note(store, cid, "dana", "She wrote from kim@example.com before")
    team.add_tag(store, cid, "dana", "vip")
    Handoff(store).close(cid, "dana")
    record_satisfaction(store, cid, True)
    assert store.conversations_mentioning("KIM@example.com") == [cid]  # found through the note
    counts = store.erase_conversations([cid])
    assert (counts["notes"], counts["tags"], counts["satisfaction"], counts["conversations"]) == (1, 1, 1, 1)
    assert store.notes(cid) == [] and store.tags(cid) == [] and store.satisfaction(cid) is None


class Clock:
    """Stands in for the store's and the handoff's clocks: time moves only when the test says."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = T0 + timedelta(seconds=seconds)


T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock(monkeypatch, store):
    import assistant.store.store as store_module
    import assistant.turn.handoff as handoff_module

    c = Clock(T0)
    monkeypatch.setattr(store_module, "_now", c)
    monkeypatch.setattr(type(store), "_now", staticmethod(c))
    monkeypatch.setattr(handoff_module, "_now", c)
    return c


def test_first_response_resolution_and_per_operator_numbers(cfg, store, clock):
    h = Handoff(store)
    a = assistant(cfg, store)

    def queued(at: float, text: str) -> str:
        clock.at(at)
        cid = a.respond(None, "How do returns work?").conversation_id
        a.respond(cid, text)
        return cid

    one = queued(0, "I want to talk to a real person")  # dana: replies after 2 min, closes after 10 min, good
    two = queued(10, "Can I talk to a human please")  # lee: first reply after 6.5 min, closed after ~1 h, bad
    three = queued(20, "Let me talk to a person")  # nobody took it: abandoned
    four = queued(30, "Please connect me to a human agent")  # dana: 30 s, then handed back (not resolved)
    for at, action in (
        (60, lambda: h.take(one, "dana")),
        (120, lambda: h.reply(one, "dana", "Hi, I'm Dana.")),
        (45, lambda: h.take(four, "dana")),
        (60, lambda: h.reply(four, "dana", "Dana here.")),
        (100, lambda: h.hand_back(four, "dana")),
        (100, lambda: h.take(two, "lee")),
        (400, lambda: h.reply(two, "lee", "Lee here, checking.")),
        (500, lambda: h.reply(two, "lee", "Found it.")),
        (600, lambda: h.close(one, "dana")),
        (3700, lambda: h.close(two, "lee")),
    ):
        clock.at(at)
        action()
    clock.at(4000)
    assert h.close_abandoned(30) == [three]
    record_satisfaction(store, one, True)
    record_satisfaction(store, two, False)

    eps = team_stats.episodes(store, *team_stats.period(1, T0.date()))
    by_cid = {e.conversation_id: e for e in eps}
    assert [
        (by_cid[c].agent, by_cid[c].first_response_s, by_cid[c].resolution_s, by_cid[c].satisfaction)
        for c in (one, two, three, four)
    ] == [("dana", 120.0, 600.0, 1), ("lee", 390.0, 3690.0, -1), (None, None, None, None), ("dana", 30.0, None, None)]

    rows = {r["operator"]: r for r in team_stats.by_agent(eps)}
    assert list(rows) == ["dana", "lee", "everyone"]
    assert team_stats.agent_table([rows["dana"], rows["lee"], rows["everyone"]]) == [
        ["dana", 2, "1 minute", "10 minutes", "1 of 1 good (100%)"],  # median of 2 min and 30 s: 75 s
        ["lee", 1, "7 minutes", "1 hour 2 minutes", "0 of 1 good (0%)"],
        ["everyone", 4, "2 minutes", "36 minutes", "1 of 2 good (50%)"],
    ]
    assert rows["everyone"]["median_first_response_s"] == 120 and rows["everyone"]["median_resolution_s"] == 2145
    table = team_stats.conversation_table(eps)
    assert [r[0] for r in table] == [four, three, two, one]  # newest first
    assert table[1][1:] == ["nobody yet", "2026-03-02 09:00", "no reply yet", "not closed by a person", ""]
    assert table[3][3:] == ["2 minutes", "10 minutes", "good"]
    # The day before and after count none of them; a conversation's own line says its times.
    assert team_stats.episodes(store, *team_stats.period(1, date(2026, 3, 1))) == []
    assert team_stats.conversation_times(store, two) == (
        "queued 2026-03-02 09:00 UTC · first reply after 7 minutes · closed after 1 hour 2 minutes · "
        "customer said bad 👎"
    )

    # The daily report carries the team's numbers, in JSON and in words.
    from assistant.web.console import stats as console_stats

    report = console_stats.report(store, T0.date())
    team_rows = {r["operator"]: r for r in report["team"]["operators"]}
    assert team_rows["lee"]["median_first_response_s"] == 390 and team_rows["lee"]["satisfaction"] == "0 of 1 good (0%)"
    markdown = team_stats.report_markdown(report["team"])
    assert "| dana | 2 | 1 minute | 10 minutes | 1 of 1 good (100%) |" in markdown
    json.dumps(report, default=str)  # what `loopdesk report daily --json` prints


def test_a_new_request_after_a_close_is_a_new_stretch(cfg, store, clock):
    h = Handoff(store)
    a = assistant(cfg, store)
    cid = a.respond(None, "I want to talk to a real person").conversation_id
    clock.at(30)
    h.take(cid, "dana")
    clock.at(90)
    h.reply(cid, "dana", "Hello from Dana")
    clock.at(300)
    h.close(cid, "dana")
    clock.at(400)
    record_satisfaction(store, cid, True)
    clock.at(1000)
    a.respond(cid, "Sorry, one more thing: can I talk to a person?")
    clock.at(1600)
    h.take(cid, "lee")  # taken, never answered: no first response for lee
    eps = team_stats.episodes(store, *team_stats.period(1, T0.date()))
    assert [(e.agent, e.first_response_s, e.resolution_s, e.satisfaction) for e in eps] == [
        ("dana", 90.0, 300.0, 1),
        ("lee", None, None, None),
    ]
    assert team_stats.conversation_times(store, cid) == (
        "queued 2026-03-02 09:16 UTC · no reply from a person yet · customer said good 👍 after an earlier close"
    )


def test_durations_and_satisfaction_in_words():
    words = team_stats.duration_words
    assert [words(s) for s in (None, 0.2, 1, 44.6, 60, 89, 91, 3599, 3600, 3660, 5400, 86400, 90000, 200000)] == [
        "—",
        "under a second",
        "1 second",
        "45 seconds",
        "1 minute",
        "1 minute",
        "2 minutes",
        "1 hour",
        "1 hour",
        "1 hour 1 minute",
        "1 hour 30 minutes",
        "1 day",
        "1 day 1 hour",
        "2 days 8 hours",
    ]
    assert team_stats.satisfaction_words(0, 0) == "no answers yet"
    assert team_stats.satisfaction_words(2, 3) == "2 of 3 good (67%)"


def test_the_daily_report_command_prints_the_team(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from assistant.cli.main import app
    from assistant.store.store import Store

    for k in [k for k in __import__("os").environ if k.startswith("LOOPDESK_")]:
        monkeypatch.delenv(k)
    url = f"sqlite:///{tmp_path / 'report.db'}"
    store = Store(url)
    cid = store.new_conversation()
    h = Handoff(store)
    h.request(cid, "human_requested")
    h.take(cid, "dana")
    h.reply(cid, "dana", "Hello!")
    h.close(cid, "dana")
    record_satisfaction(store, cid, True)
    out = CliRunner().invoke(app, ["--set", f"store.url={url}", "report", "daily"])
    assert out.exit_code == 0, out.output
    assert "Team on " in out.output and "| dana | 1 | " in out.output and "1 of 1 good (100%)" in out.output
    data = CliRunner().invoke(app, ["--set", f"store.url={url}", "report", "daily", "--json"])
    parsed = json.loads(data.output[data.output.index("{") :])
    assert [r["operator"] for r in parsed["team"]["operators"]] == ["dana", "everyone"]
    assert parsed["team"]["operators"][0]["answers"] == 1
