"""Grounding: claims, unsupported claims, evidence units, coverage, follow-ups, the checked stream."""

from assistant.grounding.checked_stream import GroundedStream
from assistant.turn.context import changes_topic, context_query, leans_back, standalone
from assistant.grounding.claims import claims, unsupported_claims
from assistant.grounding.evidence import Unit, covers, extractive_reply, informative_words, key_evidence, readable, split_units
from assistant.grounding.words import stem

SHIPPING = """| option | time | price |
|---|---|---|
| Standard | 3–5 business days | free on orders over $50, otherwise $4.99 |
| Express | 1–2 business days | $12.99 |

Orders are packed within one business day. We ship to 40 countries."""

STEPS = """Intro sentence here.
1. Sign in and open **Orders**.
2. Choose the item and click **Return or exchange**.
3. Print the label."""


def test_claims_cover_prices_numbers_phones_emails_not_citations_or_list_markers():
    text = "Express costs $12.99 (1,000 max) [2]. Call +1 555 010 2030 or help@shop.example. 1. Sign in. 2. Pay."
    assert claims(text) == {"num:12.99", "num:1000", "phone:5550102030", "email:help@shop.example"}
    assert claims("3–5 business days, 2-year warranty, 50%") == {"num:3", "num:5", "num:2", "num:50"}
    assert claims("No numbers at all [1].") == set()


def test_unsupported_claims_against_sources():
    sources = ["Express is $12.99 and takes 1–2 business days.", "Phone: +1 555 010 2030."]
    assert unsupported_claims("Express costs $12.99 [1].", sources) == set()
    assert unsupported_claims("It takes 6-8 business days.", sources) == {"num:6", "num:8"}
    assert unsupported_claims("Call 555-010-2030.", sources) == set()  # same number, other separators
    assert unsupported_claims("Call 1-800-773-7370.", sources) == {"phone:8007737370"}


def test_split_units_tables_procedures_sentences():
    units = split_units(SHIPPING)
    assert units[0] == "option: Standard; time: 3–5 business days; price: free on orders over $50, otherwise $4.99."
    assert units[1] == "option: Express; time: 1–2 business days; price: $12.99."
    assert units[2:] == ["Orders are packed within one business day.", "We ship to 40 countries."]
    steps = split_units(STEPS)
    assert steps[0] == "Intro sentence here." and steps[1].count("\n") == 2 and steps[1].startswith("1. Sign in")


def test_extractive_reply_leads_with_the_best_passage_and_cites_each_once():
    picked = [(Unit("B second.", 1, 3), 0.9), (Unit("A first.", 0, 0), 0.8), (Unit("A again.", 0, 1), 0.7)]
    assert extractive_reply(picked) == "B second. [2] A first. A again. [1]"
    # Sentences of one passage keep its order (the later may lean on the earlier)...
    fee = [(Unit("The fee is waived above $500.", 0, 1), 0.9), (Unit("Checking costs $5 a month.", 0, 0), 0.8)]
    assert extractive_reply(fee) == "Checking costs $5 a month. The fee is waived above $500. [1]"
    # ...table rows stand alone: the one asked about first.
    rows = split_units(SHIPPING)
    assert extractive_reply([(Unit(rows[1], 0, 1), 0.9), (Unit(rows[0], 0, 0), 0.7)]).startswith("For Express, ")


def test_table_rows_are_quoted_as_a_customer_reads_them():
    rows = split_units(SHIPPING)
    picked = [(Unit(rows[1], 0, 1), 0.9), (Unit("We ship to 40 countries.", 1, 3), 0.5)]
    assert extractive_reply(picked) == (
        "For Express, the time is 1–2 business days and the price is $12.99. [1] We ship to 40 countries. [2]"
    )
    assert readable(rows[0]) == (
        "For Standard, the time is 3–5 business days and the price is free on orders over $50, otherwise $4.99."
    )
    for sentence in ("Note: returns are free; exchanges too.", "Call us: 9-5.", "Premier Checking costs $15."):
        assert readable(sentence) == sentence  # not a table row: as it is


