"""Two app replicas on one PostgreSQL agree: a promotion recorded through one is served by the other
at its next turn, and an index rebuild is used by both, without a restart."""

import subprocess
import sys
import urllib.request


from tests.conftest import FakeEmbedder, ROOT, free_port, wait_for_http


def chat(port: int, key: str, message: str) -> dict:
    import json

    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat", data=json.dumps({"message": message}).encode(),
                                 headers={"Content-Type": "application/json", "X-API-Key": key})
    return json.loads(urllib.request.urlopen(req, timeout=60).read())


def test_two_replicas_follow_promotions_and_index_builds(postgres_server, tmp_path):
    from assistant.web.http_api import create_api_key
    from assistant.store.store import Store
    from index.builder import build_index

    url = postgres_server.new_database()
    store = Store(url)
    key = create_api_key(store, "replica-test")
    kb1, kb2 = tmp_path / "kb1", tmp_path / "kb2"
    kb1.mkdir()
    kb2.mkdir()
    (kb1 / "returns.md").write_text("# Returns\n\nReturns of shoes are free within 30 days of delivery.\n")
    (kb2 / "warranty.md").write_text("# Warranty\n\nReturns of shoes are free within 60 days: extended warranty.\n")
    index_dir, registry = tmp_path / "index", tmp_path / "adapters"
    first = build_index([kb1], index_dir, FakeEmbedder())
    store.deploy("index_build", {"name": first["build_id"], "dir": str(index_dir)})
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, str(ROOT / "tests" / "replica_app.py"), url, str(index_dir),
                               str(registry), str(p)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for p in ports]
    try:
        for p, proc in zip(ports, procs):
            wait_for_http(f"http://127.0.0.1:{p}/healthz", proc, 90, "replica", proc.stdout.read)
        question = "Are returns of shoes free?"
        before = [chat(p, key, question) for p in ports]
        assert [r["adapter"] for r in before] == [None, None]
        assert [r["sources"][0]["source"] for r in before] == ["returns.md", "returns.md"]

        # Promotion through replica 0's side (what `finetune promote` records), served by replica 1 next turn.
        store.deploy("live_adapter", {"version": "support-v2", "previous": []})
        assert chat(ports[1], key, question)["adapter"] == "support-v2"
        assert chat(ports[0], key, question)["adapter"] == "support-v2"

        # An index rebuild (what `loopdesk index build` records): both replicas use the new build.
        second = build_index([kb2], index_dir, FakeEmbedder())
        store.deploy("index_build", {"name": second["build_id"], "dir": str(index_dir)})
        assert [chat(p, key, question)["sources"][0]["source"] for p in ports] == ["warranty.md", "warranty.md"]
        # And back: the record, not the directory's CURRENT file, decides.
        store.deploy("index_build", {"name": first["build_id"], "dir": str(index_dir)})
        assert [chat(p, key, question)["sources"][0]["source"] for p in ports] == ["returns.md", "returns.md"]
        # A record for another index directory (a moved config) is not chased.
        store.deploy("index_build", {"name": second["build_id"], "dir": str(tmp_path / "elsewhere")})
        assert [chat(p, key, question)["sources"][0]["source"] for p in ports] == ["warranty.md", "warranty.md"]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
