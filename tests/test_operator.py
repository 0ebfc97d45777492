"""Operator console logic without a browser: replies and conversations paged and filtered in SQL,
ratings, corrections, labels, accounts, and per-day numbers that count turns."""

import time

import pytest

from assistant.web.console import operator as op
from assistant.errors import InputError
from assistant.turn.pipeline import Assistant
from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment

BOTH_DATABASES = True  # each test with the `store` fixture runs on SQLite and on PostgreSQL


def seeded(cfg, store):
    a = Assistant(cfg, FakeGenerator(["Returns are free [1]."]), store, FakeRetriever(), FakeSentiment())
    r1 = a.respond(None, "How do returns work for shoes?")
    r2 = a.respond(None, "This is terrible, where is my refund?")
    r3 = a.respond(None, "I want to talk to a human")
    return a, r1, r2, r3


def rows(result):
    return [r["turn_id"] for r in result[0]]


def test_reply_filters_paging_and_actions(cfg, store):
    _, r1, r2, r3 = seeded(cfg, store)
    found, total = op.replies(store)
    assert total == 3 and rows((found, total)) == [r3.turn_id, r2.turn_id, r1.turn_id]  # newest first
    assert found[1]["customer"] == "This is terrible, where is my refund?"
    op.rate(store, r1.turn_id, True, operator="dana")
    op.rate(store, r2.turn_id, True)
    op.rate(store, r2.turn_id, False, "Refunds reach your card 3-5 business days after approval.")
    assert rows(op.replies(store, rating="good")) == [r1.turn_id]  # the latest rating counts
    bad = op.replies(store, rating="bad")[0]
    assert bad[0]["turn_id"] == r2.turn_id and bad[0]["correction"].startswith("Refunds reach")
    assert rows(op.replies(store, rating="none")) == [r3.turn_id]
    assert rows(op.replies(store, sentiment="negative")) == [r2.turn_id]
    assert rows(op.replies(store, escalated="yes")) == [r3.turn_id]
    assert rows(op.replies(store, text="WORK FOR SHOES")) == [r1.turn_id]
    assert rows(op.replies(store, text="100%_")) == []  # LIKE wildcards are matched literally
    assert op.replies(store, adapter="v9")[1] == 0 and op.replies(store, adapter="none")[1] == 3
    page2 = op.replies(store, page=2, per_page=2)
    assert rows(page2) == [r1.turn_id] and page2[1] == 3
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert op.replies(store, since=today, until=today)[1] == 3 and op.replies(store, until="2000-01-01")[1] == 0
    assert op.replies(store, since=time.time())[1] == 3  # epoch seconds, as Gradio's date picker sends
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        op.replies(store, since="yesterday")
    with pytest.raises(InputError, match="before"):
        op.replies(store, since=today, until="2000-01-01")
    with pytest.raises(InputError, match="not an assistant reply"):
        op.rate(store, r1.turn_id - 1, True)
    assert store.feedback_for(r1.turn_id)[-1]["actor"] == "dana"


def test_conversations_sorted_by_last_activity(cfg, store):
    a, r1, r2, r3 = seeded(cfg, store)
    a.respond(r1.conversation_id, "And for sandals?")  # the oldest conversation becomes the newest
    convs, total = op.conversations(store)
    assert total == 3 and [c["conversation"] for c in convs] == [r1.conversation_id, r3.conversation_id,
                                                                  r2.conversation_id]
    assert convs[0]["turns"] == 4 and convs[0]["last customer message"] == "And for sandals?"
    assert convs[1]["state"] == "queued" and convs[1]["escalations"] == 1
    assert [c["conversation"] for c in op.conversations(store, text="refund")[0]] == [r2.conversation_id]
    assert op.conversations(store, state="queued")[1] == 1
    assert len(op.conversations(store, page=2, per_page=2)[0]) == 1
    turns = op.conversation(store, r2.conversation_id)
    assert [t["role"] for t in turns] == ["user", "assistant"]
    assert turns[0]["sentiment"] == "negative" and turns[0]["language"] == "en"
    assert turns[1]["sources"][0]["source"] and turns[1]["latency_ms"] > 0 and turns[1]["grounding"]


def test_labels_attach_to_the_customer_turn(cfg, store):
    _, r1, _, _ = seeded(cfg, store)
    user_turn = op.save_label(store, r1.turn_id, "sentiment", "positive")
    assert store.turn(user_turn)["role"] == "user"
    op.save_label(store, r1.turn_id, "sentiment", "neutral", operator="sam")
    op.save_label(store, user_turn, "ner", '[{"type": "MISC", "text": "shoes"}]')
    labels = store.labels_for("sentiment")
    assert len(labels) == 1 and labels[0]["value"] == "neutral"  # the latest label wins
    assert labels[0]["actor"] == "sam"
    assert store.labels_for("ner")[0]["value"][0]["text"] == "shoes"
    with pytest.raises(InputError, match="not valid JSON"):
        op.save_label(store, r1.turn_id, "ner", '[{"type": ')
    with pytest.raises(InputError, match="a list like"):
        op.save_label(store, r1.turn_id, "ner", '{"type": "ORG"}')
    with pytest.raises(InputError, match="choose a sentiment"):
        op.save_label(store, r1.turn_id, "sentiment", "angry")


