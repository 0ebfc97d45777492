"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (Schemathesis): every operation of
`/v1`, with valid and invalid bodies (surrogates, NULs, huge numbers, wrong types, missing fields), with
a valid key, a wrong key and none, must never answer 5xx, and must give every place in line back.

Runs in `make test` (CI) on SQLite with the fake model, so it fuzzes the API's own code in seconds.
"""

from __future__ import annotations

import dataclasses

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from assistant.turn.pipeline import Assistant
from assistant.web.http_api import build_api, create_api_key
from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment


OPERATIONS = [
    ("POST", "/v1/chat"),
    ("POST", "/v1/feedback"),
    ("GET", "/v1/conversations/{conversation_id}/messages"),
    ("POST", "/v1/conversations/{conversation_id}/email"),
]


@pytest.fixture
def fuzzed(cfg, store):
    cfg.api = dataclasses.replace(cfg.api, requests_per_minute=100_000)
    assistant = Assistant(cfg, FakeGenerator(["Returns are free within 30 days [1]."]), store, FakeRetriever(),
                          FakeSentiment())
    key = create_api_key(store, "fuzz")
    assistant.start_conversation("chat")  # a conversation of another channel, for ids to collide with
    return schemathesis.openapi.from_asgi("/openapi.json", build_api(assistant, cfg)), key, assistant


def test_the_schema_lists_the_fuzzed_operations(fuzzed):
    schema, _, _ = fuzzed
    listed = {(op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations())}
    assert set(OPERATIONS) <= listed, listed  # an operation added to /v1 must be added here


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("method,path", OPERATIONS)
def test_no_input_makes_a_server_error(fuzzed, method, path, mode):
    schema, key, assistant = fuzzed
    operation = schema[path][method]
    calls = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": "ld_wrong"}, {}):
            response = case.call(headers=headers)
            calls.append(response.status_code)
            assert response.status_code < 500, (method, path, mode, response.status_code, response.text[:300])
            if response.status_code == 422:
                assert key not in response.text  # a refusal says where and why, never echoes the request
        load = assistant.admission.load()
        assert load["running"] == 0 and load["waiting"] == 0

    check()
    assert len(calls) >= 30  # it really ran
    print(method, path, mode.value, {c: calls.count(c) for c in sorted(set(calls))})
