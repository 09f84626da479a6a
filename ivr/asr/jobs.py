"""The transcription queue in the ``jobs`` table: claiming with leases, and recording outcomes.

Every function runs one short ``BEGIN IMMEDIATE`` transaction on a connection from
:func:`ivr.db.connect`; none is ever held open while audio is decoded. A job whose
worker died keeps ``state='running'`` until its lease runs out; then any worker may
claim it again. A recording that keeps killing workers is given up after
:data:`MAX_ATTEMPTS`, with a reason, so it cannot stop the queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from ivr.cases import lifecycle
from ivr.db import transaction, utcnow

KIND = "transcribe"
MAX_ATTEMPTS = 3
STATES = ("queued", "running", "done", "failed", "needs_human", "skipped")


@dataclass(frozen=True)
class Job:
    id: int
    recording_id: int | None
    language: str | None
    attempts: int
    path: str | None  # relative to the data dir; None once deleted
    case_id: int | None


def _at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def enqueue(db: sqlite_utils.Database, recording_id: int, language: str | None) -> int:
    """Queue a recording (the engine does the same insert itself; see the contract)."""
    now = utcnow()
    cursor = db.execute(
        "insert into jobs (kind, recording_id, language, state, created_at, updated_at) "
        "values (?, ?, ?, 'queued', ?, ?)", [KIND, recording_id, language, now, now])
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def claim(db: sqlite_utils.Database, owner: str, lease_seconds: float) -> Job | None:
    """Take the oldest queued job, or one whose worker's lease has run out."""
    while True:
        now = utcnow()
        with transaction(db):
            row = db.execute(
                "select j.id, j.recording_id, j.attempts, r.path, r.case_id, "
                "coalesce(j.language, c.language, k.language) "
                "from jobs j left join recordings r on r.id = j.recording_id "
                "left join cases c on c.id = r.case_id left join calls k on k.id = r.call_id "
                "where j.kind = ? and (j.state = 'queued' or (j.state = 'running' and j.lease_expires_at < ?)) "
                "order by j.id limit 1", [KIND, now]).fetchone()
            if row is None:
                return None
            job_id, recording_id, attempts, path, case_id, lang = row
            if attempts >= MAX_ATTEMPTS:
                # Committed on its own, so a poisonous recording never blocks the queue.
                _end(db, job_id, "failed", f"gave up after {attempts} attempts (a worker stopped while decoding)")
                _needs_human(db, case_id)
                continue
            db.execute(
                "update jobs set state = 'running', lease_owner = ?, lease_expires_at = ?, "
                "attempts = attempts + 1, updated_at = ? where id = ?", [owner, _at(lease_seconds), now, job_id])
        return Job(job_id, recording_id, lang, attempts + 1, path, case_id)


def renew(db: sqlite_utils.Database, job_id: int, owner: str, lease_seconds: float) -> bool:
    """Extend our lease; False when the job is no longer ours."""
    with transaction(db):
        cursor = db.execute(
            "update jobs set lease_expires_at = ?, updated_at = ? where id = ? and lease_owner = ? "
            "and state = 'running'", [_at(lease_seconds), utcnow(), job_id, owner])
    return cursor.rowcount == 1


def release(db: sqlite_utils.Database, job_id: int, owner: str) -> None:
    """Put a job back in the queue (clean shut-down): it is not counted as an attempt."""
    with transaction(db):
        db.execute(
            "update jobs set state = 'queued', lease_owner = null, lease_expires_at = null, "
            "attempts = max(attempts - 1, 0), updated_at = ? where id = ? and lease_owner = ?",
            [utcnow(), job_id, owner])


def _ours(db: sqlite_utils.Database, job_id: int, owner: str) -> bool:
    row = db.execute("select lease_owner, state from jobs where id = ?", [job_id]).fetchone()
    return row is not None and row[0] == owner and row[1] == "running"


def _end(db: sqlite_utils.Database, job_id: int, state: str, reason: str | None) -> None:
    db.execute(
        "update jobs set state = ?, error = ?, lease_owner = null, lease_expires_at = null, updated_at = ? "
        "where id = ?", [state, reason, utcnow(), job_id])


def _needs_human(db: sqlite_utils.Database, case_id: int | None) -> None:
    if case_id is not None:
        lifecycle.needs_human_transcript(db, case_id)


def finish(db: sqlite_utils.Database, job: Job, owner: str, state: str, reason: str | None = None, *,
           needs_human: bool = False) -> bool:
    """Record an outcome without a transcript. False when another worker took the job over."""
    assert state in STATES
    with transaction(db):
        if not _ours(db, job.id, owner):
            return False
        _end(db, job.id, state, reason)
        if needs_human:
            _needs_human(db, job.case_id)
    return True


def next_version(db: sqlite_utils.Database, recording_id: int, kind: str) -> int:
    row = db.execute(
        "select coalesce(max(version), 0) + 1 from transcripts where recording_id = ? and kind = ?",
        [recording_id, kind]).fetchone()
    return int(row[0])


def store_transcript(
    db: sqlite_utils.Database, job: Job, owner: str, *, model: str, text: str, words: list[dict[str, Any]],
    confidence: float | None, categories: list[str], reason: str | None = None, needs_human: bool = False,
    emergency: bool = False,
) -> int | None:
    """Save the machine transcript as the next version, flag the case, close the job.

    Returns the transcript id, or None when the lease was lost (another worker owns the job).
    """
    assert job.recording_id is not None
    with transaction(db):
        if not _ours(db, job.id, owner):
            return None
        version = next_version(db, job.recording_id, "transcript")
        cursor = db.execute(
            "insert into transcripts (recording_id, kind, engine, model, language, text, words, confidence, "
            "version, created_at) values (?, 'transcript', 'vosk', ?, ?, ?, ?, ?, ?, ?)",
            [job.recording_id, model, job.language, text, json.dumps(words, ensure_ascii=False), confidence,
             version, utcnow()])
        if categories and job.case_id is not None:
            lifecycle.suggest_categories(db, job.case_id, categories)
        if emergency and job.case_id is not None:
            lifecycle.emergency_from_words(db, job.case_id)
        if needs_human:
            _needs_human(db, job.case_id)
        _end(db, job.id, "done", reason)
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def recording_file(data_dir: Path, job: Job) -> Path | None:
    return data_dir / job.path if job.path else None
