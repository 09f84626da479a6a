"""Retention: what goes when, that deletion really removes the data, and runs alongside open pages."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from ivr.db import connect
from ivr.db.writer import Database
from ivr.protection import audit
from ivr.protection.retention import Retention, RetentionService, recording_file, wipe_file
from ivr.settings import Settings

NOW = datetime.now(UTC)
SECRET_WORD = "Quokkapassportfactory"  # a transcript word that must vanish from the file


def _ago(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _wav(path: Path, seconds: float = 0.5) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(os.urandom(int(8000 * seconds)) * 2)


def _seed(db: sqlite_utils.Database, data_dir: Path) -> dict[str, Any]:
    """A closed old case with a voicemail and a reply, an open case, an old and a recent call."""
    out: dict[str, Any] = {}
    for call_id, days in (("old-call", 800), ("new-call", 10)):
        db.execute("insert into calls (id, channel_id, started_at, caller_ref) values (?, 'ch', ?, ?)",
                   [call_id, _ago(days), f"ref-{call_id}"])
        db.execute("insert into call_steps (call_id, seq, at, node, input) values (?, 1, ?, 'menu', '4')",
                   [call_id, _ago(days)])

    def case(status: str, closed_days: float | None, created_days: float) -> int:
        return int(db.execute(
            "insert into cases (status, caller_ref, created_at, updated_at, closed_at) values (?, 'ref-x', ?, ?, ?)",
            [status, _ago(created_days), _ago(created_days), None if closed_days is None else _ago(closed_days)],
        ).lastrowid or 0)

    out["closed_old"] = case("closed", 400, 800)
    out["closed_recent"] = case("closed", 10, 20)
    out["open"] = case("in_progress", None, 800)
    out["files"] = {}
    for key, kind in (("closed_old", "voicemail"), ("closed_old", "reply"), ("closed_recent", "voicemail"),
                      ("open", "voicemail"), (None, "voicemail")):
        rel = f"recordings/{key}-{kind}.wav"
        _wav(data_dir / rel)
        rid = int(db.execute(
            "insert into recordings (case_id, kind, path, state, created_at) values (?, ?, ?, 'stored', ?)",
            [out.get(key) if key else None, kind, rel, _ago(500)],
        ).lastrowid or 0)
        out["files"][rid] = data_dir / rel
        db.execute(
            "insert into transcripts (recording_id, engine, text, version, created_at) values (?, 'vosk', ?, 1, ?)",
            [rid, f"my boss keeps my {SECRET_WORD} and {key}", _ago(500)],
        )
        db.execute("insert into jobs (recording_id, state, created_at, updated_at) values (?, 'queued', ?, ?)",
                   [rid, _ago(1), _ago(1)])
    out["doomed"] = sorted(r for r, p in out["files"].items() if "closed_old" in p.name)
    db.execute(
        "insert into callbacks (case_id, number_encrypted, window, consent_at, delete_after, created_at)"
        " values (?, 'sealed-token', 'evening', ?, ?, ?)",
        [out["open"], _ago(40), _ago(10), _ago(40)],
    )
    db.execute("insert into code_attempts (caller_ref, call_id, at, success) values ('ref-x', 'old-call', ?, 0)",
               [_ago(30)])
    db.execute("insert into code_attempts (caller_ref, call_id, at, success) values ('ref-x', 'new-call', ?, 0)",
               [_ago(0.5)])
    return out


def _dump(db_path: Path) -> list[str]:
    conn = sqlite3.connect(db_path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture
async def seeded(database: Database, settings: Settings) -> dict[str, Any]:
    return await database.write(lambda db: _seed(db, settings.data_dir))


def test_connections_use_secure_delete(database: Database, settings: Settings) -> None:
    assert connect(settings.db_path).execute("PRAGMA secure_delete").fetchall()[0][0] == 1
    assert database.query_sync("PRAGMA secure_delete") == [{"secure_delete": 1}]
    assert database.write_sync(lambda db: db.execute("PRAGMA secure_delete").fetchall()[0][0]) == 1


async def test_dry_run_lists_and_changes_nothing(
    database: Database, settings: Settings, seeded: dict[str, Any]
) -> None:
    before = _dump(settings.db_path)
    report = await Retention(settings, database).run(dry_run=True, now=NOW)
    assert report.plan.recordings == seeded["doomed"]
    assert report.plan.calls == ["old-call"]
    assert set(report.plan.cases) == {seeded["closed_old"], seeded["open"]}
    assert len(report.plan.callbacks) == 1 and report.plan.code_attempts == 1
    assert report.plan.caseless_recordings == 1
    assert len(report.plan.transcripts) == 2
    text = "\n".join(report.lines())
    assert "recordings would delete: 2" in text and "recordings with no case (kept" in text
    assert _dump(settings.db_path) == before
    assert all(p.exists() for p in seeded["files"].values())


async def test_run_deletes_for_real(database: Database, settings: Settings, seeded: dict[str, Any]) -> None:
    doomed = seeded["doomed"]
    # Keep a descriptor on the first file: after the run it still reads the same inode, now overwritten.
    held = os.open(seeded["files"][doomed[0]], os.O_RDONLY)
    report = await Retention(settings, database).run(now=NOW)
    wiped = os.read(held, 1 << 20)
    os.close(held)
    assert len(wiped) > 1000 and wiped == bytes(len(wiped))  # overwritten with zeros before removal
    assert report.files_wiped == 2 and report.wal_truncated

    for rid, path in seeded["files"].items():
        row = await database.query_one("select state, path, deleted_at from recordings where id = ?", [rid])
        assert row is not None
        if rid in doomed:
            assert not path.exists() and row["state"] == "deleted" and row["path"] is None and row["deleted_at"]
        else:
            assert path.exists() and row["state"] == "stored"
    transcripts = await database.query("select recording_id from transcripts order by recording_id")
    assert [t["recording_id"] for t in transcripts] == sorted(set(seeded["files"]) - set(doomed))
    jobs = {j["recording_id"]: j["state"] for j in await database.query("select * from jobs")}
    assert all(jobs[r] == "skipped" for r in doomed) and list(jobs.values()).count("queued") == 3
    hits = await database.query("select rowid from transcripts_fts where transcripts_fts match 'closed_old'")
    assert hits == []

    calls = {c["id"]: c for c in await database.query("select * from calls")}
    assert calls["old-call"]["caller_ref"] is None and calls["old-call"]["anonymised_at"]
    assert calls["new-call"]["caller_ref"] == "ref-new-call"
    steps = {s["call_id"]: s["input"] for s in await database.query("select * from call_steps")}
    assert steps == {"old-call": None, "new-call": "4"}
    assert (await database.query_one("select caller_ref from cases where id = ?", [seeded["closed_recent"]])) == {
        "caller_ref": "ref-x"}
    assert (await database.query_one("select number_encrypted, state from callbacks")) == {
        "number_encrypted": None, "state": "expired"}
    assert len(await database.query("select * from code_attempts")) == 1

    runs = await database.query("select * from audit_log where action = 'retention.run'")
    assert len(runs) == 1 and '"recordings":2' in runs[0]["detail"]
    assert await database.read(audit.verify) == []

    # The deleted transcripts' words are gone from the file itself, WAL included.
    for path in (settings.db_path, settings.db_path.with_name(settings.db_path.name + "-wal")):
        if path.exists():
            assert b"closed_old" not in path.read_bytes(), path.name
    assert SECRET_WORD.encode() in settings.db_path.read_bytes()  # the kept transcripts are still there

    again = await Retention(settings, database).run(now=NOW)
    assert again.plan.counts()["recordings"] == 0 and again.files_wiped == 0
    assert len(await database.query("select * from audit_log where action = 'retention.run'")) == 2


async def test_run_while_a_caseworker_has_the_case_open(
    database: Database, settings: Settings, seeded: dict[str, Any]
) -> None:
    """The page's read transaction is open during the run: nothing fails, and the page then sees 'deleted'."""
    case_id, rid = seeded["closed_old"], seeded["doomed"][0]
    page = connect(settings.db_path)
    page.execute("BEGIN")
    shown = next(page.query("select * from recordings where id = ?", [rid]))
    assert recording_file(settings.data_dir, shown) == seeded["files"][rid]

    report = await Retention(settings, database).run(now=NOW)
    assert report.files_wiped == 2
    assert not report.wal_truncated  # the open page holds a snapshot; truncation waits for the next run
    # The page's snapshot still says 'stored', but the file is gone: the page shows it as deleted.
    stale = next(page.query("select * from recordings where id = ?", [rid]))
    assert stale["state"] == "stored"
    assert recording_file(settings.data_dir, stale) is None
    page.execute("COMMIT")
    fresh = next(page.query("select * from recordings where id = ? and case_id = ?", [rid, case_id]))
    assert fresh["state"] == "deleted" and recording_file(settings.data_dir, fresh) is None
    page.conn.close()
    assert (await Retention(settings, database).run(now=NOW)).wal_truncated


