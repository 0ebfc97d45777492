"""Promotion an operator can trust: an evaluation counts only against the adapter live now, the
gate needs a measurable difference on the same questions, an override needs a reason and is kept in
the history, and of two promotions at once exactly one changes the live adapter (every replica's
database record, by compare-and-set)."""

from __future__ import annotations

import json
import threading

import pytest

from assistant.errors import AdapterError
from finetune import registry as reg
from finetune.gate import mcnemar_one_sided, paired_comparison, round_verdict
from finetune.registry import SharedLive, promote, provenance

BOTH_DATABASES = True
BASE = "fake/base-model"


@pytest.fixture
def adapters(tmp_path, monkeypatch):
    """A registry of generator adapters whose files pass as sound (the weights check is tested elsewhere)."""
    monkeypatch.setattr(reg, "check_adapter_dir", lambda path, base: None)
    root = tmp_path / "adapters"
    for name in ("X", "A", "B"):
        (root / name).mkdir(parents=True)
        (root / name / "adapter.json").write_text(json.dumps({"kind": "generator", "base_model": BASE}))
        (root / name / "adapter_model.safetensors").write_bytes(f"weights of {name}".encode())
    return root


def outcomes(right: int, n: int = 24, offset: int = 0) -> dict[str, bool]:
    return {f"q{i}": offset <= i < offset + right for i in range(n)}


def evaluated(root, version: str, against: str | None, candidate: dict, live: dict, qhash="qs1") -> None:
    """What `loopdesk finetune eval` writes: the comparison with the adapter live then, and its provenance."""
    ev = {
        "answer_gate": paired_comparison(candidate, live),
        "compared_with": provenance(root / against if against else None, "data1", qhash),
    }
    (root / version / "eval.json").write_text(json.dumps(ev))


def test_the_gate_needs_a_measurable_difference():
    tie = paired_comparison(outcomes(20), outcomes(20))
    assert tie["ties"] == 24 and tie["wins"] == tie["losses"] == 0 and not tie["better"] and tie["p_value"] == 1.0
    clear = paired_comparison(outcomes(22), outcomes(12))  # 10 more right, none lost
    assert clear["wins"] == 10 and clear["losses"] == 0 and clear["better"] and clear["p_value"] < 0.01
    assert clear["interval_95"][0] > 0
    slight = paired_comparison(outcomes(13), outcomes(12))  # one question apart: not evidence
    assert not slight["better"] and slight["interval_95"][0] <= 0 <= slight["interval_95"][1]
    assert mcnemar_one_sided(5, 0) == pytest.approx(1 / 32) and mcnemar_one_sided(0, 0) == 1.0


def test_a_round_that_breaks_unrelated_questions_is_refused_though_it_learnt_what_it_was_taught():
    taught = (outcomes(12, 12), outcomes(2, 12))  # its corrections reach 10 new wordings of the traffic
    broke = (outcomes(6, 16), outcomes(9, 16))  # and its new threshold declines 3 unrelated covered questions
    v = round_verdict(taught, broke)
    assert v["reach"]["wins"] == 10 and v["reach"]["p_value"] < 0.01 and v["wins"] == 10 and v["losses"] == 3
    assert not v["better"] and v["held"]["losses"] == 3 and v["why"].startswith("held questions worse")
    kept = round_verdict(taught, (outcomes(9, 16), outcomes(9, 16)))
    assert kept["better"] and kept["held"] == {"n": 16, "wins": 0, "losses": 0, "ties": 16}
    nothing = round_verdict((outcomes(2, 12), outcomes(2, 12)), (outcomes(10, 16), outcomes(9, 16)))
    assert not nothing["better"] and nothing["why"] == "no measurable gain on what it was taught"


def test_a_held_win_and_loss_do_not_dilute_what_the_round_learnt():
    # 5 paraphrases won, none lost; one held question won and one lost: pooled, 6/1 has p = 0.0625.
    reach = (outcomes(5, 20), outcomes(0, 20))
    held = ({"h1": True, "h2": False, "h3": True}, {"h1": False, "h2": True, "h3": True})
    v = round_verdict(reach, held)
    assert (v["wins"], v["losses"], v["p_value"]) == (6, 1, 0.0625) and v["reach"]["p_value"] == 0.0312
    assert v["better"] and v["held"]["wins"] == v["held"]["losses"] == 1


