"""Signed audit checkpoints: the attack the bare hash chain cannot see (drop the triggers, edit a row,
recompute every later hash, restore the triggers) is caught with the public key alone."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner
from conftest import TEST_SECRET

from ivr.cli import main
from ivr.db.writer import Database
from ivr.protection import audit
from ivr.protection.checkpoints import CheckpointService
from ivr.settings import Settings

TRIGGERS = """
create trigger audit_log_no_update before update on audit_log begin select raise(abort, 'append-only'); end;
create trigger audit_log_no_delete before delete on audit_log begin select raise(abort, 'append-only'); end;
"""


def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def _rows(db_path: Path, n: int) -> None:
    database = Database(db_path)

    def write(db: object) -> None:
        for i in range(n):
            audit.append(db, action="case.view", user_id=1, username="mai", object_type="case",  # type: ignore[arg-type]
                         object_id=i)

    database.write_sync(write)
    database.close()


def _rewrite(db_path: Path, row_id: int) -> None:
    """The attack: drop the guards, edit a row, recompute every hash from it on, restore the guards."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("drop trigger audit_log_no_update")
    conn.execute("drop trigger audit_log_no_delete")
    conn.execute("update audit_log set username = 'someone else' where id = ?", [row_id])
    cols = ["id", "at", "user_id", "username", "action", "object_type", "object_id", "detail", "prev_hash"]
    prev = conn.execute("select row_hash from audit_log where id = ?", [row_id - 1]).fetchone()[0]
    for values in conn.execute(f"select {', '.join(cols)} from audit_log where id >= ? order by id",
                               [row_id]).fetchall():
        row = dict(zip(cols, values, strict=True))
        row["prev_hash"] = prev
        prev = audit.row_hash(row)
        conn.execute("update audit_log set prev_hash = ?, row_hash = ? where id = ?",
                     [row["prev_hash"], prev, row["id"]])
    conn.executescript(TRIGGERS)
    conn.close()


def test_rewritten_history_is_caught_and_the_row_named(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "audit.pem"
    env = {"IVR_DATA_DIR": str(tmp_path / "var"), "IVR_SECRET_KEY": TEST_SECRET,
           "IVR_AUDIT_SIGNING_KEY_FILE": str(key_file)}
    code, out = _run(env, "audit", "keygen", str(tmp_path / "var" / "inside.pem"))
    assert code == 1 and "inside IVR_DATA_DIR" in out and "backups" in out
    code, out = _run(env, "audit", "keygen", str(key_file))
    assert code == 0 and key_file.stat().st_mode & 0o077 == 0
    public = out.split("public key: ")[1].strip()
    assert len(public) == 64
    code, out = _run(env, "audit", "keygen", str(key_file))
    assert code == 1 and "refusing to overwrite" in out

    db_path = tmp_path / "var" / "ivr.db"
    _rows(db_path, 4)
    code, out = _run(env, "audit", "checkpoint")
    assert code == 0 and "rows 1-4" in out
    _rows(db_path, 4)
    code, out = _run(env, "audit", "checkpoint")
    assert code == 0 and "rows 5-8" in out
    _rows(db_path, 2)  # not yet covered by a checkpoint
    code, out = _run(env, "audit", "verify", "--public-key", public)
    assert code == 0 and "signed checkpoints: 2 ok, up to row 8" in out

    _rewrite(db_path, 6)
    code, out = _run(env, "audit", "verify")  # the chain alone is fooled...
    assert code == 0 and "signed checkpoints: not checked" in out
    code, out = _run(env, "audit", "verify", "--public-key", public)  # ...the signed checkpoint is not
    assert code == 1
    assert "row 6: changed since checkpoint 2 (rows 5-8" in out
    assert "first changed row after the last good checkpoint (row 4)" in out
    code, out = _run({**env, "IVR_AUDIT_PUBLIC_KEY": public}, "audit", "verify")
    assert code == 1 and "row 6: changed" in out

    # Re-signing with a key of one's own does not help: verify uses the operator's public key.
    other = tmp_path / "keys" / "other.pem"
    _run(env, "audit", "keygen", str(other))
    conn = sqlite3.connect(db_path)
    conn.execute("delete from audit_checkpoints")
    conn.commit()
    conn.close()
    _run({**env, "IVR_AUDIT_SIGNING_KEY_FILE": str(other)}, "audit", "checkpoint")
    code, out = _run(env, "audit", "verify", "--public-key", public)
    assert code == 1 and "does not verify with this public key" in out
    code, out = _run(env, "audit", "verify", "--public-key", "abc")
    assert code == 2 and "64 hex digits" in out


def test_retention_and_serve_sign_checkpoints(settings: Settings, tmp_path: Path) -> None:
    from ivr.protection.retention import Retention

    key_file = tmp_path / "keys" / "audit.pem"
    code, _ = _run({"IVR_DATA_DIR": str(settings.data_dir)}, "audit", "keygen", str(key_file))
    assert code == 0
    signed = dataclasses.replace(settings, audit_signing_key_file=key_file)
    database = Database(settings.db_path)
    try:
        report = asyncio.run(Retention(signed, database).run())
        assert report.checkpoint is not None and report.checkpoint.reason == "retention"
        assert report.checkpoint.audit_id == report.audit_id
        assert report.checkpoint.line() in report.lines()
        _rows(settings.db_path, 3)

        async def serve_briefly() -> None:
            service = CheckpointService(signed, database, interval=3600)
            await service.start()
            await service.stop()

        asyncio.run(serve_briefly())  # signs at start, hourly, and at stop when there is something new
        reasons = [r["reason"] for r in database.query_sync("select reason from audit_checkpoints order by id")]
        assert reasons == ["retention", "start"]
        detail = database.query_sync("select detail from audit_log where action = 'retention.run'")[0]["detail"]
        assert "files_wiped" in json.loads(detail)
    finally:
        database.close()