def test_covers_needs_the_evidence_claims_and_its_new_words():
    evidence = "You can delete your account under Account settings > Privacy."
    assert covers("Go to Account settings > Privacy to delete it.", evidence, "How do I delete my account?")
    assert not covers("Open your browser and click delete account.", evidence, "How do I delete my account?")
    assert not covers("Click account settings.", evidence, "How do I delete my account?")  # half is not enough
    assert not covers("We take it seriously.", "We take complaints seriously.", "how do you treat complaints?")
    assert covers("Express costs $12.99.", "Express: $12.99.", "how much is express?")
    assert not covers("Express is quick and affordable.", "Express: $12.99.", "how much is express?")


def test_covers_needs_every_number_the_evidence_adds_and_not_the_questions_own():
    hours = "Our 48 branches are open Monday to Friday from 9 am to 5 pm and Saturday from 9 am to 1 pm."
    q = "Are branches open on Saturday?"
    # One number right was enough before: this reply passed with the weekday hours wrong.
    assert not covers("Our 48 branches are open Monday to Friday from 9 am to 1 pm and Saturday from 9 am to 1 pm.",
                      hours, q)
    assert covers("Yes: 48 branches open Saturday from 9 am to 1 pm (Monday to Friday 9 am to 5 pm).", hours, q)
    cd = "12-month CD: 3.75% APY"
    # "12" is the customer's own number: stating it again says nothing about the rate.
    assert not covers("12-month CD: 3.50% APY", cd, "What's the rate on a 12 month CD?")
    assert covers("The 12-month CD pays 3.75% APY.", cd, "What's the rate on a 12 month CD?")


def test_a_table_rows_column_names_are_not_what_it_adds():
    row = "option: Next day; time: order by 2 pm for next business day; price: $19.99."
    new = informative_words(row, "how long does next day delivery cost")
    assert stem("order") in new and stem("business") in new
    assert not new & {stem("option"), stem("time"), stem("price")}  # every row has them
    assert not covers("Express — time: 1–2 business days; price: $12.99.", row, "how much is next day delivery?")


def test_key_evidence_is_the_best_unit_and_those_within_the_margin():
    best, close, far = Unit("Returns are accepted within 30 days.", 0, 0), Unit("Refunds take 5 days.", 0, 1), \
        Unit("We ship to 40 countries.", 1, 2)
    picked = [(best, 0.70), (close, 0.68), (far, 0.55)]
    assert key_evidence(picked, "how long do I have to return something?", 0.05) == [best, close]
    assert key_evidence(picked, "how long do I have to return something?", 0.0) == [best]
    assert key_evidence(picked, "how long do I have to return something?", 1.0) == [best, close, far]
    # A unit that adds nothing to the question is never key, nor the yardstick for the margin.
    echo = Unit("Do you ship abroad?", 0, 3)
    assert key_evidence([(echo, 0.9), (far, 0.6)], "do you ship abroad?", 0.05) == [far]


def test_a_generated_table_row_reads_as_the_evidence_would():
    row = "option: Express; time: 1–2 business days; price: $12.99."
    stream = GroundedStream([row], 1, key=[row], question="how much is express?")
    shown = list(stream.sentences(["option: Express; time: 1–2 business days; price: $12.99. [1]"]))
    assert "".join(shown) == "For Express, the time is 1–2 business days and the price is $12.99. [1]"
    assert stream.verdict([row], [0], "how much is express?") == ""


def test_follow_ups_are_searched_with_the_previous_message():
    history = [{"role": "user", "text": "How long does Express delivery take?"}, {"role": "assistant", "text": "1–2 days."}]
    assert leans_back("And how much does it cost?") and not leans_back("How do I reset my password?")
    assert context_query("And how much does it cost?", history) == "How long does Express delivery take? And how much does it cost?"
    assert context_query("how do I reset my password?", history).endswith("reset my password?")  # the pipeline picks
    assert context_query("And how much does it cost?", []) is None
    assert context_query("word " * 30, history) is None  # a long message carries its own topic


def test_a_message_that_says_it_changes_the_topic_is_searched_alone():
    history = [{"role": "user", "text": "How long does Express delivery take?"}]
    for said in ("thanks! unrelated, but can i pay in installments?", "got it. separate question: do you price match?",
                 "ok cool, btw do you have a store in Leeds?", "another thing - do you sell gift cards?"):
        assert changes_topic(said) and context_query(said, history) is None and standalone(said, history) == said
    for kept in ("and how much is that?", "is the fee unrelated to the weight?", "is it a different thing from Express?",
                 "so how much does it cost?"):
        assert not changes_topic(kept) and context_query(kept, history) is not None


