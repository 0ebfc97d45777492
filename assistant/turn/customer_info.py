"""Who the customer is, as the channel tells it: a name and an e-mail address kept in the conversation's
`meta` (`customer_name`, `customer_email`) so operators tell customers apart and saved replies can greet
them by name.

Where they come from: the shop's page that embeds the widget (`data-customer-name` / `data-customer-email`
on the script tag, passed to the chat as `?name=&email=`), a link to the chat page with the same query,
an HTTP API client (`"customer": {"name", "email"}` on the first `/v1/chat` of a conversation) and
Chatwoot (the message's sender). None of them is verified: the console shows them as given, and replies
are e-mailed only to the address the customer left in the chat (`Handoff.leave_email`).

    customer_meta("  Ada  Lovelace ", "ada@example.com")  -> {"customer_name": "Ada Lovelace", ...}
    customer_label("3f2a9c...", meta, None)                -> "Ada Lovelace · ada@example.com"
"""

from __future__ import annotations

import re
import unicodedata

from assistant.turn.handoff import valid_email

MAX_NAME = 80


JOINERS = {"\u200c", "\u200d"}  # format characters names need (Persian, Indic scripts, emoji sequences)


def clean_name(name: object) -> str:
    """Printable text on one line, spaces collapsed, at most MAX_NAME characters; "" for anything else.
    Control, format (bidi overrides, zero-width spaces) and unassigned characters go, except the joiners."""
    text = "".join(ch for ch in str(name or "") if ch in JOINERS or unicodedata.category(ch)[0] != "C")
    return re.sub(r"\s+", " ", text).strip()[:MAX_NAME]


def customer_meta(name: object = None, email: object = None, keep_email: bool = True) -> dict[str, str]:
    """The conversation meta for what a channel gave: a cleaned name, and an e-mail only when it is one
    (and `keep_email`: off where `store.redact_contact` keeps contact details out of the database)."""
    out = {}
    if clean_name(name):
        out["customer_name"] = clean_name(name)
    address = str(email or "").strip()
    if keep_email and address and len(address) <= 254 and valid_email(address):
        out["customer_email"] = address
    return out


def customer_label(conversation_id: str, meta: dict | None, contact_email: str | None) -> str:
    """How the console names a customer: name and e-mail where given, the e-mail left for a reply, else
    "visitor" and the start of the conversation id (always different for two conversations)."""
    meta = meta or {}
    name = clean_name(meta.get("customer_name") or meta.get("name"))
    email = str(meta.get("customer_email") or contact_email or "").strip()
    parts = [p for p in (name, email) if p]
    return " · ".join(parts) if parts else f"visitor {conversation_id[:6]}"