def test_a_stale_evaluation_is_refused_and_a_fresh_one_decides(adapters, store):
    shared = SharedLive(store, adapters)

    def go(version, **kw):
        return promote(
            adapters, version, BASE, deploy=shared.compare_and_set, live_now=shared.version, questions_hash="qs1", **kw
        )

    promote(adapters, "X", BASE, force=True, reason="first adapter", by="dana", deploy=shared.compare_and_set,
            live_now=shared.version)
    evaluated(adapters, "A", "X", outcomes(22), outcomes(12))  # A evaluated while X is live: clearly better
    with pytest.raises(AdapterError, match="needs a reason"):
        go("B", force=True)
    go("B", force=True, reason="hotfix for the holiday rush", by="admin")  # an admin overrides
    assert shared.version() == "B"
    with pytest.raises(AdapterError, match="A was evaluated against X; B is live now: evaluate again"):
        go("A")
    assert shared.version() == "B"
    evaluated(adapters, "A", "B", outcomes(12), outcomes(12))  # evaluated again: no better than B
    with pytest.raises(AdapterError, match="not measurably better: 0 better, 0 worse, 24 the same"):
        go("A")
    evaluated(adapters, "A", "B", outcomes(22), outcomes(12))
    assert go("A")["reason"].startswith("better: 10 better, 0 worse")
    evaluated(adapters, "B", "A", outcomes(22), outcomes(12), qhash="another set")
    with pytest.raises(AdapterError, match="another question set"):
        go("B")
    (adapters / "A" / "adapter_model.safetensors").write_bytes(b"retrained in place")
    evaluated(adapters, "X", "A", outcomes(22), outcomes(12))
    (adapters / "A" / "adapter_model.safetensors").write_bytes(b"retrained again")
    with pytest.raises(AdapterError, match="weights changed"):
        go("X")


def test_a_tie_is_refused_and_the_override_is_recorded(adapters, store):
    shared = SharedLive(store, adapters)
    evaluated(adapters, "A", None, outcomes(18), outcomes(18))  # against the base model: a tie everywhere
    with pytest.raises(AdapterError, match="not measurably better.*24 questions"):
        promote(adapters, "A", BASE, deploy=shared.compare_and_set, live_now=shared.version)
    assert shared.version() is None
    promote(adapters, "A", BASE, force=True, reason="customers asked for the new tone", by="kim",
            deploy=shared.compare_and_set, live_now=shared.version)
    last = store.deployed("live_adapter")["history"][-1]
    assert last["version"] == "A" and last["by"] == "kim" and last["forced"]
    assert "customers asked for the new tone" in last["reason"]
    assert json.loads((adapters / "live.json").read_text())["history"][-1] == last
    listed = {a["version"]: a for a in reg.list_adapters(adapters, {})}
    assert listed["A"]["live"]


def test_two_promotions_at_once_one_wins(adapters, store):
    """Two replicas (two Store objects on one database) promote different adapters at the same moment."""
    from assistant.store.store import Store

    promote(adapters, "X", BASE, force=True, reason="start", by="dana",
            deploy=SharedLive(store, adapters).compare_and_set, live_now=SharedLive(store, adapters).version)
    evaluated(adapters, "A", "X", outcomes(22), outcomes(12))
    evaluated(adapters, "B", "X", outcomes(23), outcomes(12))
    both_checked = threading.Barrier(2, timeout=30)
    results: dict[str, object] = {}

    def replica(version):
        shared = SharedLive(Store(store.url), adapters)
        try:
            results[version] = promote(
                adapters, version, BASE, deploy=shared.compare_and_set, live_now=shared.version,
                prepare=lambda path: both_checked.wait(),  # both passed the gate before either writes
            )
        except AdapterError as exc:
            results[version] = exc

    threads = [threading.Thread(target=replica, args=(v,)) for v in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [v for v, r in results.items() if isinstance(r, dict)]
    lost = [r for r in results.values() if isinstance(r, AdapterError)]
    assert len(won) == 1 and len(lost) == 1 and "another promotion changed the live adapter" in str(lost[0])
    assert SharedLive(store, adapters).version() == won[0]
