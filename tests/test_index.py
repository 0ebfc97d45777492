"""Index: loaders, structure-aware chunking, incremental builds, atomic swap, reload, corruption."""

import json
import os
from pathlib import Path

import pytest

from assistant.errors import ConfigError, IndexUnavailableError
from index import DEMO_KB
from index.builder import build_index, current_build
from index.chunking import chunk_document
from index.loaders import load_documents
from index.searcher import Index
from tests.conftest import FakeEmbedder, requires_models


def words(text):
    return len(text.split())


def test_demo_kb_is_a_real_knowledge_base():
    docs, skipped = load_documents([DEMO_KB])
    assert len(docs) >= 12 and not skipped
    topics = " ".join(d.title.lower() for d in docs)
    for topic in ("returns", "refunds", "shipping", "account", "payments", "warranty"):
        assert topic in topics


def test_chunks_follow_headings_and_keep_offsets():
    docs, _ = load_documents([DEMO_KB / "returns.md"])
    chunks = chunk_document(docs[0], words, max_tokens=256)
    headings = [c.heading for c in chunks]
    assert "How to return an item that does not fit" in headings
    for c in chunks:
        assert docs[0].text[c.start:c.end].strip() == c.text
        assert c.title == "Returns" and len(c.hash) == 16
    assert len({c.hash for c in chunks}) == len(chunks)


def test_long_section_is_split_within_budget_with_overlap(tmp_path):
    paras = "\n\n".join(f"Paragraph {i} " + "word " * 40 for i in range(10))
    (tmp_path / "long.md").write_text(f"# Long\n\n## Part\n\n{paras}\n")
    docs, _ = load_documents([tmp_path])
    chunks = chunk_document(docs[0], words, max_tokens=100, overlap_blocks=1)
    assert len(chunks) > 3
    assert all(words(c.text) <= 100 for c in chunks)
    assert chunks[1].text.split()[:2] == chunks[0].text.split("\n\n")[-1].split()[:2]  # overlap
    one_para = tmp_path / "one.txt"
    one_para.write_text("token " * 1000)
    docs, _ = load_documents([one_para])
    chunks = chunk_document(docs[0], words, max_tokens=100)
    assert len(chunks) >= 10 and all(words(c.text) <= 100 for c in chunks)


def test_a_table_split_across_chunks_repeats_its_header(tmp_path):
    rows = "\n".join(f"| Over {i}kg up to {i + 1}kg | £{i}.99 | £{i}.49 |" for i in range(30))
    (tmp_path / "prices.md").write_text(f"# Prices\n\n## By weight\n\n| Weight | 24 (next day) | Pre-10:30 |\n|---|---|---|\n{rows}\n")
    docs, _ = load_documents([tmp_path])
    chunks = chunk_document(docs[0], words, max_tokens=80, overlap_blocks=1)
    assert len(chunks) > 2
    head = "| Weight | 24 (next day) | Pre-10:30 |\n|---|---|---|"
    for c in chunks:
        assert c.text.startswith(head) and words(c.text) <= 80
        # The offsets are the document's span; the repeated header is the only text added.
        assert docs[0].text[c.start : c.end].strip() == c.text.removeprefix(head).strip() or c is chunks[0]
    from assistant.grounding.evidence import row_cells, split_units

    later = split_units(chunks[-1].text)
    assert row_cells(later[0])[0] == ("Weight", later[0].split("; ")[0].removeprefix("Weight: "))
    assert all(row_cells(u)[1][0] == "24 (next day)" for u in later)


