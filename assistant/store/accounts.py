"""Named operator accounts: scrypt-hashed passwords in the store, sign-in sessions, throttling.

    loopdesk operator add dana --json      # prints {"name": "dana", "password": "..."} once

Only the hash is stored (`scrypt$n$r$p$salt$hash`, hashlib's scrypt, no extra dependency). A
signed-in console holds a random session token on the server (Gradio state), never the password.
After `MAX_FAILURES` wrong passwords for a name, or from one client address, within `LOCK_S`
seconds further tries are refused until the window passes (logged); every failure also waits
`FAIL_DELAY_S`, so guessing is slow.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass

from assistant.errors import InputError
from assistant.store.store import Store

log = logging.getLogger("loopdesk.accounts")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
MAX_FAILURES, LOCK_S, SESSION_S, FAIL_DELAY_S = 5, 300, 12 * 3600, 0.5
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


def create_operator(store: Store, name: str, password: str | None = None) -> str:
    """Add an account; returns the password (generated when not given)."""
    name = (name or "").strip().lower()
    if not NAME.match(name):
        raise InputError("operator names are 1-32 lowercase letters, digits, '.', '_' or '-'")
    password = password or secrets.token_urlsafe(12)
    if len(password) < 8:
        raise InputError("passwords need at least 8 characters")
    if store.operator_account(name) is not None:
        raise InputError(f"operator {name!r} exists already")
    store.add_operator(name, hash_password(password))
    return password


@dataclass
class Session:
    token: str
    operator: str
    expires: float


class Accounts:
    """Sign-in and sessions for one app process (sessions are per process: a restart signs out)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def sign_in(self, name: str, password: str, client: str = "") -> Session:
        name = (name or "").strip().lower()
        now = time.time()
        keys = [f"name:{name}"] + ([f"client:{client}"] if client else [])
        with self._lock:
            for key in keys:
                recent = [t for t in self._failures.get(key, []) if now - t < LOCK_S]
                self._failures[key] = recent
                if len(recent) >= MAX_FAILURES:
                    log.warning(
                        "sign-in refused for %r from %s: %s locked after %d failures",
                        name,
                        client or "?",
                        key.split(":")[0],
                        len(recent),
                    )
                    raise InputError(f"too many wrong passwords; try again in {int(LOCK_S - (now - recent[0])) + 1} s")
        account = self.store.operator_account(name) if name else None
        if account is None or not verify_password(password or "", account["password_hash"]):
            with self._lock:
                for key in keys:
                    self._failures.setdefault(key, []).append(now)
            log.warning("failed sign-in for %r from %s", name, client or "?")
            time.sleep(FAIL_DELAY_S)
            raise InputError("wrong name or password")
        with self._lock:
            self._failures.pop(keys[0], None)
            session = Session(secrets.token_urlsafe(24), name, now + SESSION_S)
            self._sessions[session.token] = session
        self.store.touch_operator(name)
        log.info("operator %s signed in", name)
        return session

    def operator(self, token: str | None) -> str:
        """The signed-in operator for a session token; InputError when there is none."""
        session = self._sessions.get(token or "")
        if session is None or session.expires < time.time():
            raise InputError("please sign in again")
        return session.operator

    def sign_out(self, token: str | None) -> None:
        self._sessions.pop(token or "", None)
