"""Async access to the case database, in the manner of datasette.

One writer thread owns the only write connection; async code hands it functions
and awaits their results, so the event loop never waits on SQLite and writes
never contend with each other. Reads run in a small thread pool, each thread
with its own connection (WAL lets them read while the writer writes).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from ivr.db.connect import check_usable, connect
from ivr.db.schema import migrate

log = logging.getLogger(__name__)

T = TypeVar("T")
WriteFn = Callable[[sqlite_utils.Database], T]


class DatabaseClosed(Exception):
    """A write was submitted after :meth:`Database.close`."""


class DatabaseMoved(Exception):
    """The file at the database's path is no longer the one this process writes to.

    Someone deleted it or its ``-wal`` file, or copied another file over it (a hand-made "restore", a
    clean-up of files that look temporary). SQLite would go on committing into the unlinked inode,
    where no other process reads it, and everything would be lost at the next restart. So the write is
    rolled back and refused. The message is one line naming the file.
    """


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


class Database:
    def __init__(self, path: Path | str, *, readers: int = 2, migrate_on_open: bool = True,
                 on_moved: Callable[[str], None] | None = None) -> None:
        """``on_moved`` is told, once, why writes are refused when the file is found moved (see
        :class:`DatabaseMoved`): a long-running service's comes from :func:`ivr.lifecycle.service_database`."""
        self.path = Path(path)
        self.on_moved = on_moved
        self._moved: str | None = None
        self._queue: queue.Queue[tuple[WriteFn[Any], Future[Any]] | None] = queue.Queue()
        self._local = threading.local()
        self._read_dbs: list[sqlite_utils.Database] = []
        self._read_lock = threading.Lock()
        self._closed = False
        write_db = connect(self.path)
        try:
            if migrate_on_open:
                migrate(write_db)
            # A damaged or read-only file stops start-up with one line, instead of failing calls later.
            check_usable(write_db, self.path)
        except BaseException:
            write_db.conn.close()
            raise
        # The database file and its WAL as this connection opened them (a WAL is there in WAL mode, which
        # connect() sets). While it stays open SQLite never deletes or recreates either: only the last
        # connection to close removes the WAL.
        self._files = {f: found for f in (self.path, Path(f"{self.path}-wal")) if (found := _identity(f))}
        self._writer = threading.Thread(
            target=self._write_loop, args=(write_db,), name="ivr-db-writer", daemon=True
        )
        self._writer.start()
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="ivr-db-read")

    # -- writes ---------------------------------------------------------------------

    def _write_loop(self, db: sqlite_utils.Database) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(db)
                    self._check_files()
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except BaseException as exc:  # handed to the awaiting caller
                future.set_exception(exc)
            else:
                future.set_result(result)
        db.conn.close()

    def _check_files(self) -> None:
        """Raise :class:`DatabaseMoved` if the path no longer leads to the files this connection writes
        (two ``stat`` calls, a few microseconds beside a commit's fsync)."""
        if self._moved is None:
            for path, opened in self._files.items():
                now = _identity(path)
                if now != opened:
                    what = "deleted" if now is None else "replaced by another file"
                    self._moved = (f"{path} was {what} while in use; nothing more is written to it "
                                   f"until the service restarts on the file there now")
                    if self.on_moved is not None:
                        self.on_moved(self._moved)
                    else:
                        log.critical("%s", self._moved)
                    break
        if self._moved is not None:
            raise DatabaseMoved(self._moved)

    def submit_write(self, fn: WriteFn[T]) -> Future[T]:
        """Queue ``fn(db)`` to run in one transaction on the writer thread."""
        if self._closed:
            raise DatabaseClosed(str(self.path))
        future: Future[T] = Future()
        self._queue.put((fn, future))
        return future

    async def write(self, fn: WriteFn[T]) -> T:
        """Run ``fn(db)`` in one transaction on the writer thread and await its result."""
        return await asyncio.wrap_future(self.submit_write(fn))

    def write_sync(self, fn: WriteFn[T]) -> T:
        """The same from synchronous code (CLI commands, worker processes)."""
        return self.submit_write(fn).result()

    async def execute_write(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int | None:
        """Run one statement; return ``lastrowid``."""
        return await self.write(lambda db: db.execute(sql, params).lastrowid)

    # -- reads ----------------------------------------------------------------------

    def _read_db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            self._local.db = db
            with self._read_lock:
                self._read_dbs.append(db)
        return db

    def query_sync(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        return list(self._read_db().query(sql, params))

    async def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts, read in a reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self.query_sync, sql, params)

    async def query_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
        rows = await self.query(sql, params)
        return rows[0] if rows else None

    async def read(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """Run ``fn(db)`` with a reader thread's connection, for multi-query reads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: fn(self._read_db()))

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join(timeout=30)
        self._readers.shutdown(wait=True)
        with self._read_lock:
            for db in self._read_dbs:
                db.conn.close()
            self._read_dbs.clear()
