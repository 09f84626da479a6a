"""What the engine writes to and reads from the case database.

Writers take a ``sqlite_utils.Database`` and run inside ``await database.write(fn)``
(one transaction on the writer thread); readers run in ``database.read``. Nothing
here stores a phone number, a case code or a word the caller said.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from ivr.db import utcnow


def open_call(
    db: sqlite_utils.Database, *, call_id: str, channel_id: str, caller_ref: str | None, flow: str, version: str
) -> bool:
    """Insert the call row; return whether this caller reference has called before."""
    repeat = caller_ref is not None and db.execute(
        "select 1 from calls where caller_ref = ? limit 1", [caller_ref]
    ).fetchone() is not None
    now = utcnow()
    db.execute(
        "insert into calls (id, channel_id, started_at, answered_at, caller_ref, flow, flow_version, repeat_caller)"
        " values (?, ?, ?, ?, ?, ?, ?, ?)",
        [call_id, channel_id, now, now, caller_ref, flow, version, int(repeat)],
    )
    return repeat


def open_call_for_channel(db: sqlite_utils.Database, channel_id: str) -> dict[str, Any] | None:
    """The unfinished call on this channel, for a call resumed after a restart."""
    rows = list(db.query(
        "select * from calls where channel_id = ? and ended_at is null order by started_at desc limit 1",
        [channel_id],
    ))
    return rows[0] if rows else None


def add_step(
    db: sqlite_utils.Database, call_id: str, *, node: str, action: str | None,
    input: str | None = None, category: str | None = None,
) -> None:
    db.execute(
        "insert into call_steps (call_id, seq, at, node, action, input, category) values"
        " (?, (select coalesce(max(seq), 0) + 1 from call_steps where call_id = ?), ?, ?, ?, ?, ?)",
        [call_id, call_id, utcnow(), node, action, input, category],
    )


def update_call(db: sqlite_utils.Database, call_id: str, **fields: Any) -> None:
    if fields:
        sets = ", ".join(f"{name} = ?" for name in fields)
        db.execute(f"update calls set {sets} where id = ?", [*fields.values(), call_id])


# The sealed case code (ivr/engine/resume.py) goes once it has served, except while the call's case still
# waits for its code's hash: then it is all that can make the code the caller heard work, and the engine's
# sweep (ivr/engine/codehash.py) hashes it and wipes it.
_SEALED_KEPT = ("case when exists (select 1 from cases k where k.id = calls.case_id and k.code_hash is null"
                " and k.code_tag is not null) then code_sealed end")


def wipe_sealed_code(db: sqlite_utils.Database, call_id: str, **fields: Any) -> None:
    """Wipe the call's sealed case code (unless its case still waits for the hash), setting ``fields`` too."""
    sets = "".join(f", {name} = ?" for name in fields)
    db.execute(f"update calls set code_sealed = {_SEALED_KEPT}{sets} where id = ?", [*fields.values(), call_id])


def sealed_after_end(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Ended calls still holding a sealed case code, with whether their case waits for its hash."""
    return list(db.query(
        "select id, case_id, code_sealed, exists (select 1 from cases k where k.id = calls.case_id"
        " and k.code_hash is null and k.code_tag is not null) as unhashed"
        " from calls where code_sealed is not null and ended_at is not null order by started_at"))


def close_call(db: sqlite_utils.Database, call_id: str, *, outcome: str, last_node: str | None) -> None:
    row = db.execute("select started_at from calls where id = ?", [call_id]).fetchone()
    now = datetime.now(UTC)
    started = datetime.strptime(row[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) if row else now
    db.execute(
        # The sealed case code (ivr/engine/resume.py) is only for resuming this call: it goes now, unless
        # its hash could not be stored yet (see _SEALED_KEPT).
        "update calls set ended_at = ?, duration_s = ?, outcome = ?, last_node = coalesce(?, last_node),"
        f" code_sealed = {_SEALED_KEPT}"
        " where id = ? and ended_at is null",
        [utcnow(), round((now - started).total_seconds(), 3), outcome, last_node, call_id],
    )


def previous_language(db: sqlite_utils.Database, caller_ref: str | None, call_id: str) -> str | None:
    if caller_ref is None:
        return None
    row = db.execute(
        "select language from calls where caller_ref = ? and id != ? and language is not null"
        " order by started_at desc limit 1",
        [caller_ref, call_id],
    ).fetchone()
    return str(row[0]) if row else None


def insert_recording(
    db: sqlite_utils.Database, *, call_id: str | None, case_id: int | None, kind: str, path: str | None,
    duration: float | None, size: int | None, sha256: str | None, state: str, asterisk_name: str | None,
) -> int:
    cur = db.execute(
        "insert into recordings (call_id, case_id, kind, path, duration_s, size_bytes, sha256, state,"
        " asterisk_name, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [call_id, case_id, kind, path, duration, size, sha256, state, asterisk_name, utcnow()],
    )
    return int(cur.lastrowid or 0)


def call_takes(db: sqlite_utils.Database, call_id: str) -> list[dict[str, Any]]:
    """The call's voice messages, with whether each is queued for transcription."""
    return list(db.query(
        "select r.*, exists (select 1 from jobs j where j.recording_id = r.id) as queued from recordings r"
        " where r.call_id = ? and r.kind = 'voicemail' order by r.id",
        [call_id],
    ))


def release_recording(db: sqlite_utils.Database, recording_id: int) -> None:
    """The take is final (the caller moved on): Asterisk's copy may go."""
    db.execute("update recordings set released_at = ? where id = ? and released_at is null", [utcnow(), recording_id])


def queue_transcription(db: sqlite_utils.Database, recording_id: int, language: str | None) -> None:
    now = utcnow()
    db.execute(
        "insert into jobs (kind, recording_id, language, state, created_at, updated_at)"
        " values ('transcribe', ?, ?, 'queued', ?, ?)",
        [recording_id, language, now, now],
    )


def discard_recording(db: sqlite_utils.Database, recording_id: int) -> None:
    """The caller chose to record again: the earlier take is gone at their request."""
    db.execute(
        "update recordings set state = 'deleted', path = null, deleted_at = ? where id = ?",
        [utcnow(), recording_id],
    )


def attach_recordings(db: sqlite_utils.Database, call_id: str, case_id: int) -> None:
    db.execute("update recordings set case_id = ? where call_id = ? and case_id is null", [case_id, call_id])


def latest_reply(db: sqlite_utils.Database, case_id: int) -> str | None:
    """The path (relative to the data dir) of the newest caseworker reply for the case."""
    row = db.execute(
        "select path from recordings where case_id = ? and kind = 'reply' and state = 'stored' and path is not null"
        " order by created_at desc, id desc limit 1",
        [case_id],
    ).fetchone()
    return str(row[0]) if row else None
