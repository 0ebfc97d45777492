"""Who the customer is, as a channel says: names cleaned of control characters and cut to 80 characters,
e-mail addresses kept only when they are addresses, and the console's label for each case."""

from assistant.turn.customer_info import MAX_NAME, clean_name, customer_label, customer_meta

CID = "3f2a9c11-0000-4000-8000-000000000000"


def test_names_and_addresses_are_cleaned_or_dropped():
    assert customer_meta("  Ada\u200b \x1b[31mLovelace\t", "ada@example.com") == {
        "customer_name": "Ada [31mLovelace",
        "customer_email": "ada@example.com",
    }
    assert customer_meta("", "not an address") == {}
    long_but_valid = "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".com"  # the form of an address, 310 long
    assert customer_meta(None, long_but_valid) == {}
    assert customer_meta("Ada", "ada@example.com", keep_email=False) == {"customer_name": "Ada"}
    # Joiners stay (Persian names, emoji sequences); bidi overrides and zero-width spaces go.
    assert clean_name("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645") == "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    assert clean_name("\u202eevil\u202c name\u200b") == "evil name"
    assert len(clean_name("x" * 500)) == MAX_NAME
    assert clean_name(42) == "42" and clean_name(None) == ""


def test_the_console_label_for_each_case():
    assert customer_label(CID, {"customer_name": "Ada", "customer_email": "ada@example.com"}, None) == (
        "Ada · ada@example.com"
    )
    assert customer_label(CID, {"customer_name": "Ada"}, "left@example.com") == "Ada · left@example.com"
    assert customer_label(CID, {"name": "Kim"}, None) == "Kim"  # an older conversation's meta
    assert customer_label(CID, None, "left@example.com") == "left@example.com"
    assert customer_label(CID, {"api_key": "shop"}, None) == "visitor 3f2a9c"


def test_customer_text_reads_as_typed_in_the_console():
    """A name or message with Markdown or HTML renders as its own characters: no link, heading or tag."""
    from markdown_it import MarkdownIt

    from assistant.web.plain_text import md_plain

    md = MarkdownIt()
    for typed in ("[Approve refund](https://evil.example)", "# Urgent", "<b>x</b>", "*a* _b_ `c`", "Tom & Jerry"):
        shown = md.render(md_plain(typed))
        assert "<a " not in shown and "<h1>" not in shown and "<b>" not in shown and "<em>" not in shown, shown
        assert md.renderInline(md_plain(typed)).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">") == typed
