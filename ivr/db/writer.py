"""Async access to the case database, in the manner of datasette.

One writer thread owns the only write connection; async code hands it functions
and awaits their results, so the event loop never waits on SQLite and writes
never contend with each other. Reads run in a small thread pool, each thread
with its own connection (WAL lets them read while the writer writes).
"""

from __future__ import annotations

import asyncio
import logging
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


class Database:
    def __init__(self, path: Path | str, *, readers: int = 2, migrate_on_open: bool = True) -> None:
        self.path = Path(path)
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
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except BaseException as exc:  # handed to the awaiting caller
                future.set_exception(exc)
            else:
                future.set_result(result)
        db.conn.close()

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
