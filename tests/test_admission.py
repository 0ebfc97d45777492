"""The line in front of turns (assistant.turn.admission) and many customers at once through the HTTP API:
turns run side by side up to the limit, the rest are told their place, a full line answers 429,
and under load every turn has exactly one user row and one assistant row."""

import dataclasses
import json
import threading
import time

import pytest
from fastapi.testclient import TestClient

from assistant.turn.admission import Admission, Busy
from assistant.web.http_api import create_api_key
from assistant.turn.pipeline import Assistant
from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment

BOTH_DATABASES = True


def test_line_admits_in_order_and_reports_places():
    line = Admission(active=2, waiting=2)
    a, b = line.enter(), line.enter()
    c, d = line.enter(), line.enter()
    assert (a.admitted, b.admitted, c.admitted, d.admitted) == (True, True, False, False)
    assert (c.position(), d.position()) == (1, 2)
    with pytest.raises(Busy):
        line.enter()  # two running, two waiting: full
    line.leave(a)
    assert c.wait(0.1) and c.position() == 0 and d.position() == 1
    line.leave(a)  # a second leave of the same ticket changes nothing
    assert line.load() == {"running": 2, "waiting": 1, "refused": 1}
    line.leave(d)  # gave up while waiting
    assert line.load()["waiting"] == 0


def test_a_turn_waiting_too_long_is_refused():
    line = Admission(active=1, waiting=5, max_wait_seconds=0.2)
    holder = line.enter()
    with pytest.raises(Busy):
        with line.admitted():
            pass
    line.leave(holder)
    with line.admitted() as t:
        assert t.admitted


class SlowGenerator(FakeGenerator):
    """Counts how many replies are generated at the same moment."""

    def __init__(self):
        super().__init__(["Returns are free within 30 days [1]."])
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def stream(self, messages, max_new_tokens=None):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            for piece in super().stream(messages, max_new_tokens):
                time.sleep(0.01)
                yield piece
        finally:
            with self.lock:
                self.now -= 1


def api_for(cfg, store, **app):
    from assistant.web.http_api import build_api

    cfg.app = dataclasses.replace(cfg.app, **app)
    cfg.api = dataclasses.replace(cfg.api, requests_per_minute=100_000)
    gen = SlowGenerator()
    a = Assistant(cfg, gen, store, FakeRetriever(), FakeSentiment())
    key = create_api_key(store, "load")
    return TestClient(build_api(a, cfg)), {"Authorization": f"Bearer {key}"}, gen, a


def test_many_customers_at_once_each_turn_stored_exactly_once(cfg, store):
    client, auth, gen, assistant = api_for(cfg, store, concurrent_turns=4, max_waiting=100)
    done: list[dict] = []
    errors: list[str] = []

    def customer(i: int) -> None:
        cid = None
        for turn in range(2):
            body = {"message": f"How do returns work, question {i}.{turn}?", "conversation_id": cid,
                    "stream": i % 2 == 0}
            r = client.post("/v1/chat", json=body, headers=auth)
            if r.status_code != 200:
                errors.append(f"{r.status_code}")
                continue
            if body["stream"]:
                blocks = [b for b in r.text.strip().split("\n\n") if b.startswith("event: done")]
                reply = json.loads(blocks[-1].split("data: ", 1)[1])
            else:
                reply = r.json()
            cid = reply["conversation_id"]
            done.append(reply)

    threads = [threading.Thread(target=customer, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(done) == 32
    assert 1 < gen.peak <= 4  # side by side, never past app.concurrent_turns
    for cid in {d["conversation_id"] for d in done}:
        roles = [t["role"] for t in store.history(cid)]
        assert roles == ["user", "assistant", "user", "assistant"]
    assert assistant.admission.load() == {"running": 0, "waiting": 0, "refused": 0}


def test_full_line_answers_429_and_a_waiting_stream_is_told_its_place(cfg, store):
    client, auth, gen, assistant = api_for(cfg, store, concurrent_turns=1, max_waiting=1)
    line = assistant.admission
    holder = line.enter()  # someone else's turn is running
    result: dict = {}

    def waiting_customer() -> None:
        r = client.post("/v1/chat", json={"message": "Where is my parcel?", "stream": True}, headers=auth)
        result["text"] = r.text

    t = threading.Thread(target=waiting_customer)
    t.start()
    deadline = time.time() + 5
    while line.load()["waiting"] < 1 and time.time() < deadline:
        time.sleep(0.02)
    full = client.post("/v1/chat", json={"message": "And now?"}, headers=auth)
    assert full.status_code == 429 and full.headers["Retry-After"] == "10"
    time.sleep(1.2)  # long enough for one "queued" event
    line.leave(holder)
    t.join(10)
    events = [b.split("\n")[0].removeprefix("event: ") for b in result["text"].strip().split("\n\n")]
    assert events[0] == "queued" and '"position": 1' in result["text"] and events[-1] == "done"
    assert line.load()["running"] == 0 and line.load()["waiting"] == 0


def test_time_in_line_counts_toward_the_first_text_deadline(cfg, store):
    """A turn that waited in line has less time left for the model: the customer has been waiting
    since they sent the message."""

    cfg.retrieval.fallback_units = 1
    cfg.generation.first_text_seconds = 4.0
    gen = FakeGenerator(["Items that do not fit are free to return within 30 days [1]."])
    a = Assistant(cfg, gen, store, FakeRetriever())
    assert a.respond(None, "How long do I have to return shoes?").grounding == "generated"
    late = a.respond(None, "How long do I have to return shoes?", waited=4.5)
    assert late.grounding.startswith("fallback: busy, no model reply started") and len(gen.calls) == 1
