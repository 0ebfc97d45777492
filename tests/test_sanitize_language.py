"""Input cleaning (empty, huge, control characters, invalid UTF-8) and seeded language detection."""

from assistant.turn.language import detect_language
from assistant.turn.sanitize import sanitize


def test_empty_and_whitespace():
    assert sanitize("", 100).empty
    assert sanitize("  \n\t ", 100).empty
    assert sanitize(None, 100).empty


def test_huge_message_is_truncated_with_a_note():
    out = sanitize("a" * 20_000, 4000)
    assert len(out.text) <= 4002
    assert any("truncated from 20,000" in n for n in out.notes)


def test_control_characters_and_invalid_utf8():
    out = sanitize(b"hello\x00 wor\x07ld \xff\xfe ok\xc3\x28", 100)
    assert out.text.startswith("hello world")
    assert "\x00" not in out.text and "\ufffd" not in out.text
    assert out.notes and "removed" in out.notes[0]
    assert sanitize("bad \ud800 surrogate", 100).text == "bad  surrogate"


def test_newlines_kept_blank_runs_collapsed():
    assert sanitize("a\n\n\n\n\nb", 100).text == "a\n\nb"


def test_language_detection_is_deterministic():
    en = "Where is my parcel? I ordered a jacket last week and it has not arrived."
    fr = "Bonjour, je voudrais retourner une chemise qui ne me va pas du tout."
    de = "Hallo, ich möchte meine Bestellung stornieren, bitte helfen Sie mir."
    assert detect_language(en) == "en"
    assert detect_language(fr) == "fr"
    assert detect_language(de) == "de"
    assert {detect_language(fr) for _ in range(5)} == {"fr"}


def test_short_text_falls_back_to_default():
    assert detect_language("ok") == "en"
    assert detect_language("") == "en"
    assert detect_language("merci", default="fr") == "fr"


def test_short_and_markup_heavy_english_stays_english():
    for text in ["can i call you guys on a sunday?", "ok so where is it", "**URGENT** refund pls!!! order #4432",
                 "my order NW-20931 <b>never</b> came https://shop.example/track?id=20931",
                 "is it possible to pay with `klarna`?", "Is it possible to change my delivery address to Rue de la Paix in Paris?"]:
        assert detect_language(text) == "en", text


def test_other_languages_are_still_recognised():
    assert detect_language("Hola, ¿dónde está mi pedido? No ha llegado todavía.") == "es"
    assert detect_language("Je ne comprends pas pourquoi ma carte a été débitée deux fois") == "fr"
    assert detect_language("Quiero hablar con una persona, por favor") == "es"


def test_terse_english_requests_stay_english():
    for text in ["modify purchase 3707955617", "see cancellation fee", "complaint against ur company"]:
        assert detect_language(text) == "en", text


def test_loopdesk_tag_tags_as_a_turn_does(monkeypatch):
    """`loopdesk tag` and the pipeline share assistant.turn.tagging: short text keeps the default
    language, and entities are tagged only in policy.ner_languages (a note says why not)."""
    import json

    from typer.testing import CliRunner

    from assistant.cli.main import app
    from assistant.taggers import loader
    from assistant.types import Entity
    from tests.conftest import FakeSentiment

    class FakeNer:
        def tag(self, text):
            return [Entity("DATE", "sunday", text.find("sunday"), text.find("sunday") + 6, 0.9)]

    monkeypatch.setattr(loader, "load_taggers", lambda cfg: (FakeSentiment(), FakeNer(), []))
    runner = CliRunner()
    out = json.loads(runner.invoke(app, ["tag", "can i call you on a sunday?", "--json"]).stdout)
    assert out["language"] == "en" and [e["text"] for e in out["entities"]] == ["sunday"]
    fr = "Bonjour, je voudrais savoir si je peux vous appeler dimanche matin pour ma commande"
    out = json.loads(runner.invoke(app, ["tag", fr, "--json"]).stdout)
    assert out["language"] == "fr" and out["entities"] == []
    assert any("entities not tagged" in n for n in out["notes"])