def test_checked_stream_stops_at_an_invented_number_and_at_a_loop():
    stream = GroundedStream(["Express takes 1–2 business days and costs $12.99."], 1)
    shown = list(stream.sentences(["Express costs ", "$12.99 [1]. ", "It arrives in 6-8 days. ", "Bye."]))
    assert shown == ["Express costs $12.99 [1]."] and stream.problem == "unsupported 6, 8"
    loop = GroundedStream(["Express costs $12.99."], 1)
    assert list(loop.sentences(["Express costs $12.99. ", "Express costs $12.99. ", "More."])) == ["Express costs $12.99."]
    assert loop.problem == "repeated sentence"


def test_checked_stream_drops_a_cut_fragment_fixes_citations_and_judges_coverage():
    stream = GroundedStream(["Express costs $12.99."], 2)
    shown = list(stream.sentences(["Express costs $12.99 [7]. ", "You can also pay with"]))
    assert shown == ["Express costs $12.99."]  # [7] cites nothing; the cut fragment is not shown
    assert stream.verdict(["Express: $12.99."], [1], "how much is express?") == ""
    assert stream.citation_added == " [2]"
    vague = GroundedStream(["Express costs $12.99."], 1)
    list(vague.sentences(["Please provide more information about your issue."]))
    assert vague.verdict(["Express: $12.99."], [0], "how much is express?") == "reply misses the evidence"
    list_reply = GroundedStream(["1. Sign in. 2. Choose Orders."], 1)
    assert list(list_reply.sentences(["Steps:\n", "1. Sign in.\n", "2. Choose Orders."])) == ["Steps:", "\n1. Sign in.", "\n2. Choose Orders."]


def test_checked_stream_holds_text_until_it_carries_the_key_evidence():
    sources = ["Express takes 1–2 business days and costs $12.99. Standard delivery is free."]
    key = ["Express takes 1–2 business days and costs $12.99."]
    # Closer with each sentence, then all of it: shown together, once covered; the rest streams.
    step = GroundedStream(sources, 1, key=key, question="tell me about express")
    out = list(step.sentences(["Express takes 1–2 business days. ", "It costs $12.99 [1]. ", "Standard is free. "]))
    assert out == ["Express takes 1–2 business days. It costs $12.99 [1].", " Standard is free."]
    assert step.shown == "Express takes 1–2 business days. It costs $12.99 [1]. Standard is free."
    # A lead-in ending in ":" may carry nothing yet.
    lead = GroundedStream(sources, 1, key=key, question="tell me about express")
    assert list(lead.sentences(["Here is what I found:\n", "Express takes 1–2 business days and costs $12.99."]))
    # A sentence that adds nothing stops the reply; nothing was shown.
    stray = GroundedStream(sources, 1, key=key, question="tell me about express")
    assert list(stray.sentences(["Standard delivery is free. ", "Express costs $12.99."])) == []
    assert stray.problem == "reply strays from the evidence" and stray.shown == ""
    assert stray.verdict(key, [0], "tell me about express") == "reply strays from the evidence"
    # One opening sentence of courtesy that states nothing may come first (the prompt asks for an
    # apology when the customer is upset); a second one, or one with a passage's words, may not.
    sorry = GroundedStream(sources, 1, key=key, question="tell me about express")
    out = list(sorry.sentences(["I'm sorry about the trouble. ", "Express takes 1–2 business days and costs $12.99."]))
    assert out == ["I'm sorry about the trouble. Express takes 1–2 business days and costs $12.99."]
    assert sorry.verdict(key, [0], "tell me about express") == ""
    twice = GroundedStream(sources, 1, key=key, question="tell me about express")
    assert list(twice.sentences(["I'm sorry about the trouble. ", "Thanks for waiting. ", "Express costs $12.99."])) == []
    assert twice.problem == "reply strays from the evidence"
    full = "Express takes 1–2 business days and costs $12.99."
    for opening in ("Sorry, Standard delivery is free. ", "No, that's not possible. ", "Yes, you can. ",
                    "Unfortunately, we don't offer that. ", "Sorry, we no longer accept PayPal. ",
                    "I'm sorry, I couldn't find that. "):
        claim = GroundedStream(sources, 1, key=key, question="tell me about express")
        assert list(claim.sentences([opening, full])) == [], opening  # it says something: not courtesy
        assert claim.problem == "reply strays from the evidence", (opening, claim.problem)
    thanks = GroundedStream(sources, 1, key=key, question="tell me about express")
    assert list(thanks.sentences(["Thanks for your patience! ", full])) == ["Thanks for your patience! " + full]
    # The model ended before carrying it: nothing shown either.
    short = GroundedStream(sources, 1, key=key, question="tell me about express")
    assert list(short.sentences(["Express takes 1–2 business days."])) == []
    assert short.verdict(key, [0], "tell me about express") == "reply misses the evidence"


