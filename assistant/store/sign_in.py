"""Store methods for console sign-in (mixed into `Store`): attempts counted in the database, so every
replica sees the same failures, and operator roles. The policy (limits, delays) is `accounts`'.

An attempt is recorded (`pending`) and counted with the attempts in the window in one transaction that
holds the address's lock (SQLite: the write lock its insert takes; PostgreSQL: an advisory transaction
lock on the address, since READ COMMITTED would hide a concurrent attempt's uncommitted row), so the
k-th attempt counts the k-1 before it and at most the limit get their password checked however many
arrive together. A pending attempt counts as a failure until it ends: `failed`
(kept until the window passes), refused or signed in (removed; signing in also clears the failures of
that name from that address). Rows older than the window are purged as new attempts come in.

Tables: `sign_in_attempts` and the `role` column of `operators` (migration 13).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from assistant.errors import InputError
from assistant.store.mixin import StoreMixin

ROLES = ("admin", "agent")  # admin: everything; agent: not adapters, settings, operators or saved replies

_md = sa.MetaData()
sign_in_attempts = sa.Table(
    "sign_in_attempts",
    _md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64)),
    sa.Column("address", sa.String(64)),
    sa.Column("state", sa.String(8)),  # pending | failed
    sa.Column("at", sa.DateTime(timezone=True)),
)
# Only the columns this module reads or writes (`schema.operators` describes the rest of the table).
_operator_roles = sa.Table(
    "operators", _md, sa.Column("name", sa.String(64), primary_key=True), sa.Column("role", sa.String(16))
)


def admins_locked(c) -> int:
    """How many admins there are, counted after a write to their rows, so the transaction holds them until
    it ends: of two admins demoting or removing each other at once, the second waits and counts again.
    (The no-op UPDATE, not a SELECT: SQLite's driver opens the transaction at the first write, and a read
    before it would see the state before the other's commit.)"""
    t = _operator_roles
    c.execute(sa.update(t).where(t.c.role == "admin").values(role=t.c.role))
    return len(c.execute(sa.select(t.c.name).where(t.c.role == "admin")).all())


_COUNTED = ("pending", "failed")


def _lock_key(address: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory lock on an address."""
    import hashlib

    return int.from_bytes(hashlib.sha256(address.encode()).digest()[:8], "big", signed=True)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)  # SQLite gives naive UTC back


class SignInRecords(StoreMixin):
    def begin_sign_in(self, name: str, address: str, window_s: float) -> tuple[int, dict]:
        """Record an attempt (committed), then count what the window holds, this attempt included:
        `pair` attempts pending or failed for (name, address), `address` the same for the address over
        every name, `name` failures for the name from any address, and `pair_clear_s` /
        `address_clear_s` seconds until the oldest of those leaves the window."""
        name, address = name[:64], address[:64]
        now = self._now()
        since = now - timedelta(seconds=window_s)

        t = sign_in_attempts
        recent = sa.and_(t.c.at >= since, t.c.state.in_(_COUNTED))
        n, oldest = sa.func.count().label("n"), sa.func.min(t.c.at).label("oldest")

        def reserve(c):
            if c.dialect.name == "postgresql":
                # One attempt per address at a time: its insert and count see every earlier attempt
                # (READ COMMITTED would hide a concurrent one's uncommitted row). SQLite's write lock,
                # taken by the insert below, does the same.
                c.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(address))))
            c.execute(sa.delete(t).where(t.c.at < since))
            row = dict(name=name, address=address, state="pending", at=now)
            attempt = c.execute(t.insert().values(**row)).inserted_primary_key[0]
            pair = c.execute(sa.select(n, oldest).where(recent, t.c.name == name, t.c.address == address)).one()
            by_address = c.execute(sa.select(n, oldest).where(recent, t.c.address == address)).one()
            return attempt, dict(pair._mapping), dict(by_address._mapping)

        attempt, pair, by_address = self._write(reserve)
        failed = sa.and_(t.c.at >= since, t.c.state == "failed", t.c.name == name)
        by_name = self._read(sa.select(n).where(failed))[0]

        def clear_s(at: datetime | None) -> float:
            return max(0.0, window_s - (now - _aware(at)).total_seconds()) if at else 0.0

        counts = dict(
            pair=pair["n"],
            address=by_address["n"],
            name=by_name["n"],
            pair_clear_s=clear_s(pair["oldest"]),
            address_clear_s=clear_s(by_address["oldest"]),
        )
        return attempt, counts

    def end_sign_in(self, attempt: int, outcome: str) -> None:
        """`failed` keeps the attempt as a failure; `refused` drops it (a refused try is not a guess);
        `signed_in` drops it and the failures of its name from its address."""
        t = sign_in_attempts

        def tx(c):
            if outcome == "failed":
                c.execute(sa.update(t).where(t.c.id == attempt).values(state="failed"))
                return
            row = c.execute(sa.select(t.c.name, t.c.address).where(t.c.id == attempt)).first()
            c.execute(sa.delete(t).where(t.c.id == attempt))
            if outcome == "signed_in" and row is not None:
                c.execute(sa.delete(t).where(t.c.name == row.name, t.c.address == row.address, t.c.state == "failed"))

        if outcome not in ("failed", "refused", "signed_in"):
            raise ValueError(f"unknown sign-in outcome {outcome!r}")
        self._write(tx)

    def sign_in_failures(self, name: str | None = None, address: str | None = None) -> int:
        """Failures on record (any age still kept), for a name and/or an address."""
        t = sign_in_attempts
        q = sa.select(sa.func.count().label("n")).where(t.c.state == "failed")
        if name is not None:
            q = q.where(t.c.name == name)
        if address is not None:
            q = q.where(t.c.address == address)
        return self._read(q)[0]["n"]

    # --- roles ------------------------------------------------------------------------------------
    def operator_role(self, name: str) -> str | None:
        """`admin` or `agent`; None when there is no such account."""
        rows = self._read(sa.select(_operator_roles.c.role).where(_operator_roles.c.name == name))
        return rows[0]["role"] if rows else None

    def set_operator_role(self, name: str, role: str) -> None:
        if role not in ROLES:
            raise InputError(f"role must be {' or '.join(ROLES)}")

        def tx(c):
            t = _operator_roles
            admins = admins_locked(c)  # first: the row read next is then the committed one
            now = c.execute(sa.select(t.c.role).where(t.c.name == name)).first()
            if now is None:
                raise InputError(f"no operator {name!r}")
            if now[0] == "admin" and role != "admin" and admins <= 1:  # nobody could manage the team after
                raise InputError(f"{name} is the last admin: make someone else admin first")
            c.execute(sa.update(t).where(t.c.name == name).values(role=role))

        self._write(tx)
