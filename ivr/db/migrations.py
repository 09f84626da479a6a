"""Migrations as decorated functions, in the manner of sqlite-utils' sqlite-migrate.

Each migration runs inside one transaction together with the row that marks it
done, so a migration that fails leaves the schema exactly as it was. Migrations
must use ``db.execute`` / ``db.create_table`` (never ``executescript`` or
``table.transform``, which commit on their own).

This module is the mechanism only; the hotline's own migrations, and :func:`ivr.db.schema.migrate`
which applies them, live in :mod:`ivr.db.schema` (which imports this one, never the other way).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

from ivr.db.connect import utcnow

log = logging.getLogger(__name__)

MIGRATIONS_TABLE = "_ivr_migrations"

MigrationFn = Callable[[sqlite_utils.Database], None]


class MigrationError(Exception):
    """A migration failed; the schema is unchanged."""


class NewerDatabaseError(Exception):
    """The database was migrated by a newer version of ivr than this one."""


@dataclass(frozen=True)
class Migration:
    name: str
    fn: MigrationFn


class Migrations:
    """An ordered set of named migrations. Order is the order of definition."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._migrations: list[Migration] = []

    def __call__(self, fn: MigrationFn) -> MigrationFn:
        if any(m.name == fn.__name__ for m in self._migrations):
            raise ValueError(f"migration {fn.__name__} is defined twice")
        self._migrations.append(Migration(fn.__name__, fn))
        return fn

    @property
    def names(self) -> list[str]:
        return [m.name for m in self._migrations]

    def applied(self, db: sqlite_utils.Database) -> list[str]:
        if not db[MIGRATIONS_TABLE].exists():
            return []
        return [r["name"] for r in db.query(f"select name from {MIGRATIONS_TABLE} order by id")]

    def pending(self, db: sqlite_utils.Database) -> list[Migration]:
        self._refuse_newer(db)
        done = set(self.applied(db))
        return [m for m in self._migrations if m.name not in done]

    def _refuse_newer(self, db: sqlite_utils.Database) -> None:
        unknown = [n for n in self.applied(db) if n not in self.names]
        if unknown:
            raise NewerDatabaseError(
                f"{db.conn.execute('PRAGMA database_list').fetchone()[2]} was migrated by a newer "
                f"version of ivr (unknown migration {unknown[0]!r}); upgrade ivr to use it"
            )

    def apply(self, db: sqlite_utils.Database) -> list[str]:
        """Apply every pending migration; return the names applied (empty when up to date)."""
        db.execute(
            f"create table if not exists {MIGRATIONS_TABLE} "
            "(id integer primary key, name text unique not null, applied_at text not null)"
        )
        done: list[str] = []
        for migration in self.pending(db):
            db.execute("BEGIN IMMEDIATE")
            # Another process (say `ivr transcribe` started beside `ivr engine`) may have applied
            # it while we waited for the write lock: decide again under the lock.
            if db.execute(f"select 1 from {MIGRATIONS_TABLE} where name = ?", [migration.name]).fetchone():
                db.execute("ROLLBACK")
                continue
            try:
                migration.fn(db)
                db.execute(
                    f"insert into {MIGRATIONS_TABLE} (name, applied_at) values (?, ?)",
                    [migration.name, utcnow()],
                )
            except Exception as exc:
                db.execute("ROLLBACK")
                raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
            db.execute("COMMIT")
            log.info("applied migration %s", migration.name)
            done.append(migration.name)
        return done
