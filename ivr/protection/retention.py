"""Retention: deleting what the hotline no longer needs, so it cannot leak later.

Periods (settings):
- ``retention_recording_days``: a case's recordings (voicemails and replies) are deleted that
  many days after the case is *closed*. Their transcripts and translations go with them,
  since they hold the caller's words too; the recording row stays, with ``state='deleted'``
  and no path, so the case still shows that a message existed. Recordings with no case are
  never deleted here (nothing a caller said may be lost); the report counts them.
- ``retention_call_days``: call rows older than this are anonymised (``caller_ref`` nulled,
  keypad inputs in ``call_steps`` cleared), and so are the caller references of cases created
  before then. Guess-limit rows (``code_attempts``) older than a week are deleted.
- ``callback_number_days``: call-back numbers past ``delete_after`` are deleted.

Deletion means it: files are overwritten with zeros, fsynced and unlinked; SQLite runs with
``secure_delete`` (freed pages are zeroed), the full-text index is merged so deleted words do
not linger in old segments, and the WAL is checkpointed and truncated so no older copy of a
page survives there. Files are wiped *after* their rows are marked deleted (the pending list
is the ``retention_wipes`` table), so a page open during a run sees "deleted", never a
half-overwritten file, and a crash mid-run is finished by the next run.

Each real run writes one ``retention.run`` audit row with its counts, and logs the audit
chain's head so it can be checked later (``ivr audit verify --head``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from ivr.cases import lifecycle
from ivr.db import connect
from ivr.db.writer import Database
from ivr.protection import audit, callbacks, checkpoints
from ivr.protection.times import stamp
from ivr.settings import Settings

log = logging.getLogger(__name__)

CODE_ATTEMPT_DAYS = 7
DAY = 24 * 3600.0
_CHUNK = 1 << 20


@dataclass
class Plan:
    """What a run deletes (ids only, never content)."""

    recordings: list[int] = field(default_factory=list)
    transcripts: list[int] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    cases: list[int] = field(default_factory=list)
    callbacks: list[int] = field(default_factory=list)
    code_attempts: int = 0
    caseless_recordings: int = 0  # kept; counted so someone looks at them

    def counts(self) -> dict[str, int]:
        return {k: (len(v) if isinstance(v, list) else v) for k, v in asdict(self).items()}


@dataclass
class Report:
    plan: Plan
    dry_run: bool
    files_wiped: int = 0
    files_missing: int = 0
    wal_truncated: bool = False
    audit_id: int | None = None
    checkpoint: checkpoints.Checkpoint | None = None

    def lines(self) -> list[str]:
        c = self.plan.counts()
        verb = "would delete" if self.dry_run else "deleted"
        out = [
            f"recordings {verb}: {c['recordings']}"
            + (f" (ids {_ids(self.plan.recordings)})" if self.plan.recordings else ""),
            f"transcripts {verb}: {c['transcripts']}",
            f"calls {'would be ' if self.dry_run else ''}anonymised: {c['calls']}",
            f"cases' caller references {'would be ' if self.dry_run else ''}cleared: {c['cases']}",
            f"call-back numbers {verb}: {c['callbacks']}"
            + (f" (call-backs {_ids(self.plan.callbacks)})" if self.plan.callbacks else ""),
            f"code-attempt rows {verb}: {c['code_attempts']}",
        ]
        if self.plan.caseless_recordings:
            out.append(f"recordings with no case (kept, check them): {self.plan.caseless_recordings}")
        if not self.dry_run:
            out.append(f"files overwritten and removed: {self.files_wiped} (already gone: {self.files_missing})")
            out.append("WAL truncated" if self.wal_truncated
                       else "WAL not truncated (a reader was busy); the next run retries")
            if self.checkpoint is not None:
                out.append(self.checkpoint.line())
        return out


def _ids(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:20])
    return shown + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")


def _column(db: sqlite_utils.Database, sql: str, params: list[Any]) -> list[Any]:
    return [r[0] for r in db.execute(sql, params).fetchall()]


def make_plan(db: sqlite_utils.Database, settings: Settings, now: datetime) -> Plan:
    recording_cutoff = stamp(now - timedelta(days=settings.retention_recording_days))
    call_cutoff = stamp(now - timedelta(days=settings.retention_call_days))
    recordings = _column(
        db,
        "select r.id from recordings r join cases c on c.id = r.case_id"
        " where c.status = 'closed' and c.closed_at is not null and c.closed_at <= ?"
        " and (r.state != 'deleted' or r.path is not null) order by r.id",
        [recording_cutoff],
    )
    transcripts = _column(
        db,
        "select t.id from transcripts t join recordings r on r.id = t.recording_id"
        " where r.state = 'deleted' or r.id in (select value from json_each(?)) order by t.id",
        [_json(recordings)],
    )
    return Plan(
        recordings=recordings,
        transcripts=transcripts,
        calls=_column(
            db, "select id from calls where started_at <= ? and (caller_ref is not null or anonymised_at is null)"
            " order by started_at", [call_cutoff],
        ),
        cases=_column(
            db, "select id from cases where created_at <= ? and caller_ref is not null order by id", [call_cutoff]
        ),
        callbacks=callbacks.due_for_expiry(db, now),
        code_attempts=_column(
            db, "select count(*) from code_attempts where at < ?", [stamp(now - timedelta(days=CODE_ATTEMPT_DAYS))]
        )[0],
        caseless_recordings=_column(
            db, "select count(*) from recordings where case_id is null and path is not null", []
        )[0],
    )


def _json(values: list[Any]) -> str:
    return json.dumps(values)


def apply(db: sqlite_utils.Database, settings: Settings, now: datetime) -> Plan:
    """Make the database changes of one run (in the caller's transaction); files are wiped after."""
    plan = make_plan(db, settings, now)
    at = stamp(now)
    ids = _json(plan.recordings)
    db.execute(
        "insert into retention_wipes (recording_id, path, created_at)"
        " select id, path, ? from recordings where id in (select value from json_each(?)) and path is not null",
        [at, ids],
    )
    db.execute(
        "update recordings set path = null, sha256 = null, state = 'deleted', deleted_at = coalesce(deleted_at, ?)"
        " where id in (select value from json_each(?))",
        [at, ids],
    )
    db.execute(
        "update jobs set state = 'skipped', error = 'recording deleted by retention', updated_at = ?"
        " where recording_id in (select value from json_each(?)) and state in ('queued', 'running', 'needs_human')",
        [at, ids],
    )
    db.execute("delete from transcripts where id in (select value from json_each(?))", [_json(plan.transcripts)])
    if plan.transcripts:
        # Deleting from FTS5 only adds tombstones; merging rewrites the index without the words.
        db.execute("insert into transcripts_fts (transcripts_fts) values ('optimize')")
    calls = _json(plan.calls)
    db.execute(
        "update calls set caller_ref = null, anonymised_at = coalesce(anonymised_at, ?)"
        " where id in (select value from json_each(?))",
        [at, calls],
    )
    db.execute("update call_steps set input = null where call_id in (select value from json_each(?))", [calls])
    lifecycle.anonymise(db, plan.cases)
    callbacks.expire(db, now)
    db.execute("delete from code_attempts where at < ?", [stamp(now - timedelta(days=CODE_ATTEMPT_DAYS))])
    return plan


def recording_file(data_dir: Path, row: dict[str, Any]) -> Path | None:
    """The file to play for a recordings row, or None when it is deleted or missing.

    Pages that were open while retention ran call this and show "deleted" instead of failing.
    """
    if row.get("state") != "stored" or not row.get("path"):
        return None
    path = _inside(data_dir, row["path"])
    return path if path is not None and path.is_file() else None


def _inside(data_dir: Path, relative: str) -> Path | None:
    root = data_dir.resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) and path != root else None