def test_bad_files_are_skipped_with_reasons(tmp_path):
    (tmp_path / "ok.md").write_text("# Fine\n\nText.")
    (tmp_path / "empty.md").write_text("")
    (tmp_path / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    outside = tmp_path.parent / "outside_secret.md"
    outside.write_text("# secret")
    os.symlink(outside, tmp_path / "link.md")
    docs, skipped = load_documents([tmp_path])
    reasons = {os.path.basename(s.path): s.reason for s in skipped}
    assert reasons["empty.md"] == "empty file"
    assert reasons["blob.txt"] == "binary file"
    assert "unsupported" in reasons["image.png"]
    assert "symlink" in reasons["link.md"]
    by_name = {d.source: d for d in docs}
    assert set(by_name) == {"ok.md", "latin1.txt"}
    assert by_name["latin1.txt"].text == "café crème"


def test_build_search_and_manifest(tmp_path):
    emb = FakeEmbedder()
    report = build_index([DEMO_KB], tmp_path / "ix", emb)
    assert report["chunks_total"] == report["chunks_embedded"] > 20
    build = current_build(tmp_path / "ix")
    manifest = json.loads((build / "manifest.json").read_text())
    assert manifest["embedding_model"] == "fake/embedder" and manifest["dimension"] == 256
    assert manifest["index_type"] == "flat" and "returns.md" in manifest["files"]
    hits = Index(tmp_path / "ix", emb).search("forgotten password reset link", 3)
    assert hits[0].source == "accounts.md" and hits[0].heading == "Resetting a forgotten password"
    assert hits[0].score >= hits[-1].score


def test_a_build_reports_its_stages_for_the_console(tmp_path):
    seen = []
    build_index([DEMO_KB], tmp_path / "ix", FakeEmbedder(), report=lambda *a: seen.append(a))
    embedding = [a for a in seen if a[0] == "embedding new and changed sections"]
    assert embedding[0][1] == 0 and len({a[1] for a in embedding}) == len(embedding)  # it moves
    assert seen[-1][0] == "building the index" and seen[-1][1] == seen[-1][2] == embedding[0][2]
    seen.clear()
    build_index([DEMO_KB], tmp_path / "ix", FakeEmbedder(), report=lambda *a: seen.append(a))
    assert seen == [("building the index", 0, 0)]  # nothing changed: nothing to embed


@pytest.mark.parametrize("ann", ["ivf", "hnsw"])
def test_large_builds_switch_to_approximate_search_and_record_it(tmp_path, ann):
    emb = FakeEmbedder()
    exact = build_index([DEMO_KB], tmp_path / "exact", emb)
    report = build_index([DEMO_KB], tmp_path / ann, emb, ann_above=10, ann=ann, nprobe=64)
    manifest = json.loads((current_build(tmp_path / ann) / "manifest.json").read_text())
    assert manifest["index_type"] == ann and manifest["ann_above"] == 10
    if ann == "ivf":  # nlist = 4 sqrt(n); with every list probed IVF is exhaustive
        assert manifest["index_params"]["nlist"] == int(4 * report["chunks_total"] ** 0.5)
        assert manifest["index_params"]["nprobe"] == manifest["index_params"]["nlist"]
    assert exact["chunks_total"] == report["chunks_total"]
    query = "forgotten password reset link"
    want = [h.id for h in Index(tmp_path / "exact", emb).search(query, 5)]
    got = [h.id for h in Index(tmp_path / ann, emb).search(query, 5)]
    assert got[0] == want[0] and len(set(got) & set(want)) >= 4
    with pytest.raises(ConfigError):
        build_index([DEMO_KB], tmp_path / "bad", emb, ann_above=10, ann="lsh")


def test_incremental_build_reembeds_only_changed_chunks(tmp_path):
    kb = tmp_path / "kb"
    kb.mkdir()
    for name in ("returns.md", "shipping.md", "payments.md"):
        (kb / name).write_text((DEMO_KB / name).read_text())
    emb = FakeEmbedder()
    first = build_index([kb], tmp_path / "ix", emb)
    again = build_index([kb], tmp_path / "ix", emb)
    assert again["chunks_embedded"] == 0 and again["chunks_reused"] == first["chunks_total"]
    text = (kb / "shipping.md").read_text().replace("within one business day", "within two business days")
    (kb / "shipping.md").write_text(text)
    (kb / "payments.md").unlink()
    third = build_index([kb], tmp_path / "ix", emb)
    assert third["chunks_embedded"] == 1
    chunks = [json.loads(x) for x in (current_build(tmp_path / "ix") / "chunks.jsonl").read_text().splitlines()]
    assert not any(c["source"] == "payments.md" for c in chunks)


def test_running_index_picks_up_a_rebuild_atomically(tmp_path):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "a.md").write_text("# Alpha\n\nAlpha widgets are blue.")
    emb = FakeEmbedder()
    build_index([kb], tmp_path / "ix", emb)
    ix = Index(tmp_path / "ix", emb)
    first_build = current_build(tmp_path / "ix").name
    assert ix.search("zebra stripes", 5)[0].source == "a.md"
    (kb / "z.md").write_text("# Zebra\n\nZebra stripes are black and white.")
    build_index([kb], tmp_path / "ix", emb)
    assert current_build(tmp_path / "ix").name != first_build
    assert ix.search("zebra stripes", 1)[0].source == "z.md"  # no restart needed
    assert not list((tmp_path / "ix" / "builds").glob(".*.tmp"))


