"""What the store's query mixins (`store_console`, `store_handoff`, `store_shared`) use from `Store`:
declared once here so each mixin type-checks on its own; `Store` provides the real methods."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable


class StoreMixin:
    engine: Any  # the SQLAlchemy engine (its dialect picks SQL that differs between SQLite and PostgreSQL)

    def _read(self, query: Any) -> list[dict]:
        raise NotImplementedError

    def _write(self, fn: Callable[[Any], Any]) -> Any:
        raise NotImplementedError

    @staticmethod
    def _now() -> datetime:
        raise NotImplementedError