def wipe_file(path: Path) -> bool:
    """Overwrite with zeros, fsync, unlink, fsync the folder. False when the file was already gone."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        size = os.fstat(fd).st_size
        zeros = bytes(_CHUNK)
        written = 0
        while written < size:
            written += os.write(fd, zeros[: min(_CHUNK, size - written)])
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True


def checkpoint(db_path: Path, *, busy_ms: int = 2000) -> bool:
    """``PRAGMA wal_checkpoint(TRUNCATE)`` on a fresh connection; True when the WAL was emptied."""
    db = connect(db_path)
    try:
        db.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()[0]
        return busy == 0
    except sqlite3.OperationalError as exc:
        log.warning("WAL checkpoint failed: %s", exc)
        return False
    finally:
        db.conn.close()


class Retention:
    """One deployment's retention runs, against the hotline's :class:`Database`."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database

    async def run(self, *, dry_run: bool = False, now: datetime | None = None) -> Report:
        moment = now or datetime.now(UTC)
        if dry_run:
            plan = await self.database.read(lambda db: make_plan(db, self.settings, moment))
            return Report(plan=plan, dry_run=True)

        plan = await self.database.write(lambda db: apply(db, self.settings, moment))
        report = Report(plan=plan, dry_run=False)
        pending = await self.database.query("select id, recording_id, path from retention_wipes order by id")
        done: list[int] = []
        for item in pending:
            path = _inside(self.settings.data_dir, item["path"])
            if path is None:
                log.warning("retention: recording=%s path is outside the data dir; not touched", item["recording_id"])
            elif await asyncio.to_thread(wipe_file, path):
                report.files_wiped += 1
            else:
                report.files_missing += 1
            done.append(int(item["id"]))

        def finish(db: sqlite_utils.Database) -> int:
            db.execute("delete from retention_wipes where id in (select value from json_each(?))", [_json(done)])
            return audit.append(db, action="retention.run", object_type="retention",
                                detail={**plan.counts(), "files_wiped": report.files_wiped})

        report.audit_id = await self.database.write(finish)
        report.wal_truncated = await asyncio.to_thread(checkpoint, self.database.path)
        # Retention deletes data: sign the chain as it stands right after, so the run itself is covered.
        report.checkpoint = await checkpoints.sign_now(self.settings, self.database, "retention")
        head = await self.database.read(audit.head)
        log.info("retention run: %s; audit head %s", " ".join(f"{k}={v}" for k, v in plan.counts().items()), head)
        return report


async def run_daily(settings: Settings, database: Database, stop_event: asyncio.Event, *,
                    first_delay: float = 300.0, interval: float = DAY) -> None:
    """Run retention ``first_delay`` seconds after start, then every ``interval``, until ``stop_event``."""
    retention = Retention(settings, database)
    delay = first_delay
    while not stop_event.is_set():
        try:
            await asyncio.wait_for(stop_event.wait(), timeout=delay)
            return
        except TimeoutError:
            pass
        try:
            await retention.run()
        except Exception:
            # A failed run must not stop the hotline; the next day retries.
            log.exception("retention run failed")
        delay = interval


class RetentionService:
    """``ivr serve``'s daily retention, as a Service."""

    name = "retention"

    def __init__(self, settings: Settings, database: Database, *, first_delay: float = 300.0,
                 interval: float = DAY) -> None:
        self.settings = settings
        self.database = database
        self.first_delay = first_delay
        self.interval = interval
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(
            run_daily(self.settings, self.database, self._stop, first_delay=self.first_delay, interval=self.interval),
            name="retention",
        )

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
