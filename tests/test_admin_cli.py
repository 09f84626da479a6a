"""`ivr user` and `ivr admin` from the command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TEST_SECRET

from ivr.admin.passwords import verify_password
from ivr.cli import main
from ivr.db import connect


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"IVR_DATA_DIR": str(tmp_path / "var"), "IVR_SECRET_KEY": TEST_SECRET}


def run(env: dict[str, str], *args: str, stdin: str = "") -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=stdin, env=env)
    return result.exit_code, result.output


def test_first_supervisor_then_accounts_wait_for_approval(env: dict[str, str], tmp_path: Path) -> None:
    code, out = run(env, "user", "add", "mai", "--role", "supervisor", "--first-supervisor",
                    stdin="a good long password\n")
    assert code == 0 and "the first supervisor, who can sign in now" in out
    db = connect(tmp_path / "var" / "ivr.db")
    row = db.execute("select role, approved, password_hash from users where username = 'mai'").fetchone()
    assert row[:2] == ("supervisor", 1) and verify_password(row[2], "a good long password")
    assert "a good long password" not in out
    audit = db.execute("select username, action, detail from audit_log").fetchall()
    assert audit == [("(cli)", "user.create", '{"first_supervisor":true,"role":"supervisor"}')]
    # Only once: afterwards supervisors approve new case readers.
    code, out = run(env, "user", "add", "eve", "--role", "supervisor", "--first-supervisor",
                    stdin="a good long password\n")
    assert code == 1 and "there is already a supervisor with a password" in out

    code, out = run(env, "user", "add", "lin", "--role", "caseworker", "--languages", "my,km",
                    stdin="a good long password\n")
    assert code == 0 and "added user lin" in out and "waits for a supervisor's approval" in out
    assert "/set-password/" not in out
    row = db.execute("select role, languages, approved, password_hash from users where username = 'lin'").fetchone()
    assert row == ("caseworker", "my,km", 0, "")
    code, out = run(env, "user", "list")
    assert code == 0 and "lin" in out and "my,km" in out and "$argon2" not in out
    code, out = run(env, "user", "add", "lin", "--role", "caseworker")
    assert code == 1 and "already a user called lin" in out
    code, out = run(env, "user", "passwd", "mai")
    assert code == 0 and "A supervisor gives mai a link" in out and "/set-password/" not in out
    assert db.execute("select password_hash from users where username = 'mai'").fetchone() == ("",)
    # No supervisor can sign in any more: the bootstrap may set one again.
    code, out = run(env, "user", "passwd", "mai", "--first-supervisor", stdin="another good long password\n")
    assert code == 0
    code, out = run(env, "user", "add", "ops", "--role", "admin")
    assert code == 0 and re.search(r"/set-password/[A-Za-z0-9_-]{30,}", out)
    code, out = run(env, "user", "deactivate", "lin")
    assert code == 0 and db.execute("select active from users where username = 'lin'").fetchone()[0] == 0


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["--role", "supervisor", "--first-supervisor"], "short\n", "at least 10 characters"),
    (["--role", "supervisor", "--first-supervisor"], "password12\n", "too easy to guess"),
    (["--role", "supervisor", "--first-supervisor"], "1234567890\n", "too easy to guess"),
    (["--role", "caseworker", "--first-supervisor"], "a good long password\n", "only for --role supervisor"),
    (["--role", "caseworker", "--languages", "my,xx"], "", "unknown language code 'xx'"),
    (["--role", "boss"], "", "Invalid value for '--role'"),
    (["--role", "brand"], "", "needs the brand"),
    (["--role", "brand", "--brand-id", "99"], "", "There is no brand number 99"),
])
def test_user_add_refuses_bad_input(env: dict[str, str], args: list[str], stdin: str, message: str) -> None:
    code, out = run(env, "user", "add", "sam", *args, stdin=stdin)
    assert code != 0 and message in out and "Traceback" not in out


def test_admin_needs_a_secret(tmp_path: Path) -> None:
    code, out = run({"IVR_DATA_DIR": str(tmp_path / "var"), "IVR_SECRET_KEY": ""}, "admin")
    assert code == 1 and out.strip().startswith("Error: IVR_SECRET_KEY") and len(out.strip().splitlines()) == 1
    code, out = run({}, "admin", "--help")
    assert code == 0 and "web UI" in out
