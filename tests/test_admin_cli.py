"""`ivr user` and `ivr admin` from the command line."""

from __future__ import annotations

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


def test_user_add_reads_the_password_from_stdin(env: dict[str, str], tmp_path: Path) -> None:
    code, out = run(env, "user", "add", "lin", "--role", "caseworker", "--languages", "my,km",
                    stdin="a good long password\n")
    assert code == 0 and "added user lin" in out
    db = connect(tmp_path / "var" / "ivr.db")
    row = db.execute("select role, languages, password_hash from users where username = 'lin'").fetchone()
    assert row[:2] == ("caseworker", "my,km") and row[2].startswith("$argon2id$")
    assert verify_password(row[2], "a good long password")
    assert "a good long password" not in out

    code, out = run(env, "user", "list")
    assert code == 0 and "lin" in out and "my,km" in out and "$argon2" not in out
    code, out = run(env, "user", "add", "lin", "--role", "caseworker", stdin="a good long password\n")
    assert code == 1 and "already a user called lin" in out
    code, out = run(env, "user", "passwd", "lin", stdin="another long password\n")
    assert code == 0
    code, out = run(env, "user", "deactivate", "lin")
    assert code == 0 and db.execute("select active from users").fetchone()[0] == 0


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["--role", "caseworker"], "short\n", "at least 10 characters"),
    (["--role", "caseworker", "--languages", "my,xx"], "a good long password\n", "unknown language code 'xx'"),
    (["--role", "boss"], "a good long password\n", "Invalid value for '--role'"),
    (["--role", "brand"], "a good long password\n", "needs the brand"),
])
def test_user_add_refuses_bad_input(env: dict[str, str], args: list[str], stdin: str, message: str) -> None:
    code, out = run(env, "user", "add", "sam", *args, stdin=stdin)
    assert code != 0 and message in out and "Traceback" not in out


def test_admin_needs_a_secret(tmp_path: Path) -> None:
    code, out = run({"IVR_DATA_DIR": str(tmp_path / "var"), "IVR_SECRET_KEY": ""}, "admin")
    assert code == 1 and out.strip().startswith("Error: IVR_SECRET_KEY") and len(out.strip().splitlines()) == 1
    code, out = run({}, "admin", "--help")
    assert code == 0 and "web UI" in out
