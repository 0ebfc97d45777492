"""The learning loop's round for the relevance model (`finetune/relevance_round.py`): labels from the
store's operator feedback, the re-chosen threshold, the gate, promotion, rollback, and the app's watcher
that swaps a promoted model in without a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from assistant.errors import InputError
from assistant.grounding.live_relevance import RelevanceWatcher
from assistant.grounding.relevance import Relevance
from assistant.web.console import operator as op
from finetune import relevance_round as rr

ROOT = Path(__file__).resolve().parent.parent


def relevance_file(folder: Path, threshold: float = 0.5) -> Path:
    """The shipped relevance model without its unit encoder (no MiniLM to load in a unit test)."""
    data = json.loads((ROOT / "models" / "relevance" / "relevance.json").read_text())
    data["unit_encoder"], data["reranker"] = "", ""
    data["answerable"]["threshold"] = threshold
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "relevance.json").write_text(json.dumps(data))
    return folder / "relevance.json"


def exchange(store, question: str, reply: str, declined: bool = False, before: list[str] = ()) -> int:
    """A conversation ending in `question` and `reply`; returns the reply's turn id."""
    cid = store.new_conversation("web")
    for text in before:
        store.add_turn(cid, "user", text)
        store.add_turn(cid, "assistant", "ok")
    store.add_turn(cid, "user", question)
    return store.add_turn(cid, "assistant", reply, escalation="not_covered" if declined else None)


def test_a_unit_holds_the_answer_when_it_says_what_the_correction_says():
    answer = "Express delivery costs $12.99 and arrives in 1-2 business days."
    assert rr.holds_answer("Shipping > Express: Express: 1-2 business days, $12.99.", answer)
    assert rr.holds_answer("Shipping: Express delivery costs $12.99 and takes 1-2 business days.", answer)
    assert not rr.holds_answer("Returns: You can return items within 30 days of delivery.", answer)
    assert not rr.holds_answer("Shipping: Standard delivery is free over $50.", answer)
    assert not rr.holds_answer("Shipping: anything", "")


def test_feedback_becomes_labelled_questions(store):
    good = exchange(store, "how much is express shipping?", "Express costs $12.99 [1]")
    fixed = exchange(store, "do you ship to canada", "We ship worldwide.")
    declined_right = exchange(store, "do you sell cars?", "Sorry, I can't find that.", declined=True)
    relabelled = exchange(store, "price match?", "We refund price drops.")
    follow_up = exchange(store, "and how long does it take?", "3-5 days", before=["do you ship to Canada?"])
    customer_only = exchange(store, "where is my parcel", "Track it on the orders page.")
    op.rate(store, good, True, operator="dana")
    op.rate(store, fixed, False, "Canada: 7-14 business days, $19.99.", operator="dana")
    op.rate(store, declined_right, True, operator="dana")
    op.rate(store, relabelled, False, "We match prices of big stores.", operator="dana")
    op.save_label(store, relabelled, "covered", "not in the pages", "dana")  # the later label wins
    op.rate(store, follow_up, True, operator="dana")
    store.add_feedback(customer_only, -1, source="customer")  # a customer's thumb says nothing of coverage
    cid = store.new_conversation("web")
    store.add_turn(cid, "user", "I want a person")
    handoff = store.add_turn(cid, "assistant", "Connecting you with the team.", escalation="human_requested")
    op.rate(store, handoff, True, operator="dana")  # a good handoff says nothing of the pages either

    got = {e.question: e for e in rr.feedback_examples(store)}
    assert set(got) == {
        "how much is express shipping?",
        "do you ship to canada",
        "do you sell cars?",
        "price match?",
        "and how long does it take?",
    }
    assert got["how much is express shipping?"].covered and got["how much is express shipping?"].answer.startswith(
        "Express costs"
    )
    assert got["do you ship to canada"].answer == "Canada: 7-14 business days, $19.99."
    assert got["do you ship to canada"].why == "correction"
    assert not got["do you sell cars?"].covered and got["do you sell cars?"].why == "good decline"
    assert not got["price match?"].covered and got["price match?"].answer == ""
    assert got["and how long does it take?"].history == [{"role": "user", "text": "do you ship to Canada?"}]


