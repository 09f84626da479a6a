"""Opening the SQLite file with the pragmas every connection needs."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from ivr.files import PRIVATE_FILE, SHARED_DIR, make_dir


class DatabaseUnusable(Exception):
    """The SQLite file cannot be used: not a database, damaged, read-only or unreachable.

    The message is one line naming the file and what to do about it.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} {reason}")
        self.path = path
        self.reason = reason


def describe(exc: sqlite3.Error) -> str:
    """What an SQLite error means for the operator, as a short phrase with what to do."""
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_NOTADB":
        return "is not an SQLite database (check IVR_DB, or restore the file from a backup)"
    if name == "SQLITE_CORRUPT":
        return "is damaged (database disk image is malformed); restore it from a backup"
    if name.startswith("SQLITE_READONLY"):
        return "is read-only; make the file and its folder writable by this user"
    if name.startswith("SQLITE_CANTOPEN"):
        return "cannot be opened; check that the file and its folder (IVR_DATA_DIR) exist and are writable"
    if name == "SQLITE_FULL":
        return "cannot be written: the disk is full"
    return f"cannot be used ({exc})"


def readonly_uri(path: Path | str) -> str:
    """The URI that opens ``path`` read-only; percent-encoded, so a folder named with ``?``, ``#`` or
    ``%`` still names the right file."""
    return Path(path).absolute().as_uri() + "?mode=ro"


def connect(path: Path | str, *, readonly: bool = False) -> sqlite_utils.Database:
    """Open ``path`` in WAL mode with secure deletion and foreign keys on.

    ``isolation_level=None`` puts sqlite3 in autocommit mode so that callers open
    transactions explicitly (``BEGIN IMMEDIATE``) and DDL is transactional too.
    """
    path = Path(path)
    try:
        if readonly:
            conn = sqlite3.connect(
                readonly_uri(path), uri=True, check_same_thread=False, isolation_level=None
            )
        else:
            make_dir(path.parent, SHARED_DIR)
            if not path.exists():  # created private; SQLite gives the WAL and SHM files this mode
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE))
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA foreign_keys = ON")
        # Deleted caller data is overwritten with zeros, not left in free pages.
        conn.execute("PRAGMA secure_delete = ON")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as exc:
        raise DatabaseUnusable(path, describe(exc)) from exc
    except OSError as exc:
        reason = f"cannot be created ({exc.strerror}); check that IVR_DATA_DIR is writable"
        raise DatabaseUnusable(path, reason) from exc
    return sqlite_utils.Database(conn)


def check_usable(db: sqlite_utils.Database, path: Path | str) -> None:
    """Refuse to serve a database that is damaged or cannot be written: ``PRAGMA quick_check``
    and a write probe (a table created and rolled back, so nothing is left behind).

    Run at start-up, so a bad file stops the service with one line instead of failing calls.
    """
    path = Path(path)
    try:
        rows = db.execute("PRAGMA quick_check").fetchall()
        if [tuple(r) for r in rows] != [("ok",)]:
            first = " ".join(str(rows[0][0]).split()) if rows else "no answer"  # one line
            raise DatabaseUnusable(path, f"is damaged (quick_check: {first}); restore it from a backup")
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE ivr_write_probe (x)")
        finally:
            db.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise DatabaseUnusable(path, describe(exc)) from exc


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
