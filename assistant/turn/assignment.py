"""A support team working the handoff queue: assign, transfer, close several at once, and who is online.

- **Assign** (anyone signed in): a queued item is assigned to a named operator; it stays queued (anyone
  may still take it) and the queue shows it first and marked for the assignee.
- **Transfer** (the holder or an admin): a conversation a person holds moves to another operator, who
  holds it from then on (their replies, their name on the customer's page). Assigning an item a person
  holds is a transfer.
- **Close several** (anyone signed in): each selected item is closed as a single close would, one
  `closed` event each; the ones that cannot be (closed meanwhile) are reported, the others still close.
- **Status**: each operator is `online` or `away` (stored, so every replica agrees). Customers are told
  someone is online only when an operator has the console open and is not away (`Handoff.operators_online`).
  No item is assigned automatically: a person picks who answers.

Every move is a `handoff_events` row (`assigned` / `transferred` / `closed`: who, when, from whom to whom).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from assistant.errors import InputError, LoopdeskError
from assistant.store.assignment import STATUSES
from assistant.store.store import Store
from assistant.turn.handoff import ONLINE_WINDOW_S, OPEN_STATES, Handoff

MAX_BULK = 200  # the queue lists at most 200 items; more ids than that is not a selection from it


@dataclass
class Member:
    """One operator account as the queue shows it."""

    name: str
    role: str
    status: str  # online | away (what they chose)
    presence: str  # online | away | signed out (status, and whether their console is open now)


class Assignment:
    """The team rules over a store and the handoff rules. Every method records who acted."""

    def __init__(self, store: Store, handoff: Handoff) -> None:
        self.store, self.handoff = store, handoff

    def _operator(self, name: str) -> str:
        name = (name or "").strip().lower()
        if not name:
            raise InputError("choose an operator first")
        if self.store.operator_account(name) is None:
            raise InputError(f"there is no operator named {name!r}")
        return name

    def assign(self, conversation_id: str, to: str, actor: str) -> str:
        """Assign a queued item to `to`, or transfer it when a person holds it. Returns what was done
        ("assigned" or "transferred"); InputError says why not."""
        to = self._operator(to)
        row = self.store.handoff(conversation_id)
        if not row or row["state"] not in OPEN_STATES:
            raise InputError("this conversation is not in the queue any more")
        if row["state"] == "human":
            self.transfer(conversation_id, to, actor)
            return "transferred"
        if row.get("assigned_to") == to:
            raise InputError(f"it is assigned to {to} already")
        if not self.store.assign_handoff(conversation_id, to, actor, row.get("assigned_to")):
            raise InputError("it changed meanwhile (taken, closed or assigned by someone else); look again")
        return "assigned"

    def transfer(self, conversation_id: str, to: str, actor: str) -> None:
        """Move a conversation a person holds to `to`; only its holder or an admin may."""
        to = self._operator(to)
        row = self.store.handoff(conversation_id)
        if not row or row["state"] != "human":
            raise InputError("only a conversation a person has taken can be transferred")
        holder = row["operator"]
        if holder == to:
            raise InputError(f"{to} has it already")
        if actor != holder and self.store.operator_role(actor) != "admin":
            raise InputError(f"only {holder} or an admin can transfer this conversation")
        if not self.store.transfer_handoff(conversation_id, holder, to, actor):
            raise InputError("it changed meanwhile (handed back, closed or transferred); look again")

    def close_many(self, conversation_ids: list[str], actor: str) -> tuple[list[str], list[tuple[str, str]]]:
        """Close each item (one `closed` event each). Returns (closed ids, [(id, why not)])."""
        ids = list(dict.fromkeys(str(c) for c in conversation_ids or [] if c))
        if not ids:
            raise InputError("select the queue items to close first")
        if len(ids) > MAX_BULK:
            raise InputError(f"select at most {MAX_BULK} items at once")
        closed, refused = [], []
        admin = self.store.operator_role(actor) == "admin"
        for cid in ids:
            row = self.store.handoff(cid)
            # A conversation someone is answering closes only by its holder or an admin: ticked while
            # queued, taken by a colleague before the click, it must not close under them.
            if row and row["state"] == "human" and row["operator"] != actor and not admin:
                refused.append((cid, f"{row['operator']} is answering it now"))
                continue
            try:
                self.handoff.close(cid, actor)
                closed.append(cid)
            except LoopdeskError as exc:  # closed meanwhile, or gone: the others still close
                refused.append((cid, str(exc)))
        return closed, refused

    def set_status(self, operator: str, status: str) -> None:
        if status not in STATUSES:
            raise InputError(f"status must be {' or '.join(STATUSES)}")
        self.store.set_operator_status(operator, status)

    def team(self, now: datetime | None = None) -> list[Member]:
        """Every operator with their status and whether their console is open (seen within ONLINE_WINDOW_S)."""
        since = (now or datetime.now(timezone.utc)) - timedelta(seconds=ONLINE_WINDOW_S)
        out = []
        for r in self.store.operator_team():
            seen = r["last_seen_at"]
            seen = seen.replace(tzinfo=timezone.utc) if seen is not None and seen.tzinfo is None else seen
            status = r["status"] or "online"
            presence = status if seen is not None and seen >= since else "signed out"
            out.append(Member(r["name"], r["role"] or "agent", status, presence))
        return out
