"""Escalation state in the database: one escalation per emergency case, numbered steps.

A phone step's row is committed *before* its phone rings (:func:`begin_step`), and step
numbers are unique per escalation, so an engine that dies mid-ring and restarts moves on
to the next step instead of ringing the same person for the same step twice.
Writers run inside ``Database.write``; nothing here holds a caller's number or words.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from ivr.cases import lifecycle
from ivr.db import utcnow
from ivr.protection import audit

CHANNELS = ("email", "webhook")
# A step still 'calling' or 'answered' when the engine starts again was cut off by a restart.
OPEN_STEP_STATES = ("calling", "answered")


def unescalated_emergencies(db: sqlite_utils.Database) -> list[int]:
    """Emergency cases nobody has taken yet that have no escalation."""
    return [int(r[0]) for r in db.execute(
        "select c.id from cases c left join escalations e on e.case_id = c.id"
        " where c.emergency = 1 and c.status = 'new' and c.acknowledged_at is null and e.id is null"
        " order by c.created_at").fetchall()]


def open_escalation(db: sqlite_utils.Database, case_id: int, channels: list[str]) -> int:
    """The case's escalation (created if new, with a pending message per configured channel)."""
    row = db.execute("select id from escalations where case_id = ?", [case_id]).fetchone()
    if row is not None:
        return int(row[0])
    now = utcnow()
    cur = db.execute("insert into escalations (case_id, started_at) values (?, ?)", [case_id, now])
    esc_id = int(cur.lastrowid or 0)
    for channel in channels:
        db.execute("insert into escalation_messages (escalation_id, channel, updated_at) values (?, ?, ?)",
                   [esc_id, channel, now])
    audit.append(db, action="oncall.escalation", object_type="case", object_id=case_id,
                 detail={"escalation": esc_id, "channels": ["phone", *channels]})
    return esc_id


