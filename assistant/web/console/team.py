"""The team's tools in a conversation, as rules over `Store` methods: saved replies with variables,
internal notes and tags (the satisfaction question is `assistant/web/satisfaction.py`).

- Saved replies: an admin saves named templates; every operator fills one into the reply box, with
  {customer_name}, {operator_name} and {business_name} replaced for that conversation. Any other
  variable, a format spec ("{operator_name:>9}") or a lone brace is refused when saving, so a template
  can never fail when used.
- Internal notes: only operators read them (the console's transcript, marked internal); they are not
  turns, so no customer page, API response or training export contains them.
- Tags: short lowercase words ("refund", "vip-customer") to find conversations again.

Pure functions; the console (`team_panel`, `page`) calls them. Test: `.venv/bin/pytest -q tests/test_team.py`.
"""

from __future__ import annotations

import logging
import re
import string
from datetime import datetime, timezone
from typing import Callable

from assistant.errors import InputError
from assistant.store.store import Store

log = logging.getLogger("loopdesk.console")
VARIABLES = ("customer_name", "operator_name", "business_name")
CUSTOMER_NAME_FALLBACK = "there"
"""What {customer_name} becomes when the conversation carries no name ("Hi there,")."""
MAX_REPLY_NAME, MAX_REPLY_TEXT, MAX_NOTE, MAX_TAGS = 64, 4000, 2000, 20
TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


# --- saved replies -----------------------------------------------------------------------------
def variables_in(text: str) -> list[str]:
    """The variables a template uses, in order; InputError for a lone brace, a format spec or a
    conversion, and for any variable not in VARIABLES."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InputError(f"{exc}: write a variable as {{operator_name}}, or a brace itself as {{{{ or }}}}") from exc
    used = []
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if spec or conversion:
            raise InputError(f"write the variable as plain {{{field}}}, with nothing after the name (no ':' or '!')")
        if field not in VARIABLES:
            known = ", ".join("{" + v + "}" for v in VARIABLES)
            raise InputError(f"unknown variable {{{field}}}: use {known}")
        used.append(field)
    return used


def save_reply(store: Store, name: str, text: str, by: str) -> str:
    """Validate and save (add or replace) a saved reply; returns what was done, in words."""
    _admin(store, by)
    name = " ".join((name or "").split())
    text = (text or "").strip()
    if not name:
        raise InputError("give the saved reply a name")
    if len(name) > MAX_REPLY_NAME:
        raise InputError(f"names of saved replies have at most {MAX_REPLY_NAME} characters")
    if not text:
        raise InputError("type the reply's text")
    if len(text) > MAX_REPLY_TEXT:
        raise InputError(f"a saved reply has at most {MAX_REPLY_TEXT:,} characters")
    variables_in(text)
    added = store.save_reply(name, text, by)
    return f"Saved reply “{name}” {'added' if added else 'updated'}."


def delete_reply(store: Store, name: str, by: str) -> str:
    _admin(store, by)
    if not name:
        raise InputError("choose a saved reply first")
    if not store.delete_saved_reply(name):
        raise InputError(f"there is no saved reply “{name}”")
    return f"Saved reply “{name}” deleted."


def _admin(store: Store, operator: str) -> None:
    """Saved replies are the team's voice: admins keep them (the role is read now, so a change applies at once)."""
    if store.operator_role(operator) != "admin":
        log.warning("operator %s tried to change saved replies: refused, only an admin may", operator)
        raise InputError("only an admin can add, change or delete saved replies; everyone can use them")


def customer_name(store: Store, conversation_id: str) -> str | None:
    """The customer's name where the channel gave one (`conversations.meta`: customer_name or name)."""
    meta = store.conversation_meta(conversation_id) if conversation_id else None
    name = str((meta or {}).get("customer_name") or (meta or {}).get("name") or "").strip()
    return name or None


def fill_reply(store: Store, name: str, conversation_id: str | None, operator: str, business: str) -> tuple[str, str]:
    """(the saved reply's text with its variables filled in for this conversation, a note for the
    operator: what was filled in, or what could not be)."""
    if not name:
        raise InputError("choose a saved reply")
    saved = store.saved_reply(name)
    if saved is None:
        raise InputError(f"there is no saved reply “{name}” (an admin may have deleted it)")
    used = variables_in(saved["text"])
    known = customer_name(store, conversation_id) if conversation_id else None
    values = {
        "customer_name": known or CUSTOMER_NAME_FALLBACK,
        "operator_name": operator.title(),
        "business_name": business,
    }
    text = saved["text"].format(**values)
    note = f"Filled in “{name}”: read it over, then Send."
    if "customer_name" in used and not known:
        note += f" No name is known for this customer, so {{customer_name}} became “{CUSTOMER_NAME_FALLBACK}”."
    return text, note


# --- notes and tags ----------------------------------------------------------------------------
def add_note(store: Store, conversation_id: str | None, operator: str, text: str) -> int:
    if not conversation_id:
        raise InputError("open a conversation first")
    text = (text or "").strip()
    if not text:
        raise InputError("type the note first")
    if len(text) > MAX_NOTE:
        raise InputError(f"a note has at most {MAX_NOTE:,} characters ({len(text):,} typed)")
    return store.add_note(conversation_id, operator, text)


def normal_tag(text: str) -> str:
    """ "Refund request" -> "refund-request"; InputError for anything that is not a short word."""
    tag = "-".join((text or "").strip().lower().split())
    if not tag:
        raise InputError("type a tag first")
    if not TAG.match(tag):
        raise InputError("a tag is 1-32 letters a-z, digits, '-' or '_' (e.g. refund, vip-customer)")
    return tag


def add_tag(store: Store, conversation_id: str | None, operator: str, text: str) -> str:
    if not conversation_id:
        raise InputError("open a conversation first")
    tag = normal_tag(text)
    if len(store.tags(conversation_id)) >= MAX_TAGS and tag not in store.tags(conversation_id):
        raise InputError(f"a conversation has at most {MAX_TAGS} tags")
    if not store.add_tag(conversation_id, tag, operator):
        raise InputError(f"the conversation is tagged {tag} already")
    return tag


def remove_tag(store: Store, conversation_id: str | None, text: str) -> str:
    if not conversation_id:
        raise InputError("open a conversation first")
    tag = normal_tag(text)
    if not store.remove_tag(conversation_id, tag):
        raise InputError(f"the conversation has no tag {tag}")
    return tag


# --- the transcript with notes -----------------------------------------------------------------
def note_markdown(note: dict) -> str:
    import html

    text = html.escape(note["text"]).replace("\n", "  \n> ")
    author = html.escape((note["author"] or "operator").title())
    return (
        f"🔒 **Internal note by {author}** · {str(note['created_at'])[:19]} · "
        f"_only the team sees this; never sent to the customer_\n> {text}"
    )


def transcript_with_notes(turns: list[dict], notes: list[dict], render: Callable[[list[dict]], str]) -> str:
    """The console's transcript (`render` makes one turn's markdown) with the internal notes between the
    turns, each where it was written."""
    if not notes:
        return render(turns)
    items = [(_utc(t["at"]), 0, i, render([t])) for i, t in enumerate(turns)]
    items += [(_utc(n["created_at"]), 1, i, note_markdown(n)) for i, n in enumerate(notes)]
    return "\n\n".join(part for *_, part in sorted(items))


def _utc(at: datetime) -> datetime:
    # SQLite hands back naive datetimes (UTC) for timezone-aware columns; PostgreSQL aware ones.
    return at.astimezone(timezone.utc) if at.tzinfo else at.replace(tzinfo=timezone.utc)
