"""Card data and personal data never reach the database or an export: Presidio's recognisers (Luhn-
checked cards in any grouping, IBANs, national ids, e-mails, phones) plus security codes and expiry
dates next to their keyword; the data card counts each kind."""

import json

import pytest
import sqlalchemy as sa

from assistant.taggers.pii import PiiRedactor
from assistant.turn.pipeline import Assistant
from tests.conftest import FakeGenerator, FakeRetriever, FakeSentiment

MESSAGE = ("Refund please: I'm kim.lee@example.com, +1 415 555 0123, card 4111 1111 1111 1111 (exp 12/27, CVV 123) "
           "or 5500-0000-0000-0004. Order 1234.")
CARD_BITS = ["4111", "1111 1111", "5500", "0004", "12/27", "CVV 123", "123)"]


@pytest.fixture(scope="module")
def redact():
    return PiiRedactor(contact=True)


@pytest.mark.parametrize("text,kind", [
    ("card 4111111111111111", "CREDIT_CARD"), ("card 4111-1111-1111-1111", "CREDIT_CARD"),
    ("amex 3782 822463 10005", "CREDIT_CARD"), ("IBAN GB82 WEST 1234 5698 7654 32", "IBAN_CODE"),
    ("my NINO is AB 12 34 56 C", "UK_NINO"), ("security code: 4821", "CARD_SECURITY_CODE"),
    ("expires 03/2029", "CARD_EXPIRY"), ("write to kim@example.com", "EMAIL_ADDRESS"),
])
def test_each_kind_is_found(redact, text, kind):
    _, counts = redact(text)
    assert counts == {kind: 1}, counts


@pytest.mark.parametrize("text", ["order 4111 1111 1111 1112 arrived", "order 1234 is late", "it costs 12.27",
                                  "we met on 12/27 at the shop", "call me in 123 days"])
def test_look_alikes_are_left_alone(redact, text):
    assert redact(text) == (text, {}), text  # a failed Luhn check, order numbers, prices, dates


def test_stored_turns_and_exports_hold_no_card_data(cfg, store, tmp_path):
    from finetune.export import Redactor, export_dataset

    a = Assistant(cfg, FakeGenerator(["Refunds reach your card in 3-5 business days [1]."]), store, FakeRetriever(),
                  FakeSentiment(), redactor=PiiRedactor(contact=False))
    r = a.respond(None, MESSAGE)
    with store.engine.connect() as c:
        # Only the columns that carry what was said: ids (uuid4) and timestamps may hold "4111" or "0004" by chance.
        rows = c.execute(sa.text("select text, entities, passages, notes, escalation from turns"))
        dump = json.dumps([dict(row._mapping) for row in rows], default=str)
    for bit in CARD_BITS:
        assert bit not in dump, bit
    assert "kim.lee@example.com" in dump  # contacts kept in storage unless store.redact_contact
    assert "{{Credit Card Number}}" in dump and "{{Card Security Code}}" in dump and "{{Card Expiry Date}}" in dump
    user = store.history(r.conversation_id)[0]
    assert not any("4111" in e["text"] or "5500" in e["text"] for e in user["entities"])
    store.add_feedback(r.turn_id, 1)
    card = export_dataset(store, tmp_path / "ds", Redactor(), eval_fraction=0.0)
    exported = (tmp_path / "ds" / "train.jsonl").read_text()
    for bit in CARD_BITS + ["kim.lee@example.com", "415 555"]:
        assert bit not in exported, bit
    assert card["pii_redacted"]["EMAIL_ADDRESS"] == 1 and card["pii_redacted"]["PHONE_NUMBER"] == 1
    assert "CREDIT_CARD" not in card["pii_redacted"]  # already replaced before storage: nothing left to count


def test_contact_redaction_in_storage_is_configurable(cfg, store):
    a = Assistant(cfg, FakeGenerator(["Done [1]."]), store, FakeRetriever(), FakeSentiment(),
                  redactor=PiiRedactor(contact=True))
    r = a.respond(None, MESSAGE)
    stored = store.history(r.conversation_id)[0]["text"]
    assert "kim.lee@example.com" not in stored and "{{Email Address}}" in stored and "{{Phone Number}}" in stored
    assert any("replaced before storing: CARD_EXPIRY x1, CARD_SECURITY_CODE x1, CREDIT_CARD x2" in n
               for n in r.to_json()["notes"])


def test_imported_transcripts_are_redacted_before_storage(store, tmp_path, redact):
    from finetune.export import Redactor, export_dataset
    from finetune.transcripts import import_transcripts

    f = tmp_path / "t.csv"
    f.write_text('instruction,response\n"pay with 4111 1111 1111 1111 (exp 12/27, CVV 123) or 5500-0000-0000-0004",'
                 '"Thanks, call 415-555-0123 if it fails."\n')
    report = import_transcripts(store, f, redactor=PiiRedactor(contact=False))
    assert report["redacted"] == {"CREDIT_CARD": 2, "CARD_EXPIRY": 1, "CARD_SECURITY_CODE": 1}
    assert import_transcripts(store, f, redactor=PiiRedactor(contact=False))["imported"] == 0  # same key
    card = export_dataset(store, tmp_path / "ds", Redactor(), eval_fraction=0.0)
    exported = (tmp_path / "ds" / "train.jsonl").read_text()
    assert "4111" not in exported and "CVV 123" not in exported and "12/27" not in exported
    assert card["pii_redacted"] == {"PHONE_NUMBER": 1}  # the only kind left to replace at export


def test_exported_prompts_carry_the_served_customer_line_without_what_redaction_removed(cfg, store, tmp_path):
    """Training prompts are the served prompts: the "About this customer" line is rebuilt from the
    stored turn (sentiment, entities) — but an e-mail the export redacts is not put back through it."""
    from finetune.export import Redactor, export_dataset
    from tests.conftest import FakeSentiment

    a = Assistant(cfg, FakeGenerator(["Refunds reach your card in 3-5 business days [1]."]), store, FakeRetriever(),
                  FakeSentiment("negative"), redactor=PiiRedactor(contact=False))
    r = a.respond(None, "This is the worst service, where is my refund? Write to kim.lee@example.com")
    store.add_feedback(r.turn_id, 1)
    export_dataset(store, tmp_path / "ds", Redactor(), eval_fraction=0.0)
    example = json.loads((tmp_path / "ds" / "train.jsonl").read_text().splitlines()[0])
    system = example["messages"][0]["content"]
    assert "About this customer: the customer seems upset" in system
    assert "kim.lee@example.com" not in json.dumps(example)
    served = a.plan("This is the worst service, where is my refund?", []).messages[0]["content"]
    assert "About this customer: the customer seems upset" in served  # the same line at serving time
