"""`ivr audit verify|tail` and `ivr retention run` as an operator runs them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TEST_SECRET

from ivr.cli import main
from ivr.db import connect
from ivr.db.schema import migrate
from ivr.protection import audit


@pytest.fixture
def deployment(tmp_path: Path) -> tuple[list[str], Path]:
    config = tmp_path / "ivr.toml"
    config.write_text("")
    data = tmp_path / "var"
    db = connect(data / "ivr.db")
    migrate(db)
    db.execute("BEGIN IMMEDIATE")
    for i in range(4):
        audit.append(db, action="case.view", user_id=1, username="mai", object_type="case", object_id=i,
                     detail={"n": i})
    db.execute("COMMIT")
    db.conn.close()
    return ["--config", str(config), "--data-dir", str(data)], data / "ivr.db"


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env={"IVR_SECRET_KEY": TEST_SECRET}, catch_exceptions=False)
    return result.exit_code, result.output


def test_verify_ok_then_tampered(deployment: tuple[list[str], Path]) -> None:
    base, db_path = deployment
    code, out = _run([*base, "audit", "verify"])
    assert code == 0 and "audit log: ok, 4 rows; head 4:" in out
    head = out.strip().rsplit("head ", 1)[1]
    assert _run([*base, "audit", "verify", "--head", head])[0] == 0

    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("drop trigger audit_log_no_update")
    conn.execute("update audit_log set detail = '{\"n\":9}' where id = 2")
    conn.close()
    code, out = _run([*base, "audit", "verify"])
    assert code == 1
    assert "row 2: edited" in out and "audit_log_no_update is missing" in out


def test_verify_bad_head_and_missing_database(deployment: tuple[list[str], Path], tmp_path: Path) -> None:
    base, _ = deployment
    code, out = _run([*base, "audit", "verify", "--head", "4:nothex"])
    assert code == 2 and "--head" in out
    code, out = _run(["--config", base[1], "--data-dir", str(tmp_path / "nowhere"), "audit", "verify"])
    assert code == 1 and "no database at" in out


def test_tail_shows_newest_rows(deployment: tuple[list[str], Path]) -> None:
    base, _ = deployment
    code, out = _run([*base, "audit", "tail", "-n", "2"])
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].split()[0] == "3" and "mai case.view case:2" in lines[0] and '{"n": 3}' in lines[1]


def test_retention_dry_run_then_run(deployment: tuple[list[str], Path]) -> None:
    base, db_path = deployment
    code, out = _run([*base, "retention", "run", "--dry-run"])
    assert code == 0 and "dry run: nothing was changed" in out and "recordings would delete: 0" in out
    code, out = _run([*base, "retention", "run"])
    assert code == 0 and "recordings deleted: 0" in out and "WAL truncated" in out
    db = connect(db_path)
    assert [r["action"] for r in db.query("select action from audit_log where id > 4")] == ["retention.run"]
    db.conn.close()


def test_retention_needs_the_secret(deployment: tuple[list[str], Path]) -> None:
    base, _ = deployment
    result = CliRunner().invoke(main, [*base, "retention", "run"], env={"IVR_SECRET_KEY": ""})
    assert result.exit_code == 1 and "IVR_SECRET_KEY" in result.output
