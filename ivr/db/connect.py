"""Opening the SQLite file with the pragmas every connection needs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils


def connect(path: Path | str, *, readonly: bool = False) -> sqlite_utils.Database:
    """Open ``path`` in WAL mode with secure deletion and foreign keys on.

    ``isolation_level=None`` puts sqlite3 in autocommit mode so that callers open
    transactions explicitly (``BEGIN IMMEDIATE``) and DDL is transactional too.
    """
    path = Path(path)
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA foreign_keys = ON")
    # Deleted caller data is overwritten with zeros, not left in free pages.
    conn.execute("PRAGMA secure_delete = ON")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    return sqlite_utils.Database(conn)


def utcnow() -> str:
    """Timestamps are stored as ISO-8601 UTC text, which sorts and compares correctly."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One short write transaction on a :func:`connect` connection, for sync code outside
    :class:`ivr.db.writer.Database` (worker processes, CLI set-up)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
