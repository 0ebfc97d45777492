"""Store methods for state every app replica shares (mixed into `Store`): HTTP API keys and the
deployment (the live adapter and the current index build), so a promotion or an index rebuild made
through one replica is what all of them serve at their next turn.
"""

from __future__ import annotations

import sqlalchemy as sa

from assistant.errors import StoreError
from assistant.store.mixin import StoreMixin
from assistant.store.schema import api_keys, deployment


class ApiKeyRecords(StoreMixin):
    """Mixin: HTTP API clients, by name, with the SHA-256 of their key."""

    def add_api_key(self, name: str, key_hash: str) -> None:
        def tx(c):
            if c.execute(sa.select(api_keys.c.name).where(api_keys.c.name == name)).first():
                raise StoreError(f"an API key named {name!r} exists already")
            c.execute(api_keys.insert().values(name=name, key_hash=key_hash, created_at=self._now()))

        self._write(tx)

    def api_key_name(self, key_hash: str) -> str | None:
        rows = self._read(
            sa.select(api_keys.c.name).where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
        )
        return rows[0]["name"] if rows else None

    def revoke_api_key(self, name: str) -> bool:
        """Revoke a key by name (its requests get 401 from now on); False when no live key has that name."""

        def tx(c) -> bool:
            done = c.execute(
                sa.update(api_keys)
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=self._now())
            )
            return bool(done.rowcount)

        return bool(self._write(tx))

    def api_key_names(self) -> list[str]:
        return [
            r["name"]
            for r in self._read(
                sa.select(api_keys.c.name).where(api_keys.c.revoked_at.is_(None)).order_by(api_keys.c.name)
            )
        ]


class DeploymentRecords(StoreMixin):
    """Mixin: what every replica serves (`live_adapter`, `index_build`), shared through the database."""

    def deployed(self, key: str) -> dict | None:
        rows = self._read(sa.select(deployment.c.value).where(deployment.c.key == key))
        return rows[0]["value"] if rows else None

    def deploy_if(self, key: str, value: dict, expected: str | None, field: str = "version") -> bool:
        """Compare-and-set: write `value` only if the record's `field` still equals `expected` (no record
        counts as None); False when another writer got there first. Of two promotions at once on any
        number of replicas, exactly one changes the record."""

        def tx(c) -> bool:
            now = self._now()
            # Lock first (a row lock on PostgreSQL, the write lock on SQLite), then read: the check
            # and the write see the same record.
            locked = c.execute(sa.update(deployment).where(deployment.c.key == key).values(updated_at=now)).rowcount
            row = c.execute(sa.select(deployment.c.value).where(deployment.c.key == key)).first()
            if ((row[0] or {}).get(field) if row else None) != expected:
                return False
            if locked:
                c.execute(sa.update(deployment).where(deployment.c.key == key).values(value=value, updated_at=now))
            else:
                c.execute(deployment.insert().values(key=key, value=value, updated_at=now))
            return True

        try:
            return bool(self._write(tx))
        except sa.exc.IntegrityError:  # another replica inserted the first record at the same moment
            return False

    def deploy(self, key: str, value: dict) -> None:
        def tx(c):
            now = self._now()
            if (
                c.execute(
                    sa.update(deployment).where(deployment.c.key == key).values(value=value, updated_at=now)
                ).rowcount
                == 0
            ):
                c.execute(deployment.insert().values(key=key, value=value, updated_at=now))

        try:
            self._write(tx)
        except sa.exc.IntegrityError:  # another replica inserted it first: update
            self._write(
                lambda c: c.execute(
                    sa.update(deployment).where(deployment.c.key == key).values(value=value, updated_at=self._now())
                )
            )
