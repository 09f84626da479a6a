"""The audit log's hash chain: appends, and tampering caught by verify."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils

from ivr.db import connect
from ivr.db.schema import migrate
from ivr.protection import audit


def _write(db: sqlite_utils.Database, n: int) -> None:
    db.execute("BEGIN IMMEDIATE")
    for i in range(n):
        audit.append(db, action="case.view", user_id=7, username="mai", object_type="case", object_id=i,
                     detail={"i": i, "note": "ຂໍ້ຄວາມ"})
    db.execute("COMMIT")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite_utils.Database]:
    database = connect(tmp_path / "ivr.db")
    migrate(database)
    _write(database, 6)
    yield database
    database.conn.close()


def _tamper(db: sqlite_utils.Database, *sql: str) -> None:
    """What someone with the file and the sqlite3 shell would do: drop the guards, then edit."""
    conn = sqlite3.connect(db.conn.execute("PRAGMA database_list").fetchall()[0][2], isolation_level=None)
    conn.execute("drop trigger if exists audit_log_no_update")
    conn.execute("drop trigger if exists audit_log_no_delete")
    for statement in sql:
        conn.execute(statement)
    conn.close()


def _forge(db: sqlite_utils.Database, ident: int, prev_hash: str, action: str) -> None:
    """Insert a row whose own hash is correct, as a careful forger would."""
    row = {"id": ident, "at": "2026-01-01T00:00:00.000000Z", "user_id": 1, "username": "boss",
           "action": action, "object_type": None, "object_id": None, "detail": "{}", "prev_hash": prev_hash}
    row["row_hash"] = audit.row_hash(row)
    db.execute(f"insert into audit_log ({', '.join(row)}) values ({', '.join('?' * len(row))})", list(row.values()))


def test_intact_chain_verifies(db: sqlite_utils.Database) -> None:
    assert audit.verify(db) == []
    rows = list(db.query("select * from audit_log order by id"))
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0]["prev_hash"] == audit.GENESIS
    assert all(b["prev_hash"] == a["row_hash"] for a, b in itertools.pairwise(rows))
    assert rows[2]["username"] == "mai" and rows[2]["at"].endswith("Z")
    head = audit.head(db)
    assert head is not None and head.id == 6 and audit.verify(db, expect=head) == []


def test_append_outside_a_transaction_is_refused(db: sqlite_utils.Database) -> None:
    with pytest.raises(RuntimeError, match="inside a write transaction"):
        audit.append(db, action="case.view")


def test_application_code_cannot_update_or_delete(db: sqlite_utils.Database) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("update audit_log set username = 'x' where id = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("delete from audit_log where id = 2")


def test_edited_row_is_reported(db: sqlite_utils.Database) -> None:
    _tamper(db, "update audit_log set username = 'someone-else' where id = 3")
    problems = audit.verify(db)
    assert any(p.startswith("row 3: edited") for p in problems), problems
    assert any("audit_log_no_update" in p for p in problems)


def test_deleted_row_is_reported(db: sqlite_utils.Database) -> None:
    _tamper(db, "delete from audit_log where id = 4")
    problems = audit.verify(db)
    assert any(p.startswith("row 4: deleted") for p in problems), problems


def test_deleted_first_row_is_reported(db: sqlite_utils.Database) -> None:
    _tamper(db, "delete from audit_log where id = 1")
    assert any(p.startswith("row 1: deleted") for p in audit.verify(db))


def test_inserted_row_is_reported(db: sqlite_utils.Database) -> None:
    """A forged row slipped in after row 3: later rows are moved up one id to make room."""
    rows = list(db.query("select * from audit_log order by id"))
    _tamper(db, *[f"update audit_log set id = id + 1 where id = {i}" for i in (6, 5, 4)])
    _forge(db, 4, rows[2]["row_hash"], "case.status")
    problems = audit.verify(db)
    assert any(p.startswith("row 4: inserted") for p in problems), problems


def test_rewritten_tail_is_caught_by_a_recorded_head(db: sqlite_utils.Database) -> None:
    """Truncating the log leaves a valid chain; the head logged earlier exposes it."""
    recorded = audit.head(db)
    assert recorded is not None
    _tamper(db, "delete from audit_log where id >= 5")
    assert all("is missing" in p for p in audit.verify(db))  # only the dropped guards show
    db.execute("create trigger audit_log_no_update before update on audit_log begin select raise(abort, 'x'); end")
    db.execute("create trigger audit_log_no_delete before delete on audit_log begin select raise(abort, 'x'); end")
    assert audit.verify(db) == []
    assert audit.verify(db, expect=recorded) == [f"row 6: deleted (the recorded head {recorded} is gone)"]
    assert audit.Head.parse(str(recorded)) == recorded
    with pytest.raises(ValueError):
        audit.Head.parse("6:abc")
