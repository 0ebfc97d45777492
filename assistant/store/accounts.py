"""Named operator accounts: scrypt-hashed passwords in the store, roles, sign-in sessions, throttling.

    loopdesk operator add dana [--role admin|agent] --json   # {"name": "dana", "role": ..., "password": "..."} once
    loopdesk operator role dana agent --json
    loopdesk operator password dana --json   # a new generated password, printed once
    loopdesk operator remove dana --json     # not yourself, not the last admin, not while holding conversations

Only the hash is stored (`scrypt$n$r$p$salt$hash`, hashlib's scrypt, no extra dependency). A
signed-in console holds a random session token on the server (Gradio state), never the password.
A role is `admin` (everything) or `agent` (answers customers; cannot promote or roll back adapters,
change settings or help pages, manage operators or edit saved replies: `require_admin` refuses, and the
log says who tried).

Throttling lives in the database (`store.sign_in`), so every replica counts the same attempts, and
each attempt is recorded before its password is checked, so a burst of concurrent guesses gets at most
`MAX_FAILURES` checked. Within `LOCK_S` seconds:
- after `MAX_FAILURES` wrong passwords for a name *from one address*, that name is refused from that
  address until the window passes (a stranger guessing a known name locks only themselves out);
- after `ADDRESS_FAILURES` from one address over any names, that address is refused;
- failures for a name from any addresses slow every sign-in of that name down: from `MAX_FAILURES` on,
  `SLOW_BASE_S` doubling per further failure, at most `SLOW_MAX_S` — slower, never locked out;
- every failure also waits `FAIL_DELAY_S`. Refusals and failures are logged.
The address is the socket's, or the right-most untrusted one in X-Forwarded-For when the request comes
from one of `app.trusted_proxies` (`client_address`); behind a proxy that is not listed, every client has
the proxy's address, and five failures by anyone refuse everyone for that window.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from assistant.errors import InputError
from assistant.store.sign_in import ROLES
from assistant.store.store import Store

log = logging.getLogger("loopdesk.accounts")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
MAX_FAILURES, LOCK_S, SESSION_S, FAIL_DELAY_S = 5, 300, 12 * 3600, 0.5
ADDRESS_FAILURES = MAX_FAILURES  # wrong passwords from one address over all names
SLOW_BASE_S, SLOW_MAX_S = 0.25, 4.0
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except (ValueError, TypeError):
        return False
    return kind == "scrypt" and hmac.compare_digest(got.hex(), digest)


def create_operator(store: Store, name: str, password: str | None = None, role: str = "admin") -> str:
    """Add an account; returns the password (generated when not given)."""
    name = (name or "").strip().lower()
    if not NAME.match(name):
        raise InputError("operator names are 1-32 lowercase letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise InputError(f"role must be {' or '.join(ROLES)}")
    password = password or secrets.token_urlsafe(12)
    if len(password) < 8:
        raise InputError("passwords need at least 8 characters")
    if store.operator_account(name) is not None:
        raise InputError(f"operator {name!r} exists already")
    store.add_operator(name, hash_password(password), role)  # one write: never an admin by accident
    return password


BOOTSTRAP_OPERATOR = "admin"  # the account `app.operator_token` makes at start when it is missing (app.py)


def remove_operator(store: Store, name: str, by: str, recreated: str | None = None) -> None:
    """`by` removes the account `name`: not their own (they would lose the console mid-action), not the
    last admin's, not one holding open conversations, and not `recreated` (the account `app.operator_token`
    makes again at every start). The removed operator's sessions end at their next action
    (`Accounts.operator`)."""
    name = (name or "").strip().lower()
    if name == by:
        raise InputError("you cannot remove your own account")
    if recreated and name == recreated:
        raise InputError(f"{name} is made again from app.operator_token at every start: unset that first")
    store.remove_operator(name)
    log.info("operator %s removed by %s", name, by)


def reset_password(store: Store, name: str, by: str) -> str:
    """A new generated password for `name` (shown once; only its hash is stored)."""
    name = (name or "").strip().lower()
    password = secrets.token_urlsafe(12)
    store.set_operator_password(name, hash_password(password))
    log.info("password of operator %s reset by %s", name, by)
    return password


def slow_down_s(name_failures: int) -> float:
    """Wait before checking a password of a name that has failed this often (from any addresses)."""
    if name_failures < MAX_FAILURES:
        return 0.0
    return min(SLOW_MAX_S, SLOW_BASE_S * 2 ** min(name_failures - MAX_FAILURES, 16))


def client_address(peer: str, forwarded_for: str | None, trusted_proxies: Iterable[str]) -> str:
    """The client's address: `peer` (the socket's), unless `peer` is a trusted proxy; then the
    right-most address in X-Forwarded-For that is not a trusted proxy (the left-most when all are;
    entries to the left of the first untrusted one were written by the client and are ignored)."""
    networks = [ipaddress.ip_network(str(p).strip(), strict=False) for p in trusted_proxies]

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return any(ip.version == n.version and ip in n for n in networks)

    if not networks or not trusted(peer):
        return peer
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop[:64]
    return hops[0][:64] if hops else peer


@dataclass
class Session:
    token: str
    operator: str
    expires: float
    role: str = "admin"
    password_hash: str = ""  # as at sign-in: a reset password ends the session on every replica


class Accounts:
    """Sign-in and sessions for one app process (sessions are per process: a restart signs out;
    attempts and failures are in the database, shared by every replica)."""

    def __init__(self, store: Store, sleep: Callable[[float], None] = time.sleep) -> None:
        self.store = store
        self._sleep = sleep
        self._sessions: dict[str, Session] = {}
        # Why a session ended under the operator (account removed, password reset), said at their next
        # click even when a background refresh noticed first. Bounded: the oldest reasons go.
        self._ended: dict[str, str] = {}
        self._lock = threading.Lock()

    def sign_in(self, name: str, password: str, client: str = "") -> Session:
        """A session for a right password; InputError for a wrong one or while refused. `client` is the
        address (`client_address`); empty when unknown (then only the name's count applies)."""
        name = (name or "").strip().lower()[:64]
        client = (client or "")[:64]
        attempt, seen = self.store.begin_sign_in(name, client, LOCK_S)
        refused = None
        if seen["pair"] > MAX_FAILURES:
            refused = ("this name from this address", seen["pair_clear_s"])
        elif client and seen["address"] > ADDRESS_FAILURES:
            refused = ("this address", seen["address_clear_s"])
        if refused is not None:
            self.store.end_sign_in(attempt, "refused")
            log.warning(
                "sign-in refused for %r from %s: %s had %d wrong or unfinished attempts in %d s",
                name,
                client or "?",
                refused[0],
                (seen["pair"] if refused[0].startswith("this name") else seen["address"]) - 1,
                LOCK_S,
            )
            raise InputError(f"too many wrong passwords; try again in {int(refused[1]) + 1} s")
        delay = slow_down_s(seen["name"])
        if delay:
            log.info("sign-in for %r slowed by %.2f s: %d recent failures for the name", name, delay, seen["name"])
            self._sleep(delay)
        try:
            account = self.store.operator_account(name) if name else None
            ok = account is not None and verify_password(password or "", account["password_hash"])
        except BaseException:
            self.store.end_sign_in(attempt, "refused")
            raise
        if not ok or account is None:
            self.store.end_sign_in(attempt, "failed")
            log.warning("failed sign-in for %r from %s", name, client or "?")
            self._sleep(FAIL_DELAY_S)
            raise InputError("wrong name or password")
        self.store.end_sign_in(attempt, "signed_in")
        role = self.store.operator_role(name) or "agent"
        with self._lock:
            session = Session(secrets.token_urlsafe(24), name, time.time() + SESSION_S, role, account["password_hash"])
            self._sessions[session.token] = session
        self.store.touch_operator(name)
        log.info("operator %s (%s) signed in from %s", name, role, client or "?")
        return session

    def operator(self, token: str | None) -> str:
        """The signed-in operator for a session token; InputError when there is none."""
        session = self._sessions.get(token or "")
        if session is None or session.expires < time.time():
            raise InputError(self._ended.get(token or "", "please sign in again"))
        # Read at every action, so an account an admin removed (on any replica) stops working at once.
        account = self.store.operator_account(session.operator)
        if account is None or account["password_hash"] != session.password_hash:
            why = "your account was removed" if account is None else "your password was reset"
            with self._lock:
                self._ended[token or ""] = f"{why}; please sign in again"
                while len(self._ended) > 1000:
                    self._ended.pop(next(iter(self._ended)))
            self.sign_out(token)
            raise InputError(self._ended[token or ""])
        return session.operator

    def require_admin(self, token: str | None, action: str) -> str:
        """The signed-in operator when their role (read now, so a change applies at once) is admin;
        otherwise InputError "only an admin can <action>", and the attempt is logged."""
        operator = self.operator(token)
        role = self.store.operator_role(operator)
        if role != "admin":
            log.warning(
                "operator %s (%s) tried to %s: refused, only an admin may", operator, role or "no account", action
            )
            raise InputError(f"only an admin can {action}")
        return operator

    def sign_out(self, token: str | None) -> None:
        self._sessions.pop(token or "", None)
