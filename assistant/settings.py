"""A store owner's settings: the business name, greeting, accent colour and answered languages, set in
the console's Settings tab (admins) or with `loopdesk settings set`, stored in the database (every
replica agrees) and laid over the config file's values (`app.business_name`, `app.greeting`,
`app.colour`, `policy.supported_languages`). A key never set, or reset, keeps the config file's value.

    live = LiveSettings(store, cfg)
    live.set("business_name", "Harbor Bank", by="dana")   # InputError with a clear reason when invalid
    live.current().business_name                          # "Harbor Bank" (on every replica within CHECK_S)
    live.config()                                         # the config with the overrides laid over it

Readers call `current()` (or `config()`) when they need a value — at a page load, at each turn — so a
change applies without a restart: at once in the process that made it, within `CHECK_S` seconds in the
others. When the database cannot be read the last values read keep serving (the log says why).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from assistant.config import LANGUAGES, Config
from assistant.errors import InputError, LoopdeskError

log = logging.getLogger("loopdesk.settings")

CHECK_S = 2.0  # how stale another replica's change may be here: one database read per this, per process
MAX_NAME, MAX_GREETING = 80, 500
LANGUAGE_NAMES = {"en": "English", "fr": "French", "es": "Spanish", "de": "German", "it": "Italian", "pt": "Portuguese"}
KEYS = {
    "business_name": "app.business_name",
    "greeting": "app.greeting",
    "colour": "app.colour",
    "supported_languages": "policy.supported_languages",
}
"""Setting -> the config field it overrides."""
HEX = re.compile(r"#[0-9a-fA-F]{6}")


def check(key: str, value: Any) -> Any:
    """`value` for `key` as stored (trimmed, normalised); InputError saying what is wrong otherwise."""
    if key not in KEYS:
        raise InputError(f"unknown setting {key!r}: choose one of {', '.join(KEYS)}")
    if key == "supported_languages":
        picked = value.split(",") if isinstance(value, str) else list(value or [])
        codes = [str(c).strip().lower() for c in picked if str(c).strip()]
        unknown = [c for c in codes if c not in LANGUAGES]
        if unknown:
            raise InputError(f"unknown language {', '.join(unknown)}: choose from {', '.join(LANGUAGES)}")
        if not codes:
            raise InputError("choose at least one language the assistant answers in")
        # The first is the default for messages too short to tell: English first whenever it is chosen.
        return [c for c in LANGUAGES if c in codes]
    if not isinstance(value, str):
        raise InputError(f"{key} must be text")
    if key == "business_name":
        name = " ".join(value.split())  # no line breaks: it sits in titles and sentences
        if not name:
            raise InputError("the business name must not be empty")
        if len(name) > MAX_NAME:
            raise InputError(f"the business name is {len(name)} characters; at most {MAX_NAME}")
        return name
    if key == "greeting":
        text = value.strip()
        if len(text) > MAX_GREETING:
            raise InputError(f"the greeting is {len(text)} characters; at most {MAX_GREETING}")
        return text  # empty: the built-in greeting, in the customer's language
    colour = value.strip()
    if not HEX.fullmatch(colour):
        raise InputError(f"the colour must be a hex colour like #1d4ed8, not {value.strip()[:20]!r}")
    return colour.lower()


@dataclass(frozen=True)
class Effective:
    """The values in effect: the owner's where set, else the config file's."""

    business_name: str
    greeting: str
    """The owner's greeting; empty means the built-in one, in the page's language."""
    colour: str
    supported_languages: tuple[str, ...]
    title: str
    """The page title: `app.title` when the config sets one, else "<business_name> support"."""


class LiveSettings:
    """The settings in effect for one process, read from the store at most every `check_s` seconds."""

    def __init__(self, store, cfg: Config, check_s: float = CHECK_S) -> None:
        """`store` None: the config's values alone (an evaluation names its business in its config)."""
        self.store, self.cfg, self.check_s = store, cfg, check_s
        self._rows: dict[str, dict] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()
        self._config: tuple[tuple, Config] | None = None
        self.problem = ""
        """Why the last read failed ("" when it worked): the values read before keep serving."""

    # --- reading -------------------------------------------------------------------------------
    def _fresh_rows(self) -> dict[str, dict]:
        with self._lock:
            if self.store is not None and time.monotonic() - self._read_at >= self.check_s:
                self._read_at = time.monotonic()  # one failing read per period, not one per caller
                try:
                    self._rows = {k: r for k, r in self.store.settings().items() if k in KEYS}
                    self.problem = ""
                except (LoopdeskError, AttributeError) as exc:  # AttributeError: a store without settings
                    if str(exc) != self.problem:
                        log.error("settings unreadable, serving the ones read before: %s", exc)
                    self.problem = str(exc)
            return self._rows

    def overrides(self) -> dict[str, Any]:
        """The keys the owner set (and did not reset), with their values."""
        return {k: r["value"] for k, r in self._fresh_rows().items() if r["value"] is not None}

    def current(self) -> Effective:
        o, app = self.overrides(), self.cfg.app
        name = o.get("business_name", app.business_name)
        return Effective(
            business_name=name,
            greeting=o.get("greeting", app.greeting),
            colour=o.get("colour", app.colour),
            supported_languages=tuple(o.get("supported_languages", self.cfg.policy.supported_languages)),
            title=app.title or f"{name} support",
        )

    def config(self) -> Config:
        """The config with the overrides laid over it (the config itself while there are none)."""
        o = self.overrides()
        if not o:
            return self.cfg
        key = tuple(sorted((k, repr(v)) for k, v in o.items()))
        if self._config is None or self._config[0] != key:
            app_changes = {k: v for k, v in o.items() if k in ("business_name", "greeting", "colour")}
            policy = self.cfg.policy
            if "supported_languages" in o:
                policy = dataclasses.replace(policy, supported_languages=list(o["supported_languages"]))
            self._config = (
                key,
                dataclasses.replace(self.cfg, app=dataclasses.replace(self.cfg.app, **app_changes), policy=policy),
            )
        return self._config[1]

    def rows(self) -> list[dict]:
        """Each setting: key, value in effect, where it comes from, the config file's value, who changed
        it and when (for the console and `loopdesk settings show`)."""
        rows = self._fresh_rows()
        eff = dataclasses.asdict(self.current())
        out = []
        for key, field in KEYS.items():
            section, name = field.split(".")
            row = rows.get(key) or {}
            set_here = row.get("value") is not None
            value = eff[key]
            out.append(
                {
                    "key": key,
                    "value": list(value) if isinstance(value, tuple) else value,
                    "source": "settings (database)" if set_here else f"config {field} ({self.cfg.sources.get(field)})",
                    "config_value": getattr(getattr(self.cfg, section), name),
                    "updated_by": row.get("updated_by"),
                    "updated_at": str(row["updated_at"])[:19] if row.get("updated_at") else None,
                }
            )
        return out

    # --- writing -------------------------------------------------------------------------------
    def set(self, key: str, value: Any, by: str) -> Any:
        """Validate and store one setting; this process uses it from the next read on. Returns the value
        as stored."""
        clean = check(key, value)
        self._writable().put_setting(key, clean, by)
        log.info("%s set %s to %r", by, key, clean)
        self._expire()
        return clean

    def update(self, wanted: dict[str, Any], by: str) -> list[str]:
        """Validate every value of `wanted` (key -> value) and store those that differ from the values in
        effect; InputError naming every problem at once, and then nothing is stored. The keys changed."""
        clean, problems = {}, []
        for key, value in wanted.items():
            try:
                clean[key] = check(key, value)
            except InputError as exc:
                problems.append(str(exc))
        if problems:
            raise InputError("; ".join(problems))
        now = dataclasses.asdict(self.current())
        changed = [k for k, v in clean.items() if v != (list(now[k]) if isinstance(now[k], tuple) else now[k])]
        for key in changed:
            self.set(key, clean[key], by)
        return changed

    def reset(self, key: str, by: str) -> None:
        """Back to the config file's value (the row keeps who did it and when)."""
        if key not in KEYS:
            raise InputError(f"unknown setting {key!r}: choose one of {', '.join(KEYS)}")
        self._writable().put_setting(key, None, by)
        log.info("%s reset %s to the config file's value", by, key)
        self._expire()

    def _writable(self):
        if self.store is None:
            raise InputError("these settings come from the config file alone here; change them in the app's console")
        return self.store

    def _expire(self) -> None:
        with self._lock:
            self._read_at = float("-inf")
