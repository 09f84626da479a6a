"""The case database: SQLite in WAL mode, through sqlite-utils.

- :func:`connect` opens a connection with the hotline's pragmas.
- :mod:`ivr.db.schema` is the schema as migrations; :func:`ivr.db.schema.migrate` applies it
  with the mechanism in :mod:`ivr.db.migrations`.
- :class:`ivr.db.writer.Database` gives async code reads in threads and writes
  through one writer thread.
"""

from ivr.db.connect import connect, transaction, utcnow

__all__ = ["connect", "transaction", "utcnow"]
