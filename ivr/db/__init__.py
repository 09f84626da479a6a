"""The case database: SQLite in WAL mode, through sqlite-utils.

- :func:`connect` opens a connection with the hotline's pragmas.
- :mod:`ivr.db.migrations` applies the schema (:mod:`ivr.db.schema`).
- :class:`ivr.db.writer.Database` gives async code reads in threads and writes
  through one writer thread.
"""

from ivr.db.connect import connect, transaction, utcnow

__all__ = ["connect", "transaction", "utcnow"]