def test_accounts_hash_sign_in_and_throttle(store, monkeypatch):
    from assistant.store import accounts

    monkeypatch.setattr(accounts, "FAIL_DELAY_S", 0.0)
    password = accounts.create_operator(store, "Dana")
    stored = store.operator_account("dana")["password_hash"]
    assert password not in stored and stored.startswith("scrypt$") and accounts.verify_password(password, stored)
    with pytest.raises(InputError, match="exists already"):
        accounts.create_operator(store, "dana", "another-password")
    with pytest.raises(InputError, match="lowercase"):
        accounts.create_operator(store, "Dana Smith", "long-enough")
    acc = accounts.Accounts(store)
    session = acc.sign_in("DANA", password)
    assert acc.operator(session.token) == "dana"
    with pytest.raises(InputError, match="sign in"):
        acc.operator("forged")
    for _ in range(accounts.MAX_FAILURES):
        with pytest.raises(InputError, match="wrong name or password"):
            acc.sign_in("dana", "guess")
    with pytest.raises(InputError, match="too many"):
        acc.sign_in("dana", password)  # locked even with the right password
    acc.sign_out(session.token)
    with pytest.raises(InputError):
        acc.operator(session.token)
    # One client guessing across names is locked out too.
    accounts.create_operator(store, "sam", "sam-password")
    other = accounts.Accounts(store)
    for name in ("a", "b", "c", "d", "e"):
        with pytest.raises(InputError, match="wrong name or password"):
            other.sign_in(name, "guess", client="10.0.0.9")
    with pytest.raises(InputError, match="too many"):
        other.sign_in("sam", "sam-password", client="10.0.0.9")
    assert other.operator(other.sign_in("sam", "sam-password", client="10.0.0.7").token) == "sam"


def test_daily_stats_count_turns_not_events(cfg, store):
    from assistant.web.console import stats as console_stats

    _, r1, r2, r3 = seeded(cfg, store)
    for _ in range(3):
        op.rate(store, r2.turn_id, False)  # rated bad three times: one bad turn
    op.rate(store, r1.turn_id, True)
    today = console_stats.daily(store, days=3)[-1]
    assert today["replies"] == 3 and today["down"] == 1 and today["up"] == 1
    assert today["down_share"] == round(1 / 3, 4) and today["escalation_rate"] == round(1 / 3, 4)
    assert today["negative_share"] == round(1 / 3, 4) and today["p50_latency_ms"] > 0
    rows = [{"negative_share": 0.1, "escalation_rate": 0.05, "customer_turns": 40, "replies": 40}] * 7
    assert console_stats.alerts(rows + [{"negative_share": 0.4, "escalation_rate": 0.06, "customer_turns": 30,
                                         "replies": 30}]) == [
        "Today's negative-sentiment share is 40% (30 turns), against 10% on average over the 7 days before."]
    assert console_stats.alerts(rows + [{"negative_share": 0.9, "escalation_rate": 0.9, "customer_turns": 3,
                                         "replies": 3}]) == []  # too few turns to call it
    empty = [{"negative_share": None, "escalation_rate": None, "customer_turns": 0, "replies": 0}] * 7
    first_day = {"negative_share": 0.5, "escalation_rate": 0.64, "customer_turns": 11, "replies": 11}
    assert console_stats.alerts(empty + [first_day]) == []  # no baseline, no alert
    assert console_stats.alerts(empty[:5] + rows[:2] + [first_day]) == []  # two days are no baseline yet
    report = console_stats.report(store)
    assert report["today"]["replies"] == 3 and len(report["previous_7_days"]) == 7
    assert console_stats.report_csv([today]).splitlines()[1].startswith(today["day"] + ",3,3,1,1")
    assert today["satisfaction_answers"] == 0 and today["satisfied_share"] is None
    # "How did we do?" answers count on the day they were given: 2 of 3 satisfied today.
    for rating in (1, 1, -1):
        store.add_satisfaction(store.new_conversation("chat"), rating, "dana")
    today = console_stats.daily(store, days=3)[-1]
    assert today["satisfaction_answers"] == 3 and today["satisfied_share"] == round(2 / 3, 4)
    assert console_stats.report(store)["today"]["satisfied_share"] == round(2 / 3, 4)
    assert "| 67% |" in console_stats.report_markdown([today]) and console_stats.shown("up_share", 0.3333) == "33%"
    # Every panel of the chart spans all the days, those without a rating or a latency too.
    from assistant.web.console.page import chart

    fig = chart(console_stats.daily(store, days=14))
    assert [len(ax.get_xticklabels()) for ax in fig.axes] == [14] * 4
    assert all(ax.get_xlim()[0] < 0 and ax.get_xlim()[1] > 13 for ax in fig.axes)  # not only the last day