def test_a_question_is_judged_by_what_its_label_says():
    unit = SimpleNamespace(text="Express: $12.99, 1-2 business days.")
    found = SimpleNamespace(
        answerable=True, picked=[(unit, 0.9)], evidence=[(unit, 0.9)], unit_texts=["Shipping: " + unit.text]
    )
    assert rr.feedback_outcome(found, rr.Example(1, "q", answer="Express costs $12.99 and takes 1-2 business days."))
    assert not rr.feedback_outcome(found, rr.Example(1, "q", answer="Returns are free within 30 days of delivery."))
    assert rr.feedback_outcome(found, rr.Example(1, "q", covered=True))  # "in the pages", no answer given
    assert not rr.feedback_outcome(found, rr.Example(1, "q", covered=False))
    declined = SimpleNamespace(answerable=False, picked=[], evidence=[], unit_texts=[])
    assert rr.feedback_outcome(declined, rr.Example(1, "q", covered=False))


def test_a_coverage_label_needs_a_clear_value(store):
    turn = exchange(store, "do you sell cars?", "Sorry.")
    with pytest.raises(InputError, match="in the pages"):
        op.save_label(store, turn, "covered", "maybe", "dana")
    assert op.save_label(store, turn, "covered", "in the pages", "dana") == turn - 1
    assert store.labels_for("covered")[0]["value"] is True


def test_threshold_is_chosen_on_the_labels_and_kept_with_too_few():
    probs = [(0.3, True)] * 6 + [(0.1, False)] * 4
    t, how = rr.choose_threshold(probs, 0.5)
    assert 0.1 < t <= 0.3 and how["cost_after"] == 0 < how["cost_before"]
    t, how = rr.choose_threshold([(0.3, True)] * 6 + [(0.1, False)] * 2, 0.5)
    assert t == 0.5 and "too few" in how["why"]


class Judge:
    """Step 4 stand-in: a question's P(answerable) is fixed; whether it answers follows the threshold
    of whichever relevance model the assistant holds (what the round swaps)."""

    def __init__(self, store, relevance, p: dict[str, float], unit: dict[str, str]):
        self.store, self.relevance, self.p, self.unit = store, relevance, p, unit

    def find(self, text, history, tags):
        p = self.p[text]
        unit = SimpleNamespace(text=self.unit.get(text, "Policies: nothing relevant here."))
        pair = (unit, 0.9)
        return SimpleNamespace(
            query=text,
            answer_p=p,
            answerable=p >= self.relevance.answerable.threshold,
            picked=[pair],
            evidence=[pair],
            unit_texts=[f"Page: {unit.text}"],
        )


