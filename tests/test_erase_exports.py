"""The right to erasure reaches exported datasets: `loopdesk store erase` takes an erased conversation's
rows out of every export that holds it (the console's `<home>/datasets/*` and any `--exports DIR`),
keeps every other row, updates the card, and says what it removed; an export made before exports
recorded their conversations is named as unchecked (delete it or export again), never skipped."""

import json
import shutil
import subprocess
import sys

from tests.conftest import ROOT


def conversation(store, question: str, answer: str) -> str:
    cid = store.new_conversation()
    store.add_turn(cid, "user", question)
    store.add_feedback(store.add_turn(cid, "assistant", answer), 1)
    return cid


def cli(cfg, home, *args, as_json=True):
    env = {
        "LOOPDESK_STORE_URL": cfg.store_url,
        "LOOPDESK_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-m", "assistant.cli.main", *args, *(["--json"] if as_json else [])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if not as_json:
        return out.returncode, out.stdout, out.stderr
    return out.returncode, (json.loads(out.stdout) if out.stdout.strip() else None), out.stderr


def rows(export) -> list[dict]:
    return [
        json.loads(line)
        for name in ("train.jsonl", "eval.jsonl")
        for line in (export / name).read_text().splitlines()
        if line.strip()
    ]


def test_erase_removes_a_conversation_from_every_export(cfg, store, tmp_path):
    home = tmp_path / "home"
    shoes = conversation(store, "How do returns work for shoes?", "Shoes go back within 30 days, free.")
    lee = conversation(
        store, "my address is lee@example.com, where is my parcel?", "Your parcel left the warehouse on Monday, Lee."
    )
    kept = [
        conversation(store, f"Do you ship to region {i}?", f"Yes, region {i} gets parcels in {i} days.")
        for i in range(10)
    ]

    console = home / "datasets" / "export-1"  # where the console's Export job writes
    rc, card, err = cli(cfg, home, "finetune", "export", "--out", str(console), "--no-ner", "--eval-fraction", "0.2")
    assert rc == 0, err
    assert card["conversations"] == 12 and card["train"] + card["eval"] == 12
    elsewhere = tmp_path / "elsewhere" / "ds"  # exported with --out somewhere else
    shutil.copytree(console, elsewhere)
    held = json.loads((console / "conversations.json").read_text())["ids"]
    assert sorted(held) == sorted([shoes, lee, *kept])
    assert {r["conversation"] for r in rows(console)} == set(held)  # each row names its conversation

    # An export from before this change: rows without a conversation, no conversations.json.
    old = home / "datasets" / "export-old"
    shutil.copytree(console, old)
    (old / "conversations.json").unlink()
    for name in ("train.jsonl", "eval.jsonl"):
        (old / name).write_text(
            "".join(
                json.dumps({k: v for k, v in r.items() if k != "conversation"}) + "\n"
                for r in map(json.loads, (old / name).read_text().splitlines())
            )
        )
    old_files = {p.name: p.read_bytes() for p in old.iterdir()}

    rc, erased, err = cli(cfg, home, "store", "erase", "--conversation", shoes, "--exports", str(elsewhere.parent))
    assert rc == 0, err
    assert erased["conversations"] == 1 and erased["turns"] == 2 and erased["feedback"] == 1
    assert sorted(e["path"] for e in erased["exports"]) == sorted([str(console), str(elsewhere)])
    assert all(e["rows"] == 1 and e["train"] + e["eval"] == 1 for e in erased["exports"])
    assert [u["path"] for u in erased["exports_unchecked"]] == [str(old)]
    assert "delete it or export again" in erased["exports_unchecked"][0]["why"]
    assert {p.name: p.read_bytes() for p in old.iterdir()} == old_files  # reported, not touched

    for export in (console, elsewhere):
        left = rows(export)
        text = (export / "train.jsonl").read_text() + (export / "eval.jsonl").read_text()
        assert "Shoes go back" not in text and "returns work for shoes" not in text
        assert len(left) == 11 and {r["conversation"] for r in left} == {lee, *kept}
        assert "region 7 gets parcels" in text and "left the warehouse" in text
        card = json.loads((export / "data_card.json").read_text())
        assert card["train"] + card["eval"] == 11 and card["conversations"] == 11
        assert card["kept"] == {"rated_good": 11} and card["ungrounded"] == 11 and card["erased"]["rows"] == 1
        assert shoes not in json.loads((export / "conversations.json").read_text())["ids"]
        assert not [p for p in export.iterdir() if p.name.endswith(".tmp")]  # temp files renamed, none left
    from finetune.export import write_split
    from finetune.lora import load_conversations

    assert load_conversations(console, "train")  # the rewritten export still trains (TRL messages rows)
    probe = tmp_path / "probe"
    split = [
        [r for r in rows(console) if r in part]
        for part in (
            [json.loads(x) for x in (console / n).read_text().splitlines()] for n in ("train.jsonl", "eval.jsonl")
        )
    ]
    assert write_split(probe, *split) == json.loads((console / "data_card.json").read_text())["data_hash"]

    # By e-mail, in words: the e-mail was redacted in the export, the row is found by its conversation.
    rc, said, err = cli(cfg, home, "store", "erase", "--email", "lee@example.com", as_json=False)
    assert rc == 0, err
    assert "deleted 1 conversations, 2 turns" in said
    assert "removed 1 rows" in said and f"from export {console}" in said
    assert f"NOT CHECKED: export {old}" in said and "delete it or export again" in said
    assert "left the warehouse" not in (console / "train.jsonl").read_text() + (console / "eval.jsonl").read_text()
    assert len(rows(console)) == 10 and len(rows(elsewhere)) == 11  # --exports not given this time
    assert store.history(kept[0])

    # Erasing an id an export still holds after the database lost it (e.g. purged) still reaches the export.
    rc, erased, err = cli(cfg, home, "store", "erase", "--conversation", lee, "--exports", str(elsewhere))
    assert (
        rc == 0
        and erased["conversations"] == 0
        and erased["exports"]
        == [
            {
                "path": str(elsewhere),
                "train": erased["exports"][0]["train"],
                "eval": erased["exports"][0]["eval"],
                "rows": 1,
            }
        ]
    )
    rc, _, err = cli(cfg, home, "store", "erase", "--conversation", "nope")
    assert rc == 2 and "no conversation nope" in err
