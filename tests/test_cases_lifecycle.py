"""The case lifecycle (ivr/cases/lifecycle.py) on a real SQLite file: each change checks its rule, stamps
its times, writes its audit row, and says what changed; a refused change writes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlite_utils

from ivr.cases import PRIORITY_EMERGENCY, PRIORITY_HIGH, lifecycle
from ivr.db import connect, transaction
from ivr.db.schema import migrate
from ivr.protection import audit

T = TypeVar("T")


@dataclass(frozen=True)
class Person:
    id: int
    username: str


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite_utils.Database]:
    conn = connect(tmp_path / "ivr.db")
    migrate(conn)
    conn.execute("insert into users (id, username, password_hash, role, created_at) values "
                 "(1, 'mali', 'x', 'caseworker', '2026-01-01T00:00:00.000000Z')")
    yield conn
    conn.conn.close()


def _open(db: sqlite_utils.Database, **fields: Any) -> int:
    args: dict[str, Any] = {"call_id": None, "caller_ref": "ref-1", "language": "my", "category": "wages",
                            "workplace_code": None, "workplace_id": None, "code_hash": None, "code_tag": None}
    return w(lifecycle.open_case, db, **{**args, **fields})


def w(operation: Callable[..., T], db: sqlite_utils.Database, *args: Any, **kwargs: Any) -> T:
    """Run one operation as the writer thread does: in its own write transaction."""
    with transaction(db):
        return operation(db, *args, **kwargs)


def _row(db: sqlite_utils.Database, case_id: int) -> dict[str, Any]:
    return next(iter(db.query("select * from cases where id = ?", [case_id])))


def _audit(db: sqlite_utils.Database) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [(r["action"], r["username"], json.loads(r["detail"] or "{}"))
            for r in db.query("select action, username, detail from audit_log order by id")]


def test_the_status_workflow_is_enforced_stamped_and_audited(db: sqlite_utils.Database) -> None:
    mali = Person(1, "mali")
    case_id = _open(db)
    assert _row(db, case_id)["status"] == "new"

    with pytest.raises(lifecycle.TransitionRefused):
        w(lifecycle.move_status, db, case_id, "closed", by=mali)
    with pytest.raises(lifecycle.TransitionRefused):
        w(lifecycle.move_status, db, case_id, "lost", by=mali)
    # The opening is on record; the refused moves are not.
    assert _row(db, case_id)["status"] == "new" and _row(db, case_id)["version"] == 1
    assert [(a, u) for a, u, _ in _audit(db)] == [("case.open", "(engine)")]

    change = w(lifecycle.move_status, db, case_id, "acknowledged", by=mali)
    row = _row(db, case_id)
    assert change.fields["status"] == "acknowledged" and row["status"] == "acknowledged"
    assert row["acknowledged_at"] == change.fields["updated_at"] == row["updated_at"]
    assert row["version"] == 2
    assert _audit(db)[1:] == [("case.status", "mali", {"from": "new", "to": "acknowledged"})]
    assert audit.verify(db) == []

    for status in ("in_progress", "resolved", "closed"):
        w(lifecycle.move_status, db, case_id, status, by=mali)
    row = _row(db, case_id)
    assert row["status"] == "closed" and row["resolved_at"] and row["closed_at"] and row["version"] == 5

    with pytest.raises(lifecycle.NoSuchCase):
        w(lifecycle.move_status, db, 999, "acknowledged", by=mali)


def test_a_follow_up_reopens_a_finished_case(db: sqlite_utils.Database) -> None:
    case_id = _open(db)
    for status in ("acknowledged", "in_progress", "resolved", "closed"):
        w(lifecycle.move_status, db, case_id, status, by=None)
    assert w(lifecycle.follow_up, db, case_id).fields["status"] == "in_progress"
    assert _row(db, case_id)["status"] == "in_progress"
    # A new case stays new: a follow-up is not a caseworker's acknowledgement.
    other = _open(db)
    w(lifecycle.follow_up, db, other)
    assert _row(db, other)["status"] == "new" and _row(db, other)["version"] == 2


def test_a_case_opened_from_a_call_is_linked_to_it(db: sqlite_utils.Database) -> None:
    db.execute("insert into calls (id, channel_id, started_at, flow, flow_version) values "
               "('c1', 'ch1', '2026-01-01T00:00:00.000000Z', 'hotline', '1')")
    case_id = _open(db, call_id="c1", category="not-a-category", emergency=True)
    row = _row(db, case_id)
    assert row["source_call_id"] == "c1" and row["category"] is None
    assert row["emergency"] == 1 and row["priority"] == PRIORITY_EMERGENCY
    assert db.execute("select case_id from calls where id = 'c1'").fetchone()[0] == case_id
    fallback = w(lifecycle.open_fallback_case, db, language="km")
    assert _row(db, fallback)["source_call_id"] is None and _row(db, fallback)["language"] == "km"


def test_what_the_machine_noticed(db: sqlite_utils.Database) -> None:
    case_id = _open(db)
    change = w(lifecycle.suggest_categories, db, case_id, ["documents", "wages"])
    assert change.fields["categories_suggested"] == ["documents", "wages"]
    w(lifecycle.suggest_categories, db, case_id, ["wages", "debt"])
    row = _row(db, case_id)
    assert json.loads(row["categories_suggested"]) == ["documents", "wages", "debt"]
    assert row["priority"] == PRIORITY_HIGH

    assert w(lifecycle.needs_human_transcript, db, case_id)
    assert not w(lifecycle.needs_human_transcript, db, case_id)   # already asked: nothing changes

    assert w(lifecycle.emergency_from_words, db, case_id)
    assert not w(lifecycle.emergency_from_words, db, case_id)      # raised once, one audit row
    # Each change once, by transcription; the second "needs a person" changed nothing, so no row.
    assert [(a, u) for a, u, _ in _audit(db)] == [
        ("case.open", "(engine)"), ("case.suggest", "(transcription)"), ("case.suggest", "(transcription)"),
        ("case.needs_transcript", "(transcription)"), ("alert.keywords", "(transcription)")]
    assert [d for a, _, d in _audit(db) if a == "case.suggest"] == [{"categories": ["documents", "wages"]},
                                                                   {"categories": ["debt"]}]
    assert _row(db, case_id)["priority"] == PRIORITY_EMERGENCY


def test_a_caseworkers_changes_are_audited_under_their_name(db: sqlite_utils.Database) -> None:
    mali = Person(1, "mali")
    case_id = _open(db)
    w(lifecycle.assign, db, case_id, 1, by=mali)
    w(lifecycle.set_category, db, case_id, "debt", by=mali)
    with pytest.raises(lifecycle.CaseError):
        w(lifecycle.set_category, db, case_id, "nonsense", by=mali)
    w(lifecycle.add_note, db, case_id, "called the employer", by=mali)
    reply = w(lifecycle.attach_reply, db, case_id, path="recordings/replies/r.wav", duration_s=3.0, size=100,
                                   sha256="0" * 64, by=mali)
    row = _row(db, case_id)
    assert row["assignee_id"] == 1 and row["category"] == "debt" and row["version"] == 5
    assert db.execute("select body from case_notes where case_id = ?", [case_id]).fetchone()[0] == \
        "called the employer"
    assert db.execute("select kind, created_by from recordings where id = ?", [reply]).fetchone() == ("reply", 1)
    assert [(a, u) for a, u, _ in _audit(db)] == [("case.open", "(engine)"),
        ("case.assign", "mali"), ("case.category", "mali"), ("case.note", "mali"), ("reply.save", "mali")]


def test_workplace_links_and_anonymising(db: sqlite_utils.Database) -> None:
    case_id = _open(db, workplace_code="12345")
    assert w(lifecycle.link_workplace_from_code, db, case_id, lambda code: 7 if code == "12345" else None) == 7
    assert _row(db, case_id)["workplace_id"] == 7 and _row(db, case_id)["workplace_confirmed"] == 0
    w(lifecycle.confirm_workplace, db, case_id, None, by=Person(1, "mali"))
    # A caseworker decided: the caller's code no longer moves the link.
    assert w(lifecycle.link_workplace_from_code, db, case_id, lambda code: 7) is None
    assert _row(db, case_id)["workplace_id"] is None
    with pytest.raises(lifecycle.NoSuchCase):
        w(lifecycle.confirm_workplace, db, 999, None, by=Person(1, "mali"))

    assert w(lifecycle.anonymise, db, [case_id]) == 1
    assert _row(db, case_id)["caller_ref"] is None
