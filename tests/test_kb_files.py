"""Help pages managed from the console (`finetune.kb_files`, `LearningLoop.put_help_page` /
`delete_help_page`): what an upload is refused for (type, size, empty, names with paths or `..`, a
bundled demo page's name), replace and delete, the folder put back when the rebuild cannot start, an
agent refused on the server, and a strict index build that leaves the index in use serving when a
page (a broken PDF) cannot be read.

    .venv/bin/python -m pytest -q tests/test_kb_files.py
"""

from __future__ import annotations

import dataclasses
import sys
import time

import pytest

from assistant.errors import InputError
from finetune import kb_files
from finetune.jobs import LearningLoop
from tests.conftest import FakeEmbedder


@pytest.fixture
def kb(cfg, tmp_path):
    """A shop's own folder of help pages (`retrieval.kb_dir`)."""
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "returns.md").write_text("# Returns\n\nReturns are free within 30 days.\n")
    cfg.retrieval = dataclasses.replace(cfg.retrieval, kb_dir=str(folder), index_dir=str(tmp_path / "index"))
    cfg.models = dataclasses.replace(cfg.models, adapters_dir=str(tmp_path / "adapters"))
    return folder


def upload(tmp_path, name: str, data: bytes):
    """A file as Gradio leaves an upload: in a folder of its own, under the name it was sent with."""
    folder = tmp_path / "uploads" / str(time.monotonic_ns())
    folder.mkdir(parents=True)
    (folder / name).write_bytes(data)
    return folder / name


def test_names_types_sizes_and_empty_files_are_refused_with_the_reason(tmp_path):
    for name, reason in {
        "": "give the file a name",
        "../etc/passwd.md": "no folders",
        "sub/page.md": "no folders",
        "sub\\page.md": "no folders",
        "a..b.md": "no folders",
        ".hidden.md": "hidden files",
        "setup.exe": ".exe is not a help page type",
        "README": "without an extension",
        "x" * 130 + ".md": "at most 120",
    }.items():
        with pytest.raises(InputError, match=reason):
            kb_files.check_name(name)
    assert kb_files.check_name(" FAQ.CSV ") == "FAQ.CSV"
    with pytest.raises(InputError, match="the file is empty"):
        kb_files.check_file(upload(tmp_path, "empty.md", b""))
    big = upload(tmp_path, "manual.pdf", b"%PDF" + b"0" * kb_files.MAX_BYTES)
    with pytest.raises(InputError, match="at most 5 MB"):
        kb_files.check_file(big)
    assert kb_files.check_file(upload(tmp_path, "ok.md", b"# Ok\n")) == 5


def test_a_page_is_added_replaced_and_deleted_and_each_can_be_undone(cfg, kb, tmp_path):
    path, replaced, undo = kb_files.put_page(cfg, "gift-wrapping.md", upload(tmp_path, "x", b"# Gift wrapping\n"))
    assert path == kb / "gift-wrapping.md" and not replaced and path.read_bytes() == b"# Gift wrapping\n"
    undo()
    assert not path.exists()
    _, replaced, undo = kb_files.put_page(cfg, "returns.md", upload(tmp_path, "x", b"# Returns\n\nNo returns.\n"))
    assert replaced and "No returns" in (kb / "returns.md").read_text()
    undo()
    assert "free within 30 days" in (kb / "returns.md").read_text()
    assert not list(kb.glob(".*"))  # no temporary file left behind
    folder, pages = kb_files.list_pages(cfg)
    assert folder == kb and [(p["name"], p["size"], p["where"]) for p in pages] == [("returns.md", 44, "yours")]
    gone, undo = kb_files.delete_page(cfg, "returns.md")
    assert not gone.exists()
    undo()
    assert gone.read_text().startswith("# Returns")
    with pytest.raises(InputError, match="no help page missing.md"):
        kb_files.delete_page(cfg, "missing.md")
    with pytest.raises(InputError, match="no folders"):
        kb_files.delete_page(cfg, "../kb/returns.md")