async def test_interrupted_wipe_is_finished_next_run_and_paths_are_confined(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    leftover = settings.data_dir / "recordings" / "leftover.wav"
    _wav(leftover)
    outside = tmp_path / "not-ours.wav"
    _wav(outside)
    await database.write(lambda db: db.execute(
        "insert into retention_wipes (recording_id, path, created_at) values (1, 'recordings/leftover.wav', 'x'),"
        " (2, '../not-ours.wav', 'x'), (3, 'recordings/already-gone.wav', 'x')"))
    report = await Retention(settings, database).run(now=NOW)
    assert not leftover.exists() and outside.exists()
    assert report.files_wiped == 1 and report.files_missing == 1
    assert await database.query("select * from retention_wipes") == []


def test_wipe_file_reports_missing(tmp_path: Path) -> None:
    target = tmp_path / "a.wav"
    _wav(target)
    assert wipe_file(target) and not target.exists()
    assert not wipe_file(target)


async def test_service_runs_on_start_and_stops_promptly(
    database: Database, settings: Settings, seeded: dict[str, Any]
) -> None:
    service = RetentionService(settings, database, first_delay=0, interval=3600)
    await service.start()
    for _ in range(200):
        if await database.query("select id from audit_log where action = 'retention.run'"):
            break
        await asyncio.sleep(0.05)
    await asyncio.wait_for(service.stop(), timeout=10)
    runs = await database.query("select id from audit_log where action = 'retention.run'")
    assert len(runs) == 1
    # The service uses the real clock, which NOW is: the case closed 400 days ago lost its files.
    assert all(not seeded["files"][r].exists() for r in seeded["doomed"])
