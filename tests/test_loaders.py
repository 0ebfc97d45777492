"""Every loader (markdown, text, HTML, PDF, CSV/JSONL FAQ, nested JSON) and the bad-input cases."""

import json

import pytest

from index.chunking import chunk_document
from index.loaders import LoaderOptions, load_documents
from tests.conftest import SHARED


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with a text line, written by hand (no PDF library needed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = b"%PDF-1.4\n", []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 6\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % off for off in offsets)
    return out + b"trailer\n<< /Root 1 0 R /Size 6 >>\nstartxref\n%d\n%%%%EOF\n" % xref


def words(t):
    return len(t.split())


def by_name(docs):
    return {d.source: d for d in docs}


def test_html_main_text_only(tmp_path):
    (tmp_path / "page.html").write_text(
        "<html><head><title>Shipping</title><script>var x=1;</script><style>p{}</style></head><body>"
        "<nav><a>Home</a><a>Cart</a></nav><header>Big banner</header><main><h1>Shipping times</h1>"
        "<p>Standard delivery takes <b>3-5</b> days.</p><ul><li>Express: 1-2 days</li><li>Next day</li></ul>"
        "</main><footer>© Northwind</footer></body></html>")
    doc = load_documents([tmp_path])[0][0]
    assert doc.title == "Shipping times"
    assert "Standard delivery takes 3-5 days." in doc.text and "- Express: 1-2 days" in doc.text
    for noise in ("var x", "Home", "Big banner", "Northwind", "p{}"):
        assert noise not in doc.text


def test_pdf_text_and_bad_pdfs(tmp_path):
    from pypdf import PdfWriter

    (tmp_path / "policy.pdf").write_bytes(minimal_pdf("Refunds arrive within five days"))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    w = PdfWriter()
    w.add_blank_page(200, 200)
    w.encrypt("secret")
    with open(tmp_path / "locked.pdf", "wb") as fh:
        w.write(fh)
    docs, skipped = load_documents([tmp_path])
    assert "Refunds arrive within five days" in by_name(docs)["policy.pdf"].text
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in skipped}
    assert "encrypted" in reasons["locked.pdf"]
    assert "PDF" in reasons["broken.pdf"]


def test_csv_and_jsonl_faq_one_pair_per_chunk(tmp_path):
    (tmp_path / "faq.csv").write_text('question,answer\n"Do you ship abroad?","Yes, to 40 countries."\n'
                                      '"Can I pay with PayPal?","Yes."\n', encoding="utf-8")
    (tmp_path / "faq.jsonl").write_text(json.dumps({"q_text": "Gift cards expire?", "a_text": "Never."}) + "\n")
    docs, skipped = load_documents([tmp_path / "faq.csv"])
    chunks = chunk_document(docs[0], words)
    assert [(c.heading, c.text) for c in chunks] == [("Do you ship abroad?", "Yes, to 40 countries."),
                                                     ("Can I pay with PayPal?", "Yes.")]
    docs, skipped = load_documents([tmp_path / "faq.jsonl"])
    assert "no question column" in skipped[0].reason  # names not recognised -> a clear reason
    docs, _ = load_documents([tmp_path / "faq.jsonl"], LoaderOptions("q_text", "a_text"))
    assert chunk_document(docs[0], words)[0].heading == "Gift cards expire?"


@pytest.mark.skipif(not (SHARED / "abcd" / "guidelines.json").exists(), reason="../shared not present")
def test_abcd_guidelines_nested_json():
    docs, skipped = load_documents([SHARED / "abcd" / "guidelines.json"])
    assert not skipped
    chunks = chunk_document(docs[0], words, max_tokens=200)
    headings = {c.heading for c in chunks}
    assert "Product Defect > Initiate Refund" in headings
    assert any("[Validate Purchase]" in c.text for c in chunks)
    assert all(words(c.text) <= 200 for c in chunks)


def test_nested_json_generic(tmp_path):
    (tmp_path / "kb.json").write_text(json.dumps({"Returns": {"window": "30 days", "steps": ["Open orders", "Print label"]}}))
    doc = load_documents([tmp_path])[0][0]
    assert "## Returns" in doc.text and "window: 30 days" in doc.text and "- Print label" in doc.text


def test_huge_empty_binary_encoding_and_links(tmp_path):
    kb = tmp_path / "kb"
    kb.mkdir()
    with open(kb / "huge.txt", "wb") as fh:  # 100 MB, sparse: skipped from its size, never read
        fh.truncate(100 * 1024 * 1024)
    (kb / "empty.txt").write_text("")
    (kb / "data.txt").write_bytes(b"\x00\x00ELF\x00")
    (kb / "cp1252.txt").write_bytes("Caf\xe9 \x93quoted\x94".encode("latin-1"))
    (kb / "bad.json").write_text("{not json")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "passwords.md").write_text("# nope")
    (kb / "escape").symlink_to(secret, target_is_directory=True)
    docs, skipped = load_documents([kb])
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in skipped}
    assert reasons["huge.txt"].startswith("file too large (105 MB")
    assert reasons["empty.txt"] == "empty file" and reasons["data.txt"] == "binary file"
    assert reasons["bad.json"].startswith("invalid JSON") and "symlink" in reasons["escape"]
    assert [d.source for d in docs] == ["cp1252.txt"] and docs[0].text == "Café “quoted”"


def test_tags_from_top_folder(tmp_path):
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "invoices.md").write_text("# Invoices\n\nPDF invoices.")
    doc = load_documents([tmp_path])[0][0]
    assert doc.source == "billing/invoices.md" and doc.tags == ["billing"]