def test_with_the_demo_index_pages_go_to_home_kb_and_bundled_pages_stay_as_shipped(cfg, tmp_path):
    import index

    cfg.paths = dataclasses.replace(cfg.paths, home=str(tmp_path / "home"))  # no index yet: the demo's folders
    folder, pages = kb_files.list_pages(cfg)
    assert folder == cfg.home / "kb" and {p["where"] for p in pages} == {"bundled (read-only)"}
    assert {p["name"] for p in pages} == {p.name for p in index.DEMO_KB.iterdir()}
    with pytest.raises(InputError, match="bundled demo pages"):
        kb_files.put_page(cfg, "returns.md", upload(tmp_path, "returns.md", b"# Mine\n"))
    with pytest.raises(InputError, match="bundled demo pages"):
        kb_files.delete_page(cfg, "shipping.md")
    path, _, _ = kb_files.put_page(cfg, "gift-wrapping.md", upload(tmp_path, "g.md", b"# Gift wrapping\n"))
    assert path == cfg.home / "kb" / "gift-wrapping.md"
    assert [p["name"] for p in kb_files.list_pages(cfg)[1] if p["where"] == "yours"] == ["gift-wrapping.md"]


def test_a_change_waits_for_the_running_job_and_is_taken_back_when_the_rebuild_cannot_start(cfg, kb, tmp_path):
    loop = LearningLoop(cfg, tmp_path / "work")
    busy = loop._start("train", [sys.executable, "-c", "import time; time.sleep(30)"], "sam", version="v1")
    try:
        with pytest.raises(InputError, match="a train job is running"):
            loop.put_help_page("gift.md", str(upload(tmp_path, "gift.md", b"# Gift\n")), "dana")
        assert not (kb / "gift.md").exists()
        loop._idle = lambda: None  # the job started between the check and the rebuild (another replica's click)
        with pytest.raises(InputError, match="running already"):
            loop.put_help_page("returns.md", str(upload(tmp_path, "returns.md", b"# Other\n")), "dana")
        assert "free within 30 days" in (kb / "returns.md").read_text()  # put back as it was
        with pytest.raises(InputError, match="running already"):
            loop.delete_help_page("returns.md", "dana")
        assert (kb / "returns.md").is_file()
    finally:
        import os
        import signal

        os.killpg(busy["pid"], signal.SIGKILL)


def test_an_upload_starts_a_strict_rebuild_of_the_folder(cfg, kb, tmp_path):
    loop = LearningLoop(cfg, tmp_path / "work")
    path, replaced = loop.put_help_page("gift.md", str(upload(tmp_path, "gift.md", b"# Gift\n\nWrapped.\n")), "dana")
    job = loop.job()
    try:
        assert path == kb / "gift.md" and not replaced and job["kind"] == "index"
        assert "--strict" in job["command"] and str(kb) in job["command"] and job["started_by"] == "dana"
    finally:
        loop.cancel("dana")  # the build itself (the real embedder) runs in tests/test_settings_browser.py
    actions = (loop.jobs / "actions.jsonl").read_text()
    assert '"add help page"' in actions and str(path) in actions


def test_the_console_refuses_an_agent_on_the_server(cfg, kb, store, tmp_path):
    from assistant.store.accounts import Accounts, create_operator
    from assistant.web.console.settings_tab import delete_help_page, put_help_page

    create_operator(store, "abel", "abel-password", role="agent")
    accounts = Accounts(store, sleep=lambda s: None)
    agent = accounts.sign_in("abel", "abel-password").token
    loop = LearningLoop(cfg, tmp_path / "work")
    with pytest.raises(InputError, match="only an admin can change help pages"):
        put_help_page(accounts, loop, agent, str(upload(tmp_path, "gift.md", b"# Gift\n")))
    with pytest.raises(InputError, match="only an admin can change help pages"):
        delete_help_page(accounts, loop, agent, "returns.md")
    assert sorted(p.name for p in kb.iterdir()) == ["returns.md"] and loop.job() is None


def test_a_strict_build_with_a_broken_pdf_keeps_the_index_in_use(kb, tmp_path):
    from index.builder import build_index, current_build

    out = tmp_path / "index"
    build_index([kb], out, FakeEmbedder())
    serving = current_build(out)
    (kb / "manual.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    with pytest.raises(InputError, match="index not rebuilt, the one in use keeps serving: manual.pdf: corrupt PDF"):
        build_index([kb], out, FakeEmbedder(), strict=True)
    assert current_build(out) == serving and len(list((out / "builds").iterdir())) == 1
    report = build_index([kb], out, FakeEmbedder())  # `loopdesk index build` without --strict: skipped, said
    assert [s["path"].endswith("manual.pdf") for s in report["files_skipped"]] == [True]


def test_the_upload_limits_agree():
    from assistant.web import guards
    from assistant.web.console.settings_tab import UPLOAD_TYPES

    assert guards.UPLOAD_BODY_BYTES > kb_files.MAX_BYTES
    assert set(UPLOAD_TYPES) == set(kb_files.TYPES)