def running(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(db.query(
        "select e.id, e.case_id, c.language, c.created_at from escalations e join cases c on c.id = e.case_id"
        " where e.state = 'running' order by e.started_at"))


def get(db: sqlite_utils.Database, esc_id: int) -> dict[str, Any] | None:
    rows = list(db.query("select * from escalations where id = ?", [esc_id]))
    return rows[0] if rows else None


def taken_in_web(db: sqlite_utils.Database, esc_id: int) -> bool:
    """Whether someone took the case in the web UI (any move on from 'new'); the escalation stops."""
    row = db.execute("select e.state, c.status, c.acknowledged_at from escalations e join cases c on c.id = e.case_id"
                     " where e.id = ?", [esc_id]).fetchone()
    if row is None:
        return True
    if row[0] != "running":
        return True
    if row[1] == "new" and row[2] is None:
        return False
    who = db.execute("select username from audit_log where object_type = 'case' and object_id ="
                     " (select cast(case_id as text) from escalations where id = ?) and action = 'case.status'"
                     " order by id desc limit 1", [esc_id]).fetchone()
    _finish(db, esc_id, by=(who[0] if who and who[0] else "web UI"), via="web")
    return True


def _finish(db: sqlite_utils.Database, esc_id: int, *, by: str, via: str) -> None:
    now = utcnow()
    db.execute("update escalations set state = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?,"
               " acknowledged_via = ? where id = ? and state = 'running'", [now, by, via, esc_id])
    db.execute("update escalation_steps set state = 'stopped', finished_at = ? where escalation_id = ?"
               " and state in ('calling', 'answered')", [now, esc_id])


def acknowledge(db: sqlite_utils.Database, esc_id: int, *, by: str, via: str, user_id: int | None = None,
                step_id: int | None = None) -> bool:
    """Someone took the case. False when someone else had already taken it (the first one wins)."""
    esc = get(db, esc_id)
    if esc is None or esc["state"] != "running":
        return False
    if step_id is not None:
        db.execute("update escalation_steps set state = 'acknowledged', finished_at = ? where id = ?",
                   [utcnow(), step_id])
    _finish(db, esc_id, by=by, via=via)
    case_id = int(esc["case_id"])
    status = db.execute("select status from cases where id = ?", [case_id]).fetchone()[0]
    if status == "new":
        # The audit row below says who answered the phone; that is the record of this decision.
        lifecycle.move_status(db, case_id, "acknowledged", by=None, audit_action=None)
    audit.append(db, action="oncall.acknowledged", user_id=user_id, username=by, object_type="case",
                 object_id=case_id, detail={"escalation": esc_id, "via": via, "step": step_id})
    return True


def acknowledge_case(db: sqlite_utils.Database, case_id: int, *, by: str, user_id: int | None) -> bool:
    row = db.execute("select id from escalations where case_id = ?", [case_id]).fetchone()
    return row is not None and acknowledge(db, int(row[0]), by=by, via="web", user_id=user_id)


def steps(db: sqlite_utils.Database, esc_id: int) -> list[dict[str, Any]]:
    return list(db.query("select * from escalation_steps where escalation_id = ? order by seq", [esc_id]))


def close_interrupted(db: sqlite_utils.Database, esc_id: int) -> int:
    """Steps a previous engine left open: they count as done ('interrupted'), never rung again."""
    cur = db.execute(f"update escalation_steps set state = 'interrupted', finished_at = ? where escalation_id = ?"
                     f" and state in ({', '.join('?' * len(OPEN_STEP_STATES))})",
                     [utcnow(), esc_id, *OPEN_STEP_STATES])
    return cur.rowcount


def begin_step(db: sqlite_utils.Database, esc_id: int, staff_id: int | None, staff_name: str) -> tuple[int, int] | None:
    """Record the next step before ringing; (step id, seq), or None if the escalation is over."""
    esc = get(db, esc_id)
    if esc is None or esc["state"] != "running":
        return None
    seq = int(db.execute("select coalesce(max(seq), 0) + 1 from escalation_steps where escalation_id = ?",
                         [esc_id]).fetchone()[0])
    cur = db.execute("insert into escalation_steps (escalation_id, seq, staff_id, staff_name, started_at)"
                     " values (?, ?, ?, ?, ?)", [esc_id, seq, staff_id, staff_name, utcnow()])
    return int(cur.lastrowid or 0), seq


def next_seq(db: sqlite_utils.Database, esc_id: int) -> int:
    return int(db.execute("select coalesce(max(seq), 0) + 1 from escalation_steps where escalation_id = ?",
                          [esc_id]).fetchone()[0])


def set_step(db: sqlite_utils.Database, step_id: int, state: str, *, final: bool = True) -> None:
    db.execute("update escalation_steps set state = ?, finished_at = case when ? then ? else finished_at end"
               " where id = ? and state in ('calling', 'answered')", [state, int(final), utcnow(), step_id])


# -- messages (email, webhook) ---------------------------------------------------------------------

def pending_messages(db: sqlite_utils.Database, esc_id: int) -> list[dict[str, Any]]:
    return list(db.query("select * from escalation_messages where escalation_id = ? and state != 'sent'",
                         [esc_id]))


def message_result(db: sqlite_utils.Database, msg_id: int, *, ok: bool, error: str | None, final: bool) -> None:
    state = "sent" if ok else ("failed" if final else "pending")
    db.execute("update escalation_messages set state = ?, attempts = attempts + 1, last_error = ?, updated_at = ?"
               " where id = ?", [state, None if ok else error, utcnow(), msg_id])


# -- what the web UI shows -------------------------------------------------------------------------

def for_case(db: sqlite_utils.Database, case_id: int) -> dict[str, Any] | None:
    rows = list(db.query("select * from escalations where case_id = ?", [case_id]))
    if not rows:
        return None
    esc = rows[0]
    return {"escalation": esc, "steps": steps(db, int(esc["id"])),
            "messages": list(db.query("select * from escalation_messages where escalation_id = ? order by channel",
                                      [esc["id"]]))}


def unacknowledged(db: sqlite_utils.Database, now: datetime | None = None) -> tuple[int, float | None, list[int]]:
    """(count, age in seconds of the oldest, their case ids) of emergency cases nobody has taken."""
    rows = db.execute("select id, created_at from cases where emergency = 1 and status = 'new'"
                      " and acknowledged_at is null order by created_at").fetchall()
    if not rows:
        return 0, None, []
    oldest = datetime.strptime(rows[0][1][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    age = max(0.0, ((now or datetime.now(UTC)) - oldest).total_seconds())
    return len(rows), age, [int(r[0]) for r in rows]