def test_operator_labels_become_tagger_examples(cfg, store):
    from finetune.store_labels import entity_tags, ner_examples, sentiment_examples

    _, r1, r2, _ = seeded(cfg, store)
    u1, u2 = op.customer_turn_of(store, r1.turn_id), op.customer_turn_of(store, r2.turn_id)
    store.add_label(u1, "sentiment", "neutral")
    store.add_label(u2, "ner", [{"type": "MISC", "text": "refund"}, {"type": "ORG", "text": "Nowhere Inc"}])
    assert sentiment_examples(store) == [("How do returns work for shoes?", 1)]
    examples, problems = ner_examples(store)
    words, tags = examples[0]
    assert dict(zip(words, tags))["refund"] == "B-MISC" and tags.count("O") == len(tags) - 1
    assert problems == [f"turn {u2}: span 'Nowhere Inc' not found in the message"]
    words, tags, _ = entity_tags("Call Acme Corp, please.", [{"type": "ORG", "text": "Acme Corp"}])
    assert list(zip(words, tags))[:4] == [("Call", "O"), ("Acme", "B-ORG"), ("Corp", "I-ORG"), (",", "O")]


def test_console_banner_names_what_is_degraded(cfg, store, tmp_path):
    from assistant.serving.live_adapter import LiveAdapterWatcher, write_live
    from assistant.web.console.page import health_problems

    class Gen(FakeGenerator):
        adapter_id = "v1"

        def set_adapter(self, path, adapter_id=None):
            self.adapter_id = adapter_id

    gen = Gen()
    watcher = LiveAdapterWatcher(tmp_path, gen)
    write_live(tmp_path, "v1", [])
    a = Assistant(cfg, gen, store, None, FakeSentiment(), object(), retriever_problem="no index at /x",
                  adapter_watcher=watcher)
    watcher.refresh()
    assert health_problems(a) == ["No knowledge base, every question is declined: no index at /x"]
    (tmp_path / "live.json").write_text("{truncated")
    watcher.refresh()
    assert any(p.startswith("Live adapter:") and "still serving v1" in p for p in health_problems(a))
    # A broken relevance model is an alert with its cause, not a silent change in what gets declined.
    from assistant.grounding.relevance import Relevance

    (tmp_path / "relevance.json").write_text("{not json")
    a.relevance = Relevance.load(tmp_path / "relevance.json")
    assert any(p.startswith("Relevance model:") and "unreadable" in p for p in health_problems(a))
    # So is a promoted relevance model the app could not load (assistant/grounding/live_relevance.py).
    from assistant.grounding.live_relevance import RelevanceWatcher
    from finetune.relevance_round import promote

    promote(store, tmp_path / "relevance.json", "dana", {})
    a.relevance_watcher = RelevanceWatcher(store, a.relevance, check_s=0)
    a.relevance_watcher.start()
    assert any("relevance model " + tmp_path.name + " not loaded" in p for p in health_problems(a))


def test_daily_numbers_are_counted_in_sql_per_utc_day(store):
    """Medians of even and odd counts as statistics.median has them; days split at UTC midnight."""
    import statistics
    from datetime import date, datetime, timezone

    from assistant.web.console import stats as console_stats
    from assistant.store.schema import turns

    cid = store.new_conversation("chat")
    stamp = [datetime(2026, 3, 1, 23, 59, 59, tzinfo=timezone.utc), datetime(2026, 3, 2, 0, 0, 1, tzinfo=timezone.utc)]
    day1, day2 = [120.0, 80.0, 100.0, 400.0], [50.0, 70.0, 90.0]
    def row(role, at, latency=None, escalation=None, sentiment=None):
        return {"conversation_id": cid, "role": role, "text": "x", "created_at": at, "latency_ms": latency,
                "escalation": escalation, "sentiment": sentiment}

    rows = [row("assistant", stamp[0], v) for v in day1]
    rows += [row("assistant", stamp[1], v, "human_requested" if v == 50.0 else None) for v in day2]
    rows += [row("user", stamp[1], sentiment=s) for s in ("negative", "neutral")]
    with store.engine.begin() as c:
        c.execute(turns.insert(), rows)
    got = console_stats.daily(store, days=2, today=date(2026, 3, 2))
    assert [r["day"] for r in got] == ["2026-03-01", "2026-03-02"]
    assert got[0]["replies"] == 4 and got[0]["p50_latency_ms"] == statistics.median(day1) == 110.0
    assert got[1]["replies"] == 3 and got[1]["p50_latency_ms"] == statistics.median(day2) == 70.0
    assert got[1]["escalation_rate"] == round(1 / 3, 4) and got[1]["negative_share"] == 0.5
    assert got[0]["customer_turns"] == 0 and got[0]["negative_share"] is None


def test_the_numbers_table_has_a_header_in_words_for_every_field():
    from assistant.web.console import stats as console_stats

    assert len(console_stats.HEADERS) == len(console_stats.FIELDS)
    assert not [h for h in console_stats.HEADERS if "_" in h]  # no field names shown to people
