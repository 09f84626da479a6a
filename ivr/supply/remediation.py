"""Remediation: a case referred to a supplier, with agreed actions and due dates.

Each action has a reporting ``kind`` (what brands see, counted) and a free-text
``action`` (what caseworkers and the supplier agreed; never shown to a brand).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

import sqlite_utils

from ivr.db import utcnow
from ivr.words import N_, ShownError

KINDS: Final[dict[str, str]] = {
    "wages_paid": "Unpaid wages paid",
    "fees_repaid": "Recruitment fees repaid",
    "documents_returned": "Documents returned",
    "hours_fixed": "Working hours brought within the law",
    "safety_fixed": "Safety or housing fixed",
    "grievance": "Grievance channel set up",
    "abuse_stopped": "Threats or violence stopped",
    "other": "Other",
}
STATUSES: Final[dict[str, str]] = {
    "agreed": "Agreed, not yet done",
    "done": "Done",
    "not_done": "Not done (supplier failed)",
    "cancelled": "Cancelled",
}


class RemediationError(ShownError, ValueError):
    """A remediation entry that cannot be saved; the message says why in one line."""


def _check_date(text: str) -> str:
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise RemediationError(N_("due date '%(value)s' is not a date like 2026-12-31"), value=text) from None


def add_action(db: sqlite_utils.Database, *, case_id: int, supplier_id: int, kind: str, action: str,
               due_date: str, user_id: int | None) -> int:
    """Record an action a supplier agreed to for a case. Runs in a writer transaction."""
    if kind not in KINDS:
        raise RemediationError(N_("unknown kind of remediation '%(value)s'"), value=kind)
    if not action.strip():
        raise RemediationError(N_("describe the agreed action"))
    due = _check_date(due_date)
    case = db.execute("select workplace_id from cases where id = ?", [case_id]).fetchone()
    if case is None:
        raise RemediationError(N_("there is no case %(n)s"), n=case_id)
    if db.execute("select 1 from suppliers where id = ?", [supplier_id]).fetchone() is None:
        raise RemediationError(N_("choose a supplier from the registry"))
    now = utcnow()
    rowid = db.execute(
        "insert into remediation (case_id, supplier_id, workplace_id, kind, action, due_date, status, created_by,"
        " created_at, updated_at) values (?, ?, ?, ?, ?, ?, 'agreed', ?, ?, ?)",
        [case_id, supplier_id, case[0], kind, action.strip(), due, user_id, now, now],
    ).lastrowid
    assert rowid is not None
    return rowid


def set_status(db: sqlite_utils.Database, remediation_id: int, status: str, *, case_id: int) -> None:
    """Mark an action done, not done or cancelled (or back to agreed). ``case_id`` guards against a stale form."""
    if status not in STATUSES:
        raise RemediationError(N_("unknown remediation status '%(value)s'"), value=status)
    now = utcnow()
    cur = db.execute(
        "update remediation set status = ?, updated_at = ?, done_at = ? where id = ? and case_id = ?",
        [status, now, now if status == "done" else None, remediation_id, case_id],
    )
    if cur.rowcount == 0:
        raise RemediationError(N_("case %(n)s has no remediation action %(action)s"), n=case_id, action=remediation_id)


def for_case(db: sqlite_utils.Database, case_id: int) -> list[dict[str, Any]]:
    return list(db.query(
        "select r.*, s.name as supplier from remediation r join suppliers s on s.id = r.supplier_id "
        "where r.case_id = ? order by r.due_date, r.id", [case_id]))
