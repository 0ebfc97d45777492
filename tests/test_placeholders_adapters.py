"""Placeholder rendering on a token stream, and the live-adapter watcher's swap and failure paths."""

import json

from assistant.serving.live_adapter import LiveAdapterWatcher, read_live, write_live
from assistant.errors import AdapterError
from assistant.grounding.placeholders import StreamRenderer, render


def test_render_known_and_unknown_slots():
    assert render("Call {{Customer Support Phone Number}} or see {{Order History}}.") == \
        "Call +1 555 010 2030 or see Order History."
    assert render("no slots {here}") == "no slots {here}"


def test_stream_renderer_holds_back_split_slots():
    r = StreamRenderer()
    pieces = ["Visit {", "{Website", " Name}", "} today, or {{Li", "ve Chat}}", "."]
    out = "".join(r.feed(p) for p in pieces) + r.flush()
    assert out == "Visit Northwind Goods today, or live chat."
    r = StreamRenderer()
    assert r.feed("broken {{never closed") + r.flush() == "broken {{never closed"


class FakeGen:
    def __init__(self):
        self.adapter_id, self.calls = None, []

    def set_adapter(self, path, adapter_id=None):
        self.calls.append(adapter_id)
        if adapter_id == "bad":
            raise AdapterError("corrupt")
        self.adapter_id = adapter_id


def test_watcher_swaps_and_survives_a_bad_adapter(tmp_path):
    gen = FakeGen()
    w = LiveAdapterWatcher(tmp_path, gen)
    w.refresh()
    assert gen.calls == []  # nothing live: base model
    write_live(tmp_path, "v1", [])
    w.refresh()
    assert gen.adapter_id == "v1"
    w.refresh()
    assert gen.calls == ["v1"]  # unchanged file: no reload
    write_live(tmp_path, "bad", ["v1"])
    w.refresh()
    assert gen.adapter_id == "v1" and "not loaded" in w.last_error
    write_live(tmp_path, None, [])
    w.refresh()
    assert gen.adapter_id is None
    assert read_live(tmp_path)["version"] is None
    (tmp_path / "live.json").write_text("{broken")
    assert read_live(tmp_path) == {}
    assert json.loads(json.dumps(read_live(tmp_path / "missing"))) == {}


def test_broken_live_json_keeps_the_last_good_adapter_and_says_so(tmp_path, caplog):
    gen = FakeGen()
    w = LiveAdapterWatcher(tmp_path, gen)
    write_live(tmp_path, "v1", [])
    w.refresh()
    for garbage in ('{"version": "v1", "prev', "\x00\x00", '{"version": 7}', "[]", ""):
        (tmp_path / "live.json").write_text(garbage)
        w.refresh()
        assert gen.adapter_id == "v1" and "unreadable" in w.last_error and "still serving v1" in w.last_error
    assert "unreadable" in caplog.text
    write_live(tmp_path, "v1", [])
    w.refresh()
    assert w.last_error is None and gen.calls == ["v1"]


def test_rollback_skips_versions_deleted_from_the_registry(tmp_path):
    from finetune.registry import rollback

    for v in ("v2", "v3"):
        (tmp_path / v).mkdir()
    write_live(tmp_path, "v3", ["v2", "v1-deleted"])  # v1 was live once, then removed from disk
    recorded = []
    assert rollback(tmp_path, deploy=lambda record, expected: recorded.append(record)) == {"live": "v2", "previous": "v3"}
    assert read_live(tmp_path)["previous"] == []
    assert [r["version"] for r in recorded] == ["v2"]  # also recorded where every replica looks


def test_watcher_follows_the_shared_record_over_the_file(tmp_path):
    gen = FakeGen()
    record = {"value": None}
    w = LiveAdapterWatcher(tmp_path, gen, pointer=lambda: record["value"])
    write_live(tmp_path, "v1", [])
    w.refresh()
    assert gen.adapter_id == "v1"  # no record yet: live.json decides
    record["value"] = {"version": "v2"}
    w.refresh()
    assert gen.adapter_id == "v2"  # the database record wins
    record["value"] = {"version": "bad"}
    w.refresh()
    assert gen.adapter_id == "v2" and "not loaded" in w.last_error
