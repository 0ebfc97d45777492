"""Store methods for a store owner's settings (mixed into `Store`): overrides of config values such as
the business name, set in the console or with `loopdesk settings set`, kept in the database so every
replica serves the same ones. What the keys mean and which values are valid is `assistant.settings`'s
business; here each row is only a key, a JSON value, who changed it and when.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from assistant.store.mixin import StoreMixin
from assistant.store.schema import settings


class SettingsRecords(StoreMixin):
    """Mixin: the `settings` table (migration 17)."""

    def settings(self) -> dict[str, dict]:
        """key -> {"value", "updated_by", "updated_at"} for every key ever set (value None: reset to
        the config file's value, by `updated_by`)."""
        rows = self._read(sa.select(settings))
        return {r["key"]: {k: r[k] for k in ("value", "updated_by", "updated_at")} for r in rows}

    def put_setting(self, key: str, value: Any, by: str) -> None:
        """Write one setting (None: back to the config file's value) in one transaction."""

        def tx(c):
            now = self._now()
            done = c.execute(
                sa.update(settings).where(settings.c.key == key).values(value=value, updated_by=by, updated_at=now)
            )
            if done.rowcount == 0:
                c.execute(settings.insert().values(key=key, value=value, updated_by=by, updated_at=now))

        try:
            self._write(tx)
        except sa.exc.IntegrityError:  # another replica inserted the key at the same moment: update it
            self._write(
                lambda c: c.execute(
                    sa.update(settings)
                    .where(settings.c.key == key)
                    .values(value=value, updated_by=by, updated_at=self._now())
                )
            )
