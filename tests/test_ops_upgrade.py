"""Upgrading a database made by the first release's schema, as `ivr db migrate` does it."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TEST_SECRET

from ivr.cli import main
from ivr.db import connect, utcnow
from ivr.db.migrations import Migrations
from ivr.db.schema import m0001_core, migrations
from ivr.ops import backup
from ivr.protection import audit

FIRST_RELEASE = ["m0001_core"]


def first_release_db(data: Path) -> dict[str, object]:
    """A database built by the first release's migrations only, with a case, a call, a message, a user."""
    old = Migrations("ivr")
    old(m0001_core)
    db = connect(data / "ivr.db")
    assert old.apply(db) == FIRST_RELEASE
    audio = data / "recordings" / "c1.wav"
    audio.parent.mkdir(parents=True)
    audio.write_bytes(b"RIFF" + bytes(range(256)) * 8)
    sha = hashlib.sha256(audio.read_bytes()).hexdigest()
    now = utcnow()
    db.execute("BEGIN IMMEDIATE")
    db.execute("insert into users (username, password_hash, role, created_at) values ('mai', 'x', 'caseworker', ?)",
               [now])
    db.execute("insert into calls (id, channel_id, started_at, ended_at, outcome, language) "
               "values ('c1', 'ch1', ?, ?, 'completed', 'my')", [now, now])
    db.execute("insert into cases (id, category, language, status, emergency, created_at, updated_at, "
               "source_call_id) values (7, 'wages', 'my', 'acknowledged', 0, ?, ?, 'c1')", [now, now])
    db.execute("insert into recordings (call_id, case_id, path, sha256, size_bytes, state, created_at) "
               "values ('c1', 7, 'recordings/c1.wav', ?, ?, 'stored', ?)", [sha, audio.stat().st_size, now])
    for i in range(3):
        audit.append(db, action="case.view", user_id=1, username="mai", object_type="case", object_id=7,
                     detail={"n": i})
    db.execute("COMMIT")
    db.conn.close()
    return {"sha": sha}


def _cli(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env={"IVR_SECRET_KEY": TEST_SECRET}, catch_exceptions=False)
    return result.exit_code, result.output


def _dump(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return [*conn.execute("select id, category, language, status, source_call_id from cases"),
                *conn.execute("select id, outcome from calls"), *conn.execute("select path, sha256 from recordings"),
                *conn.execute("select id, row_hash from audit_log"), *conn.execute("select username from users")]
    finally:
        conn.close()


@pytest.fixture
def old_data(tmp_path: Path) -> Path:
    data = tmp_path / "var"
    first_release_db(data)
    return data


def test_upgrade_from_the_first_release_backs_up_then_keeps_everything(old_data: Path, tmp_path: Path) -> None:
    before = _dump(old_data / "ivr.db")
    private, public = backup.generate_key()
    (tmp_path / "key").write_text(private)
    code, out = _cli(["--data-dir", str(old_data), "--set", f"backup_recipient={public}",
                      "--set", f"backup_dir={tmp_path / 'backups'}", "db", "migrate"])
    assert code == 0, out
    assert "backed up to" in out and f"applied {len(migrations.names) - 1} migration(s)" in out
    db = connect(old_data / "ivr.db", readonly=True)
    try:
        assert migrations.applied(db) == migrations.names
    finally:
        db.conn.close()
    assert _dump(old_data / "ivr.db") == before, "every row is as it was"
    assert _cli(["--data-dir", str(old_data), "audit", "verify"])[0] == 0
    # The backup is of the database before the upgrade, and restores.
    made = next((tmp_path / "backups").glob("*.tar.age"))
    restored = tmp_path / "restored"
    backup.restore(made, backup.read_identity(tmp_path / "key"), restored)
    conn = sqlite3.connect(restored / "ivr.db")
    assert [r[0] for r in conn.execute("select name from _ivr_migrations")] == FIRST_RELEASE
    conn.close()
    assert _cli(["--data-dir", str(old_data), "db", "migrate"]) == (0, f"{old_data / 'ivr.db'} is up to date\n")


def test_no_backup_key_means_no_upgrade_unless_told(old_data: Path) -> None:
    code, out = _cli(["--data-dir", str(old_data), "db", "migrate"])
    assert code == 1 and out.startswith("Error: no backup, so nothing migrated: IVR_BACKUP_RECIPIENT")
    conn = sqlite3.connect(old_data / "ivr.db")
    assert [r[0] for r in conn.execute("select name from _ivr_migrations")] == FIRST_RELEASE
    conn.close()
    code, out = _cli(["--data-dir", str(old_data), "db", "migrate", "--no-backup"])
    assert code == 0 and "backed up" not in out and "applied" in out