def test_missing_and_corrupt_index(tmp_path):
    emb = FakeEmbedder()
    with pytest.raises(IndexUnavailableError, match="no index"):
        Index(tmp_path / "nothing", emb)
    build_index([DEMO_KB], tmp_path / "ix", emb)
    (current_build(tmp_path / "ix") / "index.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexUnavailableError, match="corrupt"):
        Index(tmp_path / "ix", emb)


def test_index_from_another_embedding_model_is_refused(tmp_path):
    emb = FakeEmbedder()
    build_index([DEMO_KB], tmp_path / "ix", emb)
    other = FakeEmbedder()
    other.model_id = "other/model"
    with pytest.raises(IndexUnavailableError, match="rebuild"):
        Index(tmp_path / "ix", other)


def test_bm25_hybrid_and_filters(tmp_path):
    emb = FakeEmbedder()
    kb = tmp_path / "kb"
    (kb / "billing").mkdir(parents=True)
    for name in ("returns.md", "shipping.md", "accounts.md"):
        (kb / name).write_text((DEMO_KB / name).read_text())
    (kb / "billing" / "payments.md").write_text((DEMO_KB / "payments.md").read_text())
    build_index([kb], tmp_path / "ix", emb)
    ix = Index(tmp_path / "ix", emb)
    for mode in ("dense", "bm25", "hybrid"):
        hits = ix.search("reset link forgotten password", 3, mode=mode)
        assert hits[0].source == "accounts.md", mode
        assert all(-1.0 <= h.score <= 1.0 for h in hits)  # always the dense cosine
    only = ix.search("how long does delivery take", 5, source="shipping")
    assert only and {h.source for h in only} == {"shipping.md"}
    tagged = ix.search("card declined", 5, tag="billing", mode="hybrid")
    assert tagged and {h.source for h in tagged} == {"billing/payments.md"}
    assert ix.search("card declined", 5, tag="nope") == []
    assert ix.search("the and of", 3, mode="bm25") == []  # only stopwords: no lexical match


def test_eval_retrieval_metrics(tmp_path):
    from index.evaluate import eval_retrieval, read_queries

    emb = FakeEmbedder()
    build_index([DEMO_KB], tmp_path / "ix", emb)
    q = tmp_path / "q.csv"
    q.write_text("query,expected_source\nforgotten password reset link,accounts.md\n"
                 "international shipping countries duties,shipping.md\nzzz qqq,warranty.md\n")
    r = eval_retrieval(Index(tmp_path / "ix", emb), read_queries(q), mode="bm25")
    assert r["n"] == 3 and r["hit@1"] == pytest.approx(2 / 3, abs=1e-3)
    assert r["hit@5"] >= r["hit@1"] and 2 / 3 <= r["mrr"] <= 1


@requires_models
def test_known_sentences_are_embedded_once_and_equal_fresh_vectors():
    """Evidence picking embeds the knowledge base's sentences every turn: `embed_known` keeps them
    (bounded, least recently used out) and gives the vectors `embed` gives."""
    import numpy as np

    from assistant.config import load_config
    from index.embedder import SentenceEmbedder

    cfg = load_config(env={})
    emb = SentenceEmbedder(cfg.models.embedder, cfg.home, known_size=3)
    texts = ["Returns: items can be returned within 30 days.", "Shipping: Express takes 1-2 days.", "Hello"]
    fresh = emb.embed(texts)
    calls: list[list[str]] = []
    plain = emb.embed
    emb.embed = lambda t, **kw: calls.append(list(t)) or plain(t, **kw)  # type: ignore[method-assign]
    first = emb.embed_known(texts + [texts[0]])
    again = emb.embed_known([texts[1], texts[0]])
    assert calls == [texts]  # one batch for the new texts, none for texts seen before
    assert np.allclose(first[:3], fresh, atol=1e-5) and np.allclose(first[3], fresh[0], atol=1e-5)
    assert np.allclose(again, fresh[[1, 0]], atol=1e-5)
    emb.embed_known(["Gift cards never expire."])  # a 4th text: the least recently used ("Hello") goes
    assert len(emb._known) == 3 and "Hello" not in emb._known
    assert emb.embed_known([]).shape == (0, emb.dim)


@requires_models
def test_a_question_embedded_twice_in_a_turn_is_encoded_once():
    """A turn embeds its question to search and again to pick its evidence: the second is the
    first's vector, and the cache returns copies (a caller changing one changes nothing kept)."""
    import numpy as np

    from assistant.config import load_config
    from index.embedder import SentenceEmbedder

    emb = SentenceEmbedder(load_config(env={}).models.embedder, load_config(env={}).home)
    encoded: list[int] = []
    plain = emb.model.encode
    emb.model.encode = lambda t, **kw: encoded.append(len(t)) or plain(t, **kw)  # type: ignore[method-assign]
    q = "How do I return a shirt that does not fit?"
    first = emb.embed([q])
    first[0, 0] += 1.0
    second = emb.embed([q])
    assert encoded == [1] and second.shape == (1, emb.dim)
    assert np.isclose(np.linalg.norm(second[0]), 1.0, atol=1e-4)  # not the changed copy
    emb.embed([q, "Shipping"])  # lists are encoded as they come
    assert encoded == [1, 2]


def test_bm25_is_built_only_when_a_mode_needs_it(tmp_path):
    """A dense index has no BM25 part (smaller, faster to build); a lexical search on it says how to
    get one instead of failing somewhere inside bm25s."""
    emb = FakeEmbedder()
    report = build_index([DEMO_KB], tmp_path / "ix", emb, lexical=False)
    build = Path(report["out"]) / "builds" / report["build_id"]
    assert not (build / "bm25").exists()
    assert json.loads((build / "manifest.json").read_text())["lexical"] is None
    ix = Index(tmp_path / "ix", emb)
    assert ix.search("reset link forgotten password", 3)[0].source == "accounts.md"  # dense still works
    with pytest.raises(IndexUnavailableError, match="retrieval.mode=hybrid"):
        ix.search("reset link forgotten password", 3, mode="hybrid")


def test_a_sections_chunks_join_back_into_one_text(tmp_path):
    from index.chunking import join_chunks

    rows = "\n".join(f"| Over {i}kg up to {i + 1}kg | £{i}.99 |" for i in range(30))
    paras = "\n\n".join(f"Paragraph {i} " + " ".join(["word"] * 30) for i in range(6))
    body = f"{paras}\n\n| Weight | Price |\n|---|---|\n{rows}\n\nThe end."
    (tmp_path / "prices.md").write_text(f"# Prices\n\n## By weight\n\n{body}\n")
    docs, _ = load_documents([tmp_path])
    chunks = chunk_document(docs[0], words, max_tokens=80, overlap_blocks=1)
    assert len(chunks) > 4
    # The cited page shows the section once: no repeated header, no overlap twice, one table.
    assert join_chunks([c.text for c in chunks]) == body
