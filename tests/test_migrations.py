from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from ivr.cli import main
from ivr.db import connect
from ivr.db import schema as schema_module
from ivr.db.migrations import MigrationError, Migrations, NewerDatabaseError
from ivr.db.schema import migrate
from ivr.db.schema import migrations as schema
from ivr.db.writer import Database

TABLES = {"calls", "call_steps", "recordings", "transcripts", "cases", "case_notes", "users",
          "audit_log", "jobs"}


def test_fresh_database_has_every_table_in_wal_mode(tmp_path: Path) -> None:
    db = connect(tmp_path / "ivr.db")
    applied = migrate(db)
    assert applied == schema.names
    assert TABLES <= set(db.table_names())
    assert db.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert db.execute("pragma secure_delete").fetchone()[0] == 1


def test_migrate_twice_is_a_no_op(tmp_path: Path) -> None:
    db = connect(tmp_path / "ivr.db")
    migrate(db)
    before = db.execute("select sql from sqlite_master order by name").fetchall()
    assert migrate(db) == []
    assert db.execute("select sql from sqlite_master order by name").fetchall() == before

    runner = CliRunner()
    env = {"IVR_DATA_DIR": str(tmp_path)}
    first = runner.invoke(main, ["db", "migrate"], env=env)
    assert first.exit_code == 0 and "up to date" in first.output


def test_failed_migration_leaves_schema_as_it_was(tmp_path: Path) -> None:
    m = Migrations("t")

    @m
    def m1(db: sqlite_utils.Database) -> None:
        db.execute("create table a (id integer primary key)")

    @m
    def m2(db: sqlite_utils.Database) -> None:
        db.execute("create table b (id integer primary key)")
        db.execute("insert into a (id) values (1)")
        db.execute("create table a (id integer)")  # fails: a exists

    db = connect(tmp_path / "t.db")
    with pytest.raises(MigrationError, match="m2 failed"):
        m.apply(db)
    assert db.table_names() == ["_ivr_migrations", "a"]
    assert db.execute("select count(*) from a").fetchone()[0] == 0
    assert m.applied(db) == ["m1"]


def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    db = connect(tmp_path / "ivr.db")
    migrate(db)
    db.execute("insert into _ivr_migrations (name, applied_at) values ('m9999_future', 'x')")
    with pytest.raises(NewerDatabaseError, match="newer version of ivr"):
        migrate(db)
    result = CliRunner().invoke(main, ["db", "migrate"], env={"IVR_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert "m9999_future" in result.output


async def test_writer_thread_serialises_writes_and_rolls_back(tmp_path: Path) -> None:
    database = Database(tmp_path / "ivr.db")
    try:
        now = "2026-01-01T00:00:00Z"

        def add_user(name: str):  # type: ignore[no-untyped-def]
            def fn(db: sqlite_utils.Database) -> int:
                return db["users"].insert({"username": name, "password_hash": "x",
                                           "role": "caseworker", "created_at": now}).last_pk

            return fn

        ids = [await database.write(add_user(f"u{i}")) for i in range(5)]
        assert ids == [1, 2, 3, 4, 5]

        def half_then_fail(db: sqlite_utils.Database) -> None:
            db.execute("update users set username = 'changed' where id = 1")
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await database.write(half_then_fail)
        rows = await database.query("select username from users where id = 1")
        assert rows == [{"username": "u0"}]
        with pytest.raises(sqlite3.IntegrityError):
            await database.write(add_user("u1"))
    finally:
        database.close()


def test_two_processes_migrating_at_once_both_succeed(tmp_path: Path) -> None:
    # e.g. `ivr engine` and `ivr transcribe` started together on a new data dir: both see the
    # migration pending, one applies it, the other must then find it done, not run it again.
    import threading
    import time

    steps = Migrations("race")

    @steps
    def m0001_slow(db: sqlite_utils.Database) -> None:
        db.execute("create table slow (id integer primary key)")
        time.sleep(0.3)  # hold the write lock while the other connection waits for it

    first = connect(tmp_path / "race.db")
    Migrations("earlier").apply(first)  # an existing database: the migrations table is there already
    first.conn.close()
    start = threading.Barrier(2)
    results: list[list[str] | Exception] = []

    def run() -> None:
        db = connect(tmp_path / "race.db")
        try:
            start.wait()
            results.append(steps.apply(db))
        except Exception as exc:
            results.append(exc)
        finally:
            db.conn.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, results)) == ["['m0001_slow']", "[]"]


def test_upgrading_drops_the_workplace_link_trigger_and_keeps_its_links(tmp_path: Path) -> None:
    """A database from before m1902, whose trigger linked a case to its workplace: after the upgrade the
    link is still there, and linking is lifecycle's (ivr/cases/lifecycle.py), with an audit row."""
    old = Migrations("ivr")
    for name in schema.names[:schema.names.index("m1902_case_workplace_link_in_lifecycle")]:
        old(getattr(schema_module, name))
    db = connect(tmp_path / "ivr.db")
    old.apply(db)
    now = "2026-01-01T00:00:00.000000Z"
    db.execute("insert into workplaces (id, code, name, active, created_at, updated_at) "
               "values (3, '100017', 'Mill', 1, ?, ?)", [now, now])
    db.execute("insert into cases (workplace_code, created_at, updated_at) values ('100017', ?, ?)", [now, now])
    assert db.execute("select workplace_id from cases").fetchall() == [(3,)]   # the old trigger linked it
    assert "m1902_case_workplace_link_in_lifecycle" in migrate(db)
    assert db.execute("select workplace_id from cases").fetchall() == [(3,)]
    assert db.execute("select name from sqlite_master where name = 'cases_link_workplace'").fetchall() == []
