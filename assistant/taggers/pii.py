"""Payment data and personal data found and replaced before anything is stored or exported.

Recognisers are Presidio's (maintained, tested): credit cards with the Luhn check in any grouping,
IBANs with their checksum, national ids (US SSN, UK NINO, Spanish NIF, Italian fiscal code, German
tax id), e-mail addresses, and phone numbers through Google's `phonenumbers`. Two pattern
recognisers of ours cover what Presidio has none for: a card security code and an expiry date,
only next to their keyword ("CVV 123", "exp 12/27"), so an order number is never taken for one.

Runs offline: a blank spaCy pipeline (no model download; names come from our own NER tagger in
`finetune export`) and tldextract's bundled suffix list (it would fetch one at first use).

    redactor = PiiRedactor(contact=True); text, counts = redactor("card 4111 1111 1111 1111")
    # "card {{Credit Card Number}}", Counter({"CREDIT_CARD": 1})

`contact=False` keeps e-mail addresses and phone numbers (the store's choice, `store.redact_contact`);
payment data and national ids are always replaced.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path

log = logging.getLogger("loopdesk.pii")

PAYMENT = {
    "CREDIT_CARD": "{{Credit Card Number}}",
    "CARD_SECURITY_CODE": "{{Card Security Code}}",
    "CARD_EXPIRY": "{{Card Expiry Date}}",
    "IBAN_CODE": "{{IBAN}}",
    "US_SSN": "{{National ID}}",
    "UK_NINO": "{{National ID}}",
    "ES_NIF": "{{National ID}}",
    "IT_FISCAL_CODE": "{{National ID}}",
    "DE_TAX_ID": "{{National ID}}",
}
CONTACT = {"EMAIL_ADDRESS": "{{Email Address}}", "PHONE_NUMBER": "{{Phone Number}}"}
MIN_SCORE = 0.4
_lock = threading.Lock()
_analyzer = None


def _build_analyzer(home: Path):
    import spacy
    import tldextract
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        DeTaxIdRecognizer,
        EmailRecognizer,
        EsNifRecognizer,
        IbanRecognizer,
        ItFiscalCodeRecognizer,
        PhoneRecognizer,
        UkNinoRecognizer,
        UsSsnRecognizer,
    )

    # Offline: the bundled public-suffix snapshot instead of a download at first use.
    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # type: ignore[assignment]
    blank = home / "spacy-blank-en"
    if not (blank / "config.cfg").exists():
        spacy.blank("en").to_disk(blank)
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": str(blank)}])
    engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (
        CreditCardRecognizer(),
        IbanRecognizer(),
        UsSsnRecognizer(),
        UkNinoRecognizer(),
        EsNifRecognizer(supported_language="en"),
        ItFiscalCodeRecognizer(supported_language="en"),
        DeTaxIdRecognizer(supported_language="en"),
        EmailRecognizer(),
        PhoneRecognizer(supported_regions=("US", "GB", "DE", "FR", "ES", "IT", "NL", "IE", "CA", "AU")),
    ):
        registry.add_recognizer(recognizer)
    registry.add_recognizer(
        PatternRecognizer(
            supported_entity="CARD_SECURITY_CODE",
            supported_language="en",
            patterns=[
                Pattern("code after its keyword", r"(?i)\b(?:cvv2?|cvc2?|cid|csc|security code)\b\W{0,3}\d{3,4}\b", 0.9)
            ],
        )
    )
    registry.add_recognizer(
        PatternRecognizer(
            supported_entity="CARD_EXPIRY",
            supported_language="en",
            patterns=[
                Pattern(
                    "expiry after its keyword",
                    r"(?i)\b(?:exp(?:iry|ires|iration)?|valid thru|valid until)\b\.?(?:\s*date)?\W{0,3}"
                    r"(?:0?[1-9]|1[0-2])\s*[/-]\s*(?:\d{4}|\d{2})\b",
                    0.9,
                )
            ],
        )
    )
    return AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])


def analyzer(home: Path | str | None = None):
    """The shared Presidio analyzer, built once (about a second)."""
    global _analyzer
    with _lock:
        if _analyzer is None:
            home = Path(home or Path.home() / ".cache" / "loopdesk")
            home.mkdir(parents=True, exist_ok=True)
            _analyzer = _build_analyzer(home)
        return _analyzer


class PiiRedactor:
    def __init__(self, contact: bool = True, home: Path | str | None = None) -> None:
        self.placeholders = {**PAYMENT, **(CONTACT if contact else {})}
        self.home = home

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Non-overlapping (start, end, type), the longer or surer match winning."""
        results = analyzer(self.home).analyze(
            text=text, language="en", entities=list(self.placeholders), score_threshold=MIN_SCORE
        )
        chosen: list[tuple[int, int, str]] = []
        for r in sorted(results, key=lambda r: (-(r.end - r.start), -r.score)):
            if not any(r.start < e and s < r.end for s, e, _ in chosen):
                chosen.append((r.start, r.end, r.entity_type))
        return sorted(chosen)

    def __call__(self, text: str) -> tuple[str, Counter]:
        counts: Counter = Counter()
        if not text:
            return text, counts
        for start, end, kind in sorted(self.spans(text), reverse=True):
            text = text[:start] + self.placeholders[kind] + text[end:]
            counts[kind] += 1
        return text, counts
