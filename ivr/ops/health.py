"""Is the hotline healthy? One set of checks behind ``GET /healthz``, ``/metrics`` and ``ivr status``.

Each check answers ok or not with a short human reason; the whole is healthy when every check
is. The checks read the database (heartbeats, jobs) and the file system (fallback folder, free
disk); they never need the engine's or the worker's process to answer directly.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from ivr.db.connect import connect
from ivr.oncall.status import unacknowledged_emergencies
from ivr.ops import heartbeat
from ivr.settings import Settings

# The parts `ivr serve` runs, which must all be beating.
PARTS = ("engine", "transcribe", "admin")
# Transcription is behind when the oldest waiting job is older than this.
BACKLOG_MAX_AGE_S = 6 * 3600
# The engine imports the fallback folder every minute: a file older than this was not taken.
FALLBACK_MAX_AGE_S = 10 * 60
# An emergency should reach a person within a minute: one nobody has taken for this long means
# the on-call alerts are not getting through (no rota, phones down, the engine away).
EMERGENCY_MAX_AGE_S = 10 * 60
DISK_MIN_FREE_BYTES = 1 << 30
DISK_MIN_FREE_RATIO = 0.05
WAITING_JOBS = ("queued", "running")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": {c.name: {"ok": c.ok, "detail": c.detail, **c.values}
                                          for c in self.checks}}

    def value(self, check: str, key: str) -> Any:
        for c in self.checks:
            if c.name == check:
                return c.values.get(key)
        return None


def _age_s(text: str | None) -> float | None:
    if not text:
        return None
    at = dt.datetime.fromisoformat(text)
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return round((dt.datetime.now(dt.UTC) - at).total_seconds(), 1)


def check_db_writable(settings: Settings) -> Check:
    """Take the write lock and let it go: proves the file, its folder and the WAL accept writes."""
    if not settings.db_path.is_file():
        return Check("database", False, f"{settings.db_path} does not exist (ivr db migrate makes it)")
    try:
        db = connect(settings.db_path)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
        finally:
            db.conn.close()
    except (sqlite3.Error, OSError) as exc:
        return Check("database", False, f"cannot write {settings.db_path}: {exc}")
    return Check("database", True, "writable")


def check_parts(db: sqlite_utils.Database) -> list[Check]:
    beats = heartbeat.read_all(db)
    checks = []
    for part in PARTS:
        row = beats.get(part)
        if row is None:
            checks.append(Check(part, False, "has never reported: is it running?"))
            continue
        state, age = row["state"], row["age_s"]
        values = {"heartbeat_age_s": age, **state}
        if age > heartbeat.STALE_AFTER_S:
            checks.append(Check(part, False, f"last reported {age:.0f} s ago: stopped or stuck", values))
        elif part == "engine" and not state.get("ari_connected"):
            checks.append(Check(part, False, "not connected to Asterisk (ARI)", values))
        elif part == "transcribe" and state.get("alive", 0) < state.get("processes", 0):
            checks.append(Check(part, False, f"{state.get('alive')} of {state.get('processes')} worker processes "
                                             "alive", values))
        else:
            checks.append(Check(part, True, "running", values))
    return checks


def check_backlog(db: sqlite_utils.Database) -> Check:
    row = db.execute(
        f"select count(*), min(created_at) from jobs where kind = 'transcribe' and state in "
        f"({','.join('?' * len(WAITING_JOBS))})", list(WAITING_JOBS)).fetchone()
    depth, oldest = int(row[0]), _age_s(row[1])
    values = {"depth": depth, "oldest_age_s": oldest}
    if oldest is not None and oldest > BACKLOG_MAX_AGE_S:
        return Check("transcription", False, f"{depth} waiting, the oldest for {oldest / 3600:.1f} h", values)
    return Check("transcription", True, f"{depth} waiting", values)


def check_emergencies(db: sqlite_utils.Database) -> Check:
    status = unacknowledged_emergencies(db)
    values = {"unacknowledged": status.count, "oldest_age_s": status.oldest_age_s}
    if status.oldest_age_s is not None and status.oldest_age_s > EMERGENCY_MAX_AGE_S:
        return Check("emergencies", False, f"{status.count} emergency case(s) not taken, the oldest for "
                     f"{status.oldest_words}", values)
    return Check("emergencies", True, f"{status.count} not taken", values)


def check_fallback(settings: Settings) -> Check:
    folder = settings.fallback_path
    # Finished voicemails only: `.lang` side files go with them, `tmp/` holds calls still recording.
    files = [p for p in folder.glob("*.wav") if p.is_file()] if folder.is_dir() else []
    now = time.time()
    oldest = max((now - p.stat().st_mtime for p in files), default=None)
    values = {"files": len(files), "oldest_age_s": None if oldest is None else round(oldest, 1)}
    if oldest is not None and oldest > FALLBACK_MAX_AGE_S:
        return Check("fallback", False, f"{len(files)} voicemail file(s) in {folder} not imported", values)
    return Check("fallback", True, f"{len(files)} file(s) waiting", values)


def check_disk(settings: Settings) -> Check:
    usage = shutil.disk_usage(settings.data_dir)
    values = {"free_bytes": usage.free, "total_bytes": usage.total}
    free_gib = usage.free / (1 << 30)
    if usage.free < DISK_MIN_FREE_BYTES or usage.free < DISK_MIN_FREE_RATIO * usage.total:
        return Check("disk", False, f"only {free_gib:.1f} GiB free under {settings.data_dir}", values)
    return Check("disk", True, f"{free_gib:.1f} GiB free", values)


def collect(settings: Settings) -> Report:
    """Every check, in a fixed order. Sync: run it in a thread from async code."""
    checks = [check_db_writable(settings)]
    if checks[0].ok:
        db = connect(settings.db_path, readonly=True)
        try:
            checks += check_parts(db)
            checks.append(check_backlog(db))
            checks.append(check_emergencies(db))
        except sqlite3.Error as exc:
            checks.append(Check("database", False, f"cannot read: {exc}"))
        finally:
            db.conn.close()
    checks.append(check_fallback(settings))
    checks.append(check_disk(settings))
    return Report(checks)