def test_after_the_key_evidence_the_reply_stops_at_another_passages_topic():
    sources = ["You can delete your account under Account settings > Privacy. Deleting it removes your order history.",
               "Click Sign up at the top of any page and enter your name, e-mail address and a password."]
    key = ["You can delete your account under Account settings > Privacy."]
    q = "How do I delete my account?"
    stream = GroundedStream(sources + [q], 2, key=key, question=q, key_passages=[0])
    shown = list(stream.sentences(["You can delete your account under Account settings > Privacy [1]. ",
                                   "Deleting it removes your order history. ",
                                   "Click Sign up at the top of any page [2]. "]))
    assert "".join(shown) == ("You can delete your account under Account settings > Privacy [1]. "
                              "Deleting it removes your order history.")  # the same passage goes on; sign-up does not
    assert stream.problem == "" and stream.verdict(key, [0], q) == ""
    # Without the passages of the key evidence, every checked sentence streams as before.
    free = GroundedStream(sources + [q], 2, key=key, question=q)
    assert "Sign up" in "".join(free.sentences(["You can delete your account under Account settings > Privacy. ",
                                                "Click Sign up at the top of any page. "]))




def test_a_table_rows_figures_under_another_rows_name_are_caught():
    """The bundled model wrote "For Standard, ... $12.99" from the Express row; the evidence answers instead."""
    express = "option: Express; time: 1–2 business days; price: $12.99."
    standard = "option: Standard; time: 3–5 business days; price: $4.99."
    names = ["Standard", "Express", "Next day"]
    q = "how much is express shipping?"
    wrong = GroundedStream([f"{standard}\n{express}", q], 1, key=[express], question=q, row_names=names)
    assert list(wrong.sentences(["For Standard, the time is 1–2 business days and the price is $12.99. [1]"])) == []
    assert wrong.problem == "gives the express row's figures under another name"
    right = GroundedStream([f"{standard}\n{express}", q], 1, key=[express], question=q, row_names=names)
    shown = "".join(right.sentences(["Express shipping costs $12.99 and takes 1–2 business days. [1] ",
                                     "For Standard, the price is $4.99. [1]"]))
    assert shown == "Express shipping costs $12.99 and takes 1–2 business days. [1]"  # the other row is cut
    # Unnamed is fine when the question names the row and the sentence names no other.
    short = GroundedStream([f"{standard}\n{express}", q], 1, key=[express], question=q, row_names=names)
    assert "".join(short.sentences(["It costs $12.99 and takes 1–2 business days. [1]"]))


def test_a_citation_of_a_passage_the_model_was_not_shown_is_replaced_by_the_evidences():
    q = "can I pay with PayPal?"
    sources = ["Track your order under Orders.", "Returns are free.", "We accept Visa and PayPal.", q]
    stream = GroundedStream(sources, 3, key=["We accept Visa and PayPal."], question=q, key_passages=[2], citable=[2])
    shown = "".join(stream.sentences(["We accept Visa and PayPal. [1]"]))
    assert "[1]" not in shown and stream.verdict(["We accept Visa and PayPal."], [2], q) == ""
    assert stream.citation_added == " [3]"


def test_a_written_decline_quoting_the_customer_is_never_shown():
    """An adapter trained on an older round's replies writes its partial decline around a right row."""
    row = "For Extra cover (Parcelwise Protect), the price is £4.99."
    stream = GroundedStream([row], 1, key=[row], question="and what if it's going to New York instead?")
    out = list(stream.sentences(['I couldn\'t find anything about "New York" in the help pages, and I\'d rather '
                                 "not guess. ", "The closest I found: Extra cover costs £4.99. [1]"]))
    assert out == [] and stream.problem == "wrote a decline"