def day_of_feedback(store, n: int, flip: bool = False) -> tuple[dict, dict]:
    """n covered questions the live model declines (P 0.3 under its 0.5) and n/2 uncovered ones (P 0.1),
    reviewed by an operator (`flip`: one who labels them all the wrong way round)."""
    p, unit = {}, {}
    for i in range(n):
        q = f"covered question {i}"
        answer = f"Item {i} costs ${i}.99 and ships within {i + 2} business days."
        p[q], unit[q] = 0.3, answer
        turn = exchange(store, q, "Sorry, I couldn't find that.", declined=True)
        if flip:
            op.save_label(store, turn, "covered", "not in the pages", "sim")
        else:
            op.rate(store, turn, False, answer, operator="sim")
    for i in range(n // 2):
        q = f"uncovered question {i}"
        p[q] = 0.1
        turn = exchange(store, q, "Sorry, I couldn't find that.", declined=True)
        op.save_label(store, turn, "covered", "in the pages" if flip else "not in the pages", "sim")
    return p, unit


HELD = [
    {"id": f"h{i}", "question": f"held covered {i}", "kind": "fact", "facts": [[f"code {i}"]]} for i in range(6)
] + [{"id": f"u{i}", "question": f"held uncovered {i}", "kind": "unanswerable"} for i in range(4)]


def held_judging(p: dict, unit: dict, covered_p: float, uncovered_p: float) -> None:
    for q in HELD:
        p[q["question"]] = covered_p if q["kind"] == "fact" else uncovered_p
        if q["kind"] == "fact":
            unit[q["question"]] = f"The answer is {q['facts'][0][0]}."


def test_a_round_that_stops_false_declines_is_promoted_and_served(store, tmp_path):
    live_file = relevance_file(tmp_path / "live", threshold=0.5)
    p, unit = day_of_feedback(store, 30)
    held_judging(p, unit, covered_p=0.3, uncovered_p=0.1)  # held: the same false declines
    judge = Judge(store, Relevance.load(live_file), p, unit)

    result = rr.run_round(None, judge, live_file, tmp_path / "round-1", HELD)

    assert 0.1 < result["threshold"]["candidate"] <= 0.3
    assert result["gate"]["reach"]["n"] == 45  # every reviewed question, each judged by a model without it
    assert result["gate"]["reach"]["wins"] > 0 and result["gate"]["reach"]["losses"] == 0
    assert result["gate"]["held"]["losses"] == 0 and result["better"], result["gate"]["why"]
    assert judge.relevance.answerable.threshold == 0.5  # the round leaves the live model in place
    assert result["right"]["reach"]["candidate"] > result["right"]["reach"]["live"]
    from assistant.web.console.learning_tab import run_rows
    from finetune.tracking import list_runs

    cfg = SimpleNamespace(paths=SimpleNamespace(runs=str(tmp_path / "runs")), home=tmp_path)
    rr.track(cfg, {**result, "promoted": True}, "dana")
    row = run_rows(list_runs(tmp_path / "runs"))[0]
    assert row[1] == "dana" and "Answer-relevance round on 45 reviewed questions" in row[2] and "promoted" in row[2]
    assert row[3] == "100% vs 33%" and row[4].startswith(f"{result['gate']['wins']} better")
    record = rr.promote(store, Path(result["candidate"]), "dana", result["gate"])
    assert rr.live_record(store)["version"] == "round-1" and record["by"] == "dana"

    served = SimpleNamespace(relevance=Relevance.load(live_file))
    watcher = RelevanceWatcher(store, served.relevance, check_s=0)
    watcher.refresh(served)  # sees the record, loads off the turn's thread
    deadline = time.monotonic() + 10
    while watcher.version != "round-1" and time.monotonic() < deadline:
        time.sleep(0.05)
        watcher.refresh(served)
    assert watcher.version == "round-1"
    assert served.relevance.answerable.threshold == result["threshold"]["candidate"]


def test_a_careless_round_is_refused(store, tmp_path):
    live_file = relevance_file(tmp_path / "live", threshold=0.2)
    p, unit = day_of_feedback(store, 30, flip=True)  # covered ones labelled uncovered and back
    held_judging(p, unit, covered_p=0.3, uncovered_p=0.1)
    judge = Judge(store, Relevance.load(live_file), p, unit)

    result = rr.run_round(None, judge, live_file, tmp_path / "round-1", HELD)

    assert result["threshold"]["candidate"] <= 0.1  # it learnt to answer what the pages do not cover
    assert result["gate"]["held"]["losses"] > 0 and not result["better"]


def test_too_little_feedback_is_refused_with_the_reason(store, tmp_path):
    live_file = relevance_file(tmp_path / "live")
    judge = Judge(store, Relevance.load(live_file), {}, {})
    with pytest.raises(InputError, match="too little feedback"):
        rr.run_round(None, judge, live_file, tmp_path / "r", HELD)


def test_rollback_walks_back_to_the_configured_model(store, tmp_path):
    a = relevance_file(tmp_path / "round-a")
    b = relevance_file(tmp_path / "round-b")
    rr.promote(store, a, "dana", {})
    rr.promote(store, b, "dana", {})
    assert rr.rollback(store, "lee")["version"] == "round-a"
    back = rr.rollback(store, "lee")
    assert back["version"] is None and back["path"] is None
    with pytest.raises(InputError, match="no promoted relevance model"):
        rr.rollback(store, "lee")
    rr.promote(store, b, "dana", {})  # after a rollback to the configured one, promotion works again
    assert rr.live_record(store)["version"] == "round-b"


def test_a_promotion_that_lost_the_race_says_so(store, tmp_path, monkeypatch):
    monkeypatch.setattr(store, "deploy_if", lambda *a, **k: False)
    with pytest.raises(InputError, match="meanwhile"):
        rr.promote(store, relevance_file(tmp_path / "round-a"), "dana", {})


def test_a_promoted_model_that_does_not_load_keeps_the_one_serving(store, tmp_path):
    configured = Relevance.load(relevance_file(tmp_path / "live"))
    broken = tmp_path / "round-x" / "relevance.json"
    broken.parent.mkdir()
    broken.write_text("{not json")
    rr.promote(store, broken, "dana", {})
    served = SimpleNamespace(relevance=configured)
    watcher = RelevanceWatcher(store, configured, check_s=0)
    watcher.refresh(served)
    deadline = time.monotonic() + 10
    while (watcher.last_error is None or watcher._loading is not None) and time.monotonic() < deadline:
        time.sleep(0.05)  # the loader thread sets the error, then clears `_loading`
    assert "round-x not loaded" in watcher.last_error and "unreadable" in watcher.last_error
    watcher.refresh(served)
    assert served.relevance is configured and watcher._loading is None  # and it is not retried
    # At start (a new replica), the same record serves the configured model and says why.
    fresh = RelevanceWatcher(store, configured)
    assert fresh.start() is configured and "round-x not loaded" in fresh.last_error


def test_the_cli_shows_promotes_nothing_without_feedback_and_rolls_back(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from assistant.cli.main import app
    from assistant.store.store import Store

    for k in [k for k in __import__("os").environ if k.startswith("LOOPDESK_")]:
        monkeypatch.delenv(k)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["--set", f"store.url={url}"]
    run = CliRunner().invoke
    live = json.loads(run(app, [*args, "finetune", "relevance-live", "--json"]).output)
    assert live["version"] is None and live["configured"].endswith("relevance.json")
    rr.promote(Store(url), relevance_file(tmp_path / "round-a"), "dana", {"why": "test"})
    live = json.loads(run(app, [*args, "finetune", "relevance-live", "--json"]).output)
    assert live["version"] == "round-a" and live["by"] == "dana"
    back = run(app, [*args, "finetune", "relevance-rollback", "--by", "lee", "--json"])
    assert back.exit_code == 0 and json.loads(back.output)["version"] is None
    again = run(app, [*args, "finetune", "relevance-rollback", "--json"])
    assert again.exit_code == 2 and "no promoted relevance model" in again.output


def test_the_encoder_learns_the_feedback_with_replayed_rows(tmp_path):
    shipped = ROOT / "models" / "relevance" / "relevance.json"
    live = Relevance.load(shipped)
    assert live.unit_encoder_dir is not None and not live.problem
    teach, seen = [], {}
    for i in range(6):
        answer = f"Item {i} costs ${i}.99 and ships within {i + 2} business days."
        teach.append(rr.Example(i, f"question {i}", answer=answer))
        units = [f"Prices: {answer}", "Returns: Returns are free within 30 days of delivery."]
        seen[i] = SimpleNamespace(answer_p=0.6, query=f"question {i}", unit_texts=units)
    got = {}

    def train(rows, out, cfg, start_from):
        got.update(rows=rows, start_from=start_from)
        return {"pairs": len(rows), "seconds": 1.0}

    path, info = rr.build_candidate(None, live, shipped, teach, seen, tmp_path / "round", train, lambda m: None)
    mine = [r for r in got["rows"] if r["kb"] == "feedback"]
    replayed = [r for r in got["rows"] if r["kb"] != "feedback"]
    assert len(mine) == 6 and all(r["unit_labels"] == [True, False] for r in mine)
    assert len(replayed) == rr.REPLAY_PER_ROW * 6 and info["unit_encoder"]["replayed"] == 18
    assert {r["kb"] for r in replayed} <= {"northwind", "harbor_bank", "abcd", "parcelwise"}
    assert got["start_from"] == live.unit_encoder_dir
    data = json.loads(path.read_text())
    assert data["unit_encoder"] == "unit-encoder"
    assert Path(data["replay"]) == (ROOT / "models" / "relevance" / "replay.jsonl").resolve()  # the next round's


def test_the_cli_refuses_a_round_over_a_live_model_that_does_not_load(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from assistant.cli.main import app

    for k in [k for k in __import__("os").environ if k.startswith("LOOPDESK_")]:
        monkeypatch.delenv(k)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    args = ["--set", f"store.url=sqlite:///{tmp_path / 'cli.db'}", "--set", f"retrieval.relevance_model={broken}"]
    out = CliRunner().invoke(app, [*args, "finetune", "relevance-round", "--json"])
    assert out.exit_code == 2 and "does not load" in out.output and "roll back" in out.output, out.output
