"""One app replica for the two-replica test: the HTTP API over an Assistant that follows the
deployment recorded in the shared database (live adapter, index build). A fake generator (it
records which adapter it was switched to) and a fake embedder keep it fast; the index, the store,
the watcher and the wiring are the real ones.

    python tests/replica_app.py STORE_URL INDEX_DIR REGISTRY_DIR PORT
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn  # noqa: E402

from assistant.serving.live_adapter import LiveAdapterWatcher  # noqa: E402
from assistant.build import follow_deployment  # noqa: E402
from assistant.config import load_config  # noqa: E402
from assistant.web.http_api import build_api  # noqa: E402
from assistant.turn.pipeline import Assistant  # noqa: E402
from assistant.store.store import Store  # noqa: E402
from index.searcher import open_index  # noqa: E402
from tests.conftest import FakeEmbedder, FakeGenerator  # noqa: E402


class SwitchingGenerator(FakeGenerator):
    model_id = "fake/generator"

    def set_adapter(self, path, adapter_id=None):
        self.adapter_id = adapter_id


def main() -> None:
    store_url, index_dir, registry, port = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    cfg = load_config(env={"LOOPDESK_STORE_URL": store_url, "LOOPDESK_RETRIEVAL_MIN_SCORE": "0"})
    store = Store(store_url)
    generator = SwitchingGenerator(["Here is what our help pages say [1]."] * 1000)
    watcher = LiveAdapterWatcher(registry, generator, pointer=lambda: store.deployed("live_adapter"))
    retriever = follow_deployment(open_index(index_dir, FakeEmbedder()), store)
    assistant = Assistant(cfg, generator, store, retriever, adapter_watcher=watcher)
    uvicorn.run(build_api(assistant, cfg), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
