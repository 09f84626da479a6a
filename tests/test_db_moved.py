"""The database file taken from under a running service: its `-wal` deleted as if it were a temporary
file, or another file copied over it. SQLite would go on committing into the unlinked inode, where no
other process reads, and lose it all at the next restart. Writes are refused instead, and a service stops
to be started again on the file that is there now."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
import sqlite_utils
from admin_helpers import META_CSRF
from asterisk_rig import hotline_env
from conftest import free_port

from ivr.db.writer import Database, DatabaseMoved
from ivr.lifecycle import EXIT_RESTART


def note(text: str) -> Callable[[sqlite_utils.Database], None]:
    def write(db: sqlite_utils.Database) -> None:
        db.execute("create table if not exists kept (text text)")
        db.execute("insert into kept values (?)", [text])
    return write


def kept(path: Path) -> list[str]:
    database = Database(path)
    try:
        return [r["text"] for r in database.query_sync("select text from kept")]
    finally:
        database.close()


def start(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``ivr <command>`` as its service unit runs it, its output into ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "ivr", command], env=env, stdout=out,
                                stderr=subprocess.STDOUT, cwd=log.parent)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def assert_stopped_for_restart(status: int, log: Path, wal: Path) -> None:
    """Exit status 75 for systemd's Restart=on-failure, and one line naming the file, no traceback."""
    text = log.read_text(errors="replace")
    assert status == EXIT_RESTART, text
    lines = [line for line in text.splitlines() if "stopping to be restarted" in line]
    assert len(lines) == 1 and f"{wal} was deleted while in use" in lines[0], text
    assert "Traceback" not in text


@pytest.mark.parametrize("mishap", ["wal deleted", "file replaced"])
def test_a_write_after_the_file_was_taken_away_is_refused_and_named(tmp_path: Path, mishap: str) -> None:
    path = tmp_path / "ivr.db"
    told: list[str] = []
    database = Database(path, on_moved=told.append)
    try:
        database.write_sync(note("before"))
        if mishap == "wal deleted":
            Path(f"{path}-wal").unlink()
            where, what = f"{path}-wal", "deleted"
        else:
            shutil.copy(path, tmp_path / "copy.db")       # an old copy put back by hand
            os.replace(tmp_path / "copy.db", path)
            where, what = str(path), "replaced by another file"
        for attempt in ("after", "again"):
            with pytest.raises(DatabaseMoved) as refused:
                database.write_sync(note(attempt))
            assert str(refused.value).startswith(f"{where} was {what} while in use")
        assert told == [str(refused.value)]          # told once, however many writes follow
    finally:
        database.close()
    assert "after" not in kept(path) and "again" not in kept(path)


def test_a_database_left_alone_keeps_every_write(tmp_path: Path) -> None:
    path = tmp_path / "ivr.db"
    database = Database(path, on_moved=lambda why: pytest.fail(why))
    try:
        for n in range(50):
            database.write_sync(note(f"n{n}"))
        # Another process's connections come and go: none of that moves the files.
        other = Database(path)
        other.write_sync(note("other"))
        other.close()
        database.write_sync(note("last"))
    finally:
        database.close()
    assert kept(path) == [*(f"n{n}" for n in range(50)), "other", "last"]


def test_the_engine_stops_to_be_restarted_when_its_wal_is_deleted(tmp_path: Path) -> None:
    # The real-server tests' engine settings, with an ARI port nobody answers: the engine retries, and
    # its heartbeat writes every 10 s meanwhile.
    env = hotline_env(tmp_path, free_port(), languages="en")
    data = Path(env["IVR_DATA_DIR"])
    log = tmp_path / "engine.log"
    engine = start("engine", env, log)
    try:
        deadline = time.monotonic() + 60
        while "cannot be reached yet" not in log.read_text(errors="replace"):
            assert engine.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        wal = data / "ivr.db-wal"
        wal.unlink()                                  # an operator "cleaning up"
        status = engine.wait(60)                      # by the next heartbeat at the latest
    finally:
        stop(engine)
    assert_stopped_for_restart(status, log, wal)


async def test_the_web_ui_stops_to_be_restarted_at_the_first_write_into_a_lost_file(tmp_path: Path) -> None:
    port = free_port()
    env = hotline_env(tmp_path, free_port(), languages="en", flags={"IVR_ADMIN_BIND": f"127.0.0.1:{port}"})
    data = Path(env["IVR_DATA_DIR"])
    log = tmp_path / "admin.log"
    admin = await asyncio.to_thread(start, "admin", env, log)
    url = f"http://127.0.0.1:{port}/login"
    try:
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(60):
                while True:
                    assert admin.poll() is None, log.read_text()
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(url) as page:
                            if page.status == 200:
                                html = await page.text()
                                break
                    await asyncio.sleep(0.1)
            # Its sign-in cookie is Secure (this is plain http on loopback): sent back by hand.
            cookie = page.headers["Set-Cookie"].split(";")[0]
            token = META_CSRF.search(html)
            assert token is not None
            wal = data / "ivr.db-wal"
            wal.unlink()                              # an operator "cleaning up"
            # A sign-in is counted before the password is checked: the first write the page makes.
            form = {"csrf": token.group(1), "username": "someone", "password": "not this"}
            with pytest.raises(aiohttp.ClientError):
                async with http.post(url, data=form, headers={"Cookie": cookie}) as answer:
                    pytest.fail(f"answered {answer.status}: {await answer.text()}")
        status = await asyncio.to_thread(admin.wait, 60)
    finally:
        await asyncio.to_thread(stop, admin)
    assert_stopped_for_restart(status, log, wal)
