"""`loopdesk finetune import` refuses bad files: line-numbered reasons, non-zero exit, nothing
imported; NULs and control characters cleaned; property tests over generated CSV and JSONL."""

import csv
import io
import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.errors import InputError
from finetune.transcripts import import_transcripts, read_pairs
from tests.conftest import ROOT

BAD_FILES = {
    "extra_fields.csv": (b"instruction,response\nhow do I return,You can return within 30 days,extra\n", "line 2: 3 fields"),
    "unbalanced.csv": (b'instruction,response\nhow do I return,"You can return within 30 days\nwhere is it,Shipped\n',
                       "line 2: unreadable CSV"),
    "huge_field.csv": (b"instruction,response\nhello," + b"x" * 2_000_000 + b"\n", "line 2: unreadable CSV"),
    "binary.csv": (bytes(range(256)) * 64, "binary"),
    "latin1.csv": ("instruction,response\ncaf\u00e9,ok\n".encode("latin-1"), "line 2: not UTF-8"),
    "empty.csv": (b"", "no header"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_import_nothing_with_a_line_numbered_reason(name, store, tmp_path):
    data, reason = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError, match=reason):
        import_transcripts(store, path)
    assert store.counts()["imported"] == 0 and store.counts()["turns"] == 0


def test_cli_exits_non_zero_and_says_why(tmp_path):
    path = tmp_path / "extra.csv"
    path.write_bytes(BAD_FILES["extra_fields.csv"][0])
    env = {"LOOPDESK_STORE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "assistant.cli.main", "finetune", "import", str(path)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "line 2: 3 fields, the header has 2" in out.stderr and "Traceback" not in out.stderr


def test_nul_and_control_characters_are_cleaned(store, tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"instruction,response\nwhere\x00 is my\x07 order?,It \x1bships today.\n")
    import_transcripts(store, path)
    texts = sorted(t["text"] for c in store.conversation_page()[0] for t in store.history(c["id"]))
    assert texts == ["It ships today.", "where is my order?"]


def _csv(rows):
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["instruction", "response", "intent"])
    w.writerows(rows)
    return out.getvalue()


field = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(field, field, field), min_size=1, max_size=8))
def test_any_well_formed_csv_round_trips_exactly(tmp_path, rows):
    """What a CSV writer wrote is read back pair for pair (cleaned), or the row is reported."""
    from finetune.transcripts import clean

    path = tmp_path / "gen.csv"
    path.write_text(_csv(rows), encoding="utf-8")
    pairs, problems = read_pairs(path)
    expected = [(clean(u).strip(), clean(a).strip()) for u, a, i in rows if (u + a + i).strip()]  # blank rows: skipped
    good = [(u, a) for u, a in expected if u and a]
    assert [(p["user"], p["assistant"]) for p in pairs] == good
    assert len(problems) == len(expected) - len(good)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_and_never_half_import(tmp_path, data):
    from assistant.store.store import Store

    path = tmp_path / "junk.csv"
    path.write_bytes(b"instruction,response\n" + data)
    store = Store(f"sqlite:///{tmp_path / 'p.db'}")
    before = store.counts()["imported"]
    try:
        report = import_transcripts(store, path)
    except InputError:
        assert store.counts()["imported"] == before  # refused: nothing written
    else:
        assert report["skipped"] == 0 and store.counts()["imported"] - before == report["imported"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(st.text(max_size=40), st.builds(lambda u, a: json.dumps({"user": u, "answer": a}),
                                                                  field, field)), min_size=1, max_size=6))
def test_jsonl_lines_are_pairs_or_numbered_problems(tmp_path, lines):
    path = tmp_path / "gen.jsonl"
    path.write_text("\n".join(x.replace("\n", " ").replace("\r", " ") for x in lines), encoding="utf-8")
    pairs, problems = read_pairs(path)
    assert all(isinstance(p["line"], int) and p["reason"] for p in problems)
    assert len(pairs) + len(problems) <= len(lines)
