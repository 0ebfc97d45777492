"""Table lookup by quantity (`assistant.grounding.table_ranges`) and its use in `pick_evidence`."""

import numpy as np

from assistant.grounding.evidence import evidence_units, pick_evidence
from assistant.grounding.table_ranges import parse_range, quantities, range_rows
from assistant.types import Passage

WEIGHTS = ["Up to 1kg", "Over 1kg up to 2kg", "Over 2kg up to 5kg", "Over 5kg up to 10kg"]


def _rows(header, labels):
    return [[(header, label), ("Price", "x")] for label in labels]


def test_parse_range_reads_the_usual_labels():
    assert parse_range("Up to 1kg") == (0.0, 1.0, "kg")
    assert parse_range("Over 2kg up to 5kg") == (2.0, 5.0, "kg")
    assert parse_range("500–1,999") == (500.0, 1999.0, "")
    assert parse_range("2,000 or more")[:2] == (2000.0, float("inf"))
    assert parse_range("3-5 days") == (3.0, 5.0, "day")
    assert parse_range("Zone 1") is None
    assert parse_range("Express") is None


def test_quantities_skip_times_and_ordinals_and_keep_units():
    assert quantities("before 10.30am on the 3rd, £5.99 for 12kg, 3 kilos") == [(5.99, "£"), (12.0, "kg"), (3.0, "kg")]


def test_the_row_holding_the_quantity_is_found():
    rows = _rows("Weight", WEIGHTS)
    assert range_rows(["how much to send a 3kg parcel next day?"], rows) == 2
    assert range_rows(["a 3 kilo box"], rows) == 2
    # A value on a shared edge belongs to the row it closes ("Up to 2kg"), not the one it opens.
    assert range_rows(["2kg?"], rows) == 1
    assert range_rows(["1.5 kg parcel"], rows) == 1


def test_no_row_when_the_unit_differs_none_fits_or_several_do():
    rows = _rows("Weight", WEIGHTS)
    assert range_rows(["I booked 4kg but it's more like 6kg"], rows) is None  # two rows: no guess
    assert range_rows(["a £3 parcel"], rows) is None  # pounds are not kilograms
    assert range_rows(["18kg?"], rows) is None
    assert range_rows(["how much is next day?"], rows) is None


def test_tiers_under_an_up_to_header_and_bare_counts():
    cover = _rows("Cover up to", ["£150", "£300", "£500", "£1,000", "£2,500 (UK only)"])
    assert range_rows(["extra cover for a £900 bike frame"], cover) == 3
    assert range_rows(["£300 laptop"], cover) == 1
    assert range_rows(["900 parcels"], cover) is None
    # The same single values under a header that does not say "up to" are no tiers.
    assert range_rows(["£900"], _rows("Price", ["£150", "£300"])) is None
    volume = _rows("Parcels per month", ["50–199", "200–499", "500–1,999", "2,000 or more"])
    assert range_rows(["We ship about 600 orders a month"], volume) == 2
    assert range_rows(["5000 parcels"], volume) == 3
    assert range_rows(["at 10:30 am"], volume) is None


class _Embedder:
    """Every unit equally far from the question except the 'Up to 1kg' row, the cosine's favourite."""

    def embed(self, texts):
        return np.array([[1.0, 0.0] if "Up to 1kg" in t or t.startswith("how") else [0.6, 0.8] for t in texts])


def test_pick_evidence_puts_the_range_row_first_only_with_lookup():
    table = "| Weight | 24 (next day) |\n|---|---|\n" + "\n".join(f"| {w} | £{i}.99 |" for i, w in enumerate(WEIGHTS))
    units = evidence_units([Passage(id="p", text="Prices by weight.\n\n" + table, source="prices.md", heading="", score=0.9)])
    question = "how much to send a 3kg parcel next day?"
    cosine = pick_evidence(question, units, _Embedder(), n=2)
    assert "Up to 1kg" in cosine[0][0].text
    looked_up = pick_evidence(question, units, _Embedder(), n=2, lookup=True)
    assert "Over 2kg up to 5kg" in looked_up[0][0].text and "£2.99" in looked_up[0][0].text
    # The scores are swapped, not invented: the same set as the cosine's.
    assert sorted(s for _, s in looked_up) == sorted(s for _, s in cosine)


def test_a_table_cut_across_overlapping_chunks_is_one_table():
    head = "| Weight | 24 (next day) |\n|---|---|\n"
    rows = [f"| {w} | £{i}.99 |" for i, w in enumerate(WEIGHTS)]
    # Two chunks of one section; the second repeats the first's last row (the chunker's overlap).
    parts = [head + "\n".join(rows[:2]), head + "\n".join(rows[1:])]
    passages = [Passage(id=f"p{i}", text=t, source="prices.md", heading="Prices", score=0.9) for i, t in enumerate(parts)]
    units = evidence_units(passages)
    picked = pick_evidence("how much to send a 3kg parcel next day?", units, _Embedder(), 2, ["Prices", "Prices"], True)
    assert "Over 2kg up to 5kg" in picked[0][0].text


class _ProseFirst:
    """A prose sentence is the cosine's favourite, above every row of the table."""

    def embed(self, texts):
        def vec(t):
            if t.startswith(("how", "does", "around")) or "heavier" in t:
                return [1.0, 0.0]
            return [0.8, 0.6] if "Up to 1kg" in t else [0.6, 0.8]

        return np.array([vec(t) for t in texts])


def _prose_and_table():
    table = "| Weight | 24 (next day) |\n|---|---|\n" + "\n".join(f"| {w} | £{i}.99 |" for i, w in enumerate(WEIGHTS))
    text = "A parcel heavier than you said costs more.\n\n" + table
    return evidence_units([Passage(id="p", text=text, source="prices.md", heading="", score=0.9)])


def test_the_range_row_leads_even_above_prose_and_only_for_the_messages_own_number():
    units = _prose_and_table()
    assert "heavier" in pick_evidence("how much to send a 3kg parcel next day?", units, _ProseFirst(), 3)[0][0].text
    looked_up = pick_evidence("how much to send a 3kg parcel next day?", units, _ProseFirst(), 3, lookup=True)
    assert "Over 2kg up to 5kg" in looked_up[0][0].text
    # A follow-up whose number is only in the conversation asks about something else.
    follow_up = ["does that apply to the surcharge too?", "around 3kg parcels. does that apply to the surcharge too?"]
    assert "heavier" in pick_evidence(follow_up, units, _ProseFirst(), 3, lookup=True)[0][0].text
