"""The CLI's one error boundary (issue 20, items 12, 13, 14, 17, 20): each bad input gives one line
naming what failed and where to look, and exit status 1; the traceback only at IVR_LOG_LEVEL=DEBUG.

The real command runs in a subprocess, as an operator runs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, TEST_SECRET

from ivr.db import connect
from ivr.db.schema import migrate


def ivr(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ivr", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120, check=False, input=stdin)


def environment(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update({"IVR_DATA_DIR": str(data), "IVR_SECRET_KEY": TEST_SECRET, "IVR_LOG_LEVEL": "WARNING", **extra})
    return env


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    """The command's stderr must be exactly one line (what failed and where to look)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def migrated(data: Path) -> Path:
    data.mkdir(parents=True, exist_ok=True)
    db = connect(data / "ivr.db")
    migrate(db)
    db.conn.close()
    return data / "ivr.db"


@pytest.fixture
def read_only() -> Iterator[list[Path]]:
    """Paths made read-only for this test. Root ignores modes, so for root the file is made immutable."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o700 if path.is_dir() else 0o600)


def make_read_only(path: Path, registry: list[Path]) -> None:
    registry.append(path)
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.fail("running as root needs chattr (e2fsprogs) to make a file read-only")
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o500 if path.is_dir() else 0o400)


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "ivr.db").write_text("these are notes, not a database\n" * 20)
    result = ivr(["db", "status"], environment(tmp_path / "var"))
    assert result.returncode == 1
    assert last_line(result) == (
        f"Error: {tmp_path}/var/ivr.db is not an SQLite database (check IVR_DB, or restore the file from a backup)")


def test_a_corrupt_database_and_only_at_debug_a_traceback(tmp_path: Path) -> None:
    path = migrated(tmp_path / "var")
    raw = bytearray(path.read_bytes())
    for i in range(4096, len(raw), 7):  # page 2 onwards: the schema page stays readable
        raw[i] = 0xAB
    path.write_bytes(bytes(raw))
    result = ivr(["db", "status"], environment(tmp_path / "var"))
    assert result.returncode == 1
    wanted = f"Error: {path} is damaged (database disk image is malformed); restore it from a backup"
    assert last_line(result) == wanted
    debug = ivr(["db", "status"], environment(tmp_path / "var", IVR_LOG_LEVEL="DEBUG"))
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr and debug.stderr.strip().endswith(wanted)


def test_serve_refuses_a_database_that_fails_quick_check(tmp_path: Path) -> None:
    path = migrated(tmp_path / "var")
    db = sqlite3.connect(path)
    # A damaged index: the rows are fine, the index lies. Only a check notices.
    db.execute("PRAGMA writable_schema = ON")
    db.execute("create table t (x)")
    db.execute("create index tx on t (x)")
    db.execute("insert into t values (1), (2), (3)")
    db.commit()
    root = db.execute("select rootpage from sqlite_master where name = 'tx'").fetchone()[0]
    db.close()
    raw = bytearray(path.read_bytes())
    page = 4096 * (root - 1)
    raw[page + 8: page + 4096] = bytes(4088)  # the index page's cells zeroed
    path.write_bytes(bytes(raw))
    result = ivr(["serve"], environment(tmp_path / "var", IVR_ADMIN_BIND="127.0.0.1:0"))
    assert result.returncode == 1
    line = last_line(result)
    assert line.startswith(f"Error: {path} is damaged (quick_check: *** in database main *** ") and line.endswith(
        "); restore it from a backup")


def test_a_read_only_database(tmp_path: Path, read_only: list[Path]) -> None:
    path = migrated(tmp_path / "var")
    make_read_only(path, read_only)
    wanted = f"Error: {path} is read-only; make the file and its folder writable by this user"
    added = ivr(["user", "add", "bob", "--role", "admin"], environment(tmp_path / "var"),
                stdin="Correct-Horse-Battery-9\nCorrect-Horse-Battery-9\n")
    assert (added.returncode, last_line(added)) == (1, wanted)
    retention = ivr(["retention", "run"], environment(tmp_path / "var"))
    assert (retention.returncode, last_line(retention)) == (1, wanted)
    admin = ivr(["admin"], environment(tmp_path / "var", IVR_ADMIN_BIND="127.0.0.1:0"))
    assert (admin.returncode, last_line(admin)) == (1, wanted)  # no sign-in page that answers 500
    check = ivr(["check"], environment(tmp_path / "var"))
    assert check.returncode == 1
    assert f"  IVR_DB: {wanted.removeprefix('Error: ')}" in check.stdout.splitlines()


def test_a_read_only_data_dir(tmp_path: Path, read_only: list[Path]) -> None:
    data = tmp_path / "var"
    data.mkdir()
    make_read_only(data, read_only)
    result = ivr(["db", "status"], environment(data))
    assert result.returncode == 1
    assert last_line(result).startswith(f"Error: {data}/ivr.db cannot be created (")
    assert last_line(result).endswith("); check that IVR_DATA_DIR is writable")
    check = ivr(["check"], environment(data))
    assert check.returncode == 1
    assert any(line.startswith(f"  IVR_DATA_DIR: {data} cannot be written (") for line in check.stdout.splitlines())


def test_a_flow_file_that_is_not_utf8(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "hotline.yaml").write_bytes(b"spec_version: 1\nname: caf\xe9\n")
    result = ivr(["engine"], environment(tmp_path / "var", IVR_FLOWS_DIR=str(flows)))
    assert result.returncode == 1
    assert last_line(result) == (
        f"Error: IVR_FLOW: {flows}/hotline.yaml: not UTF-8 text (byte 25 cannot be decoded); save the file as UTF-8")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", [["admin"], ["serve"], ["demo", "--no-calls"]])
def test_a_busy_port_names_the_setting(tmp_path: Path, busy_port: int, command: list[str]) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "catalog.yaml").write_text("prompts:\n  greeting:\n    en: Hello.\n", encoding="utf-8")
    env = environment(tmp_path / "var", IVR_ADMIN_BIND=f"127.0.0.1:{busy_port}", IVR_LANGUAGES="en",
                      IVR_PROMPTS_DIR=str(prompts), IVR_TRANSCRIBE_WORKERS="1")
    result = ivr(command, env)
    assert result.returncode == 1
    assert last_line(result) == f"Error: IVR_ADMIN_BIND 127.0.0.1:{busy_port} is in use"


def test_sim_on_a_busy_port(tmp_path: Path, busy_port: int) -> None:
    result = ivr(["--set", "ari_password=x", "sim", "--port", str(busy_port), "--sounds", str(tmp_path)],
                 environment(tmp_path / "var"))
    assert (result.returncode, last_line(result)) == (1, f"Error: --port 127.0.0.1:{busy_port} is in use")


@pytest.mark.parametrize(("args", "env", "wanted"), [
    ([], {"IVR_TRANSCRIBE_WORKERS": "100000"}, "Error: IVR_TRANSCRIBE_WORKERS: 100000 is out of range (1 to 64)"),
    ([], {"IVR_CALLBACK_NUMBER_DAYS": "100000000"},
     "Error: IVR_CALLBACK_NUMBER_DAYS: 100000000 is out of range (1 to 3650)"),
    (["--set", "brand_k=abc"], {}, "Error: --set brand_k: 'abc' is not valid (expected a whole number)"),
    (["--set", "IVR_BRAND_K=²"], {}, "Error: --set IVR_BRAND_K: '²' is not valid (expected a whole number)"),
])
def test_settings_out_of_bounds(tmp_path: Path, args: list[str], env: dict[str, str], wanted: str) -> None:
    result = ivr([*args, "config"], environment(tmp_path / "var", **env))
    assert (result.returncode, last_line(result)) == (1, wanted)


def test_config_says_not_set_where_there_is_no_default(tmp_path: Path) -> None:
    result = ivr(["config"], environment(tmp_path / "var"))
    assert result.returncode == 0
    assert "secret_key_file = (not set)" in result.stdout.splitlines()


def test_check_covers_the_secret(tmp_path: Path) -> None:
    env = environment(tmp_path / "var")
    del env["IVR_SECRET_KEY"]
    missing = ivr(["check"], env)
    assert missing.returncode == 1
    assert ("  IVR_SECRET_KEY: not set; engine, admin and serve need it "
            "(set IVR_SECRET_KEY or IVR_SECRET_KEY_FILE)") in missing.stdout.splitlines()
    short = ivr(["check"], {**env, "IVR_SECRET_KEY": "short"})
    assert short.returncode == 1
    assert "  IVR_SECRET_KEY: too short; use at least 16 random characters" in short.stdout.splitlines()
    unreadable = ivr(["check"], {**env, "IVR_SECRET_KEY_FILE": str(tmp_path / "no-such-secret")})
    assert unreadable.returncode == 1
    assert unreadable.stdout.splitlines() == [
        f"settings: IVR_SECRET_KEY_FILE: cannot read {tmp_path}/no-such-secret (No such file or directory)"]


def test_prompts_install_needs_an_existing_folder_or_create(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir"
    result = ivr(["prompts", "install", str(target)], environment(tmp_path / "var"))
    assert (result.returncode, last_line(result)) == (
        1, f"Error: {target} does not exist (check the path, or pass --create)")
    assert not target.exists()


def test_demo_with_a_flow_that_would_fail_every_call_exits_1(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "catalog.yaml").write_text("prompts:\n  greeting:\n    en: Hello.\n", encoding="utf-8")
    flows = tmp_path / "flows"
    flows.mkdir()
    flow = (REPO / "callflows" / "hotline.yaml").read_text(encoding="utf-8")
    assert "retries: 3" in flow
    (flows / "hotline.yaml").write_text(flow.replace("retries: 3", "retries: lots", 1), encoding="utf-8")
    env = environment(tmp_path / "var", IVR_ADMIN_BIND="127.0.0.1:0", IVR_LANGUAGES="en",
                      IVR_PROMPTS_DIR=str(prompts), IVR_FLOWS_DIR=str(flows), IVR_TRANSCRIBE_WORKERS="1")
    check = ivr(["check"], env)
    assert check.returncode == 1
    assert f"  {flows}/hotline.yaml: defaults: retries 'lots' is not a whole number from 0 to 10" in check.stdout
    result = ivr(["demo", "--exit-after-calls", "--speed", "4"], env)
    assert (result.returncode, last_line(result)) == (
        1, f"Error: IVR_FLOW: {flows}/hotline.yaml: defaults: retries 'lots' is not a whole number from 0 to 10")


@pytest.mark.parametrize("command", ["engine", "transcribe", "serve"])
def test_serving_commands_refuse_a_file_that_is_not_a_database(tmp_path: Path, command: str) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "ivr.db").write_bytes(b"\x00not sqlite\x00" * 100)
    result = ivr([command], environment(tmp_path / "var", IVR_ADMIN_BIND="127.0.0.1:0"))
    assert (result.returncode, last_line(result)) == (
        1, f"Error: {tmp_path}/var/ivr.db is not an SQLite database (check IVR_DB, or restore the file from a backup)")
