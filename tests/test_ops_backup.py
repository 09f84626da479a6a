"""Backups as an operator makes them: during calls, restored elsewhere, and refused when damaged."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import sqlite3
import tarfile
from pathlib import Path

import pyrage
import pytest
from click.testing import CliRunner
from conftest import TEST_SECRET
from engine_rig import Rig, running_rig
from pyrage import x25519

from ivr.cli import main
from ivr.ops import backup

pytestmark = pytest.mark.slow


async def _emergency_call(rig: Rig) -> None:
    caller = await rig.dial()
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "9")
    await caller.wait_prompt("emergency")
    await rig.leave_message(caller)
    await caller.wait_prompt("case_code_intro")
    await caller.wait_hung_up()
    await rig.ended_call(caller)


def _cli(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env={"IVR_SECRET_KEY": TEST_SECRET}, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("keys")
    code, out = _cli(["backup", "keygen", "--out", str(folder / "backup.key")])
    assert code == 0
    public = out.splitlines()[0]
    assert public.startswith("age1") and (folder / "backup.key").stat().st_mode & 0o077 == 0
    return folder / "backup.key", public


@pytest.fixture(scope="module")
def taken(tmp_path_factory: pytest.TempPathFactory, keys: tuple[Path, str]) -> tuple[Path, Path]:
    """A backup taken while calls arrive; returns (backup file, the live data dir)."""
    tmp = tmp_path_factory.mktemp("live")
    _, public = keys

    async def load() -> tuple[Path, Path]:
        async with running_rig(tmp) as rig:
            s = rig.settings
            (s.data_dir / "demo-secret-key").write_text(TEST_SECRET)   # must never be copied
            await _emergency_call(rig)
            calls = [asyncio.create_task(_emergency_call(rig)) for _ in range(4)]
            async with asyncio.timeout(30):   # the backup is taken with four calls in progress
                while len(rig.engine.sessions) < 4:  # noqa: ASYNC110 (no event for "a call began")
                    await asyncio.sleep(0.02)
            made = await asyncio.to_thread(backup.create, s.data_dir, s.db_path, tmp / "backups", public)
            in_progress = len(rig.engine.sessions)
            await asyncio.gather(*calls)
            assert made.cases >= 1 and in_progress >= 1
            return made.path, s.data_dir

    return asyncio.run(load())


def test_a_backup_taken_during_calls_restores_whole(taken: tuple[Path, Path], keys: tuple[Path, str],
                                                    tmp_path: Path) -> None:
    path, live = taken
    identity, _ = keys
    raw = path.read_bytes()
    assert TEST_SECRET.encode() not in raw and b"SQLite format" not in raw   # encrypted, no secret
    code, out = _cli(["backup", "verify", str(path), "--identity", str(identity)])
    assert code == 0 and ": ok (" in out

    into = tmp_path / "restored"
    code, out = _cli(["backup", "restore", str(path), "--into", str(into), "--identity", str(identity)])
    assert code == 0, out
    assert not (into / "demo-secret-key").exists()
    code, out = _cli(["--data-dir", str(into), "audit", "verify"])
    assert code == 0 and "audit log: ok" in out

    restored = sqlite3.connect(into / "ivr.db")
    source = sqlite3.connect(live / "ivr.db")
    try:
        rows = restored.execute("select path, sha256 from recordings where state = 'stored'").fetchall()
        assert rows, "the backup holds the callers' messages"
        for rel, sha in rows:
            assert hashlib.sha256((into / rel).read_bytes()).hexdigest() == sha, rel
        cases = restored.execute("select id, code_hash, emergency from cases order by id").fetchall()
        same = source.execute(f"select id, code_hash, emergency from cases where id <= {cases[-1][0]} "
                              "order by id").fetchall()
        assert cases == same, "every case in the backup is as it was in the live database"
    finally:
        restored.close()
        source.close()


def test_after_the_calls_a_backup_has_every_case(taken: tuple[Path, Path], keys: tuple[Path, str],
                                                  tmp_path: Path) -> None:
    _, live = taken
    identity, public = keys
    code, out = _cli(["--data-dir", str(live), "--set", f"backup_recipient={public}", "backup", "create",
                      str(tmp_path / "b")])
    assert code == 0, out
    made = Path(out.split()[1])
    code, _ = _cli(["backup", "restore", str(made), "--into", str(tmp_path / "r"), "--identity", str(identity)])
    assert code == 0
    count = "select count(*) from cases"
    assert sqlite3.connect(tmp_path / "r" / "ivr.db").execute(count).fetchone() == \
        sqlite3.connect(live / "ivr.db").execute(count).fetchone() == (5,)


@pytest.mark.parametrize("damage", ["wrong key", "truncated", "tampered"])
def test_a_bad_backup_gets_one_line_and_writes_nothing(taken: tuple[Path, Path], keys: tuple[Path, str],
                                                       tmp_path: Path, damage: str) -> None:
    path, _ = taken
    identity, _ = keys
    raw = path.read_bytes()
    bad = tmp_path / "bad.tar.age"
    if damage == "wrong key":
        bad.write_bytes(raw)
        assert _cli(["backup", "keygen", "--out", str(tmp_path / "other.key")])[0] == 0
        identity = tmp_path / "other.key"
    elif damage == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
    else:
        middle = len(raw) // 2
        bad.write_bytes(raw[:middle] + bytes([raw[middle] ^ 1]) + raw[middle + 1:])
    before = sorted(p.name for p in tmp_path.iterdir())
    for args in (["verify", str(bad)], ["restore", str(bad), "--into", str(tmp_path / "into")]):
        code, out = _cli(["backup", *args, "--identity", str(identity)])
        assert code == 1
        lines = out.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), out
        expected = "wrong --identity" if damage == "wrong key" else "damaged"
        assert expected in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "nothing was written"


def test_backup_create_keeps_the_newest_backup_keep(taken: tuple[Path, Path], keys: tuple[Path, str],
                                                   tmp_path: Path) -> None:
    # docs/deploy.md: the daily backup keeps the newest `backup_keep`; other files there are not its business.
    _, live = taken
    _, public = keys
    folder = tmp_path / "backups"
    folder.mkdir()
    old = [folder / f"ivr-backup-2026010{day}T023000Z.tar.age" for day in (1, 2, 3)]
    for path in old:
        path.write_bytes(b"an older backup")
    (folder / "notes.txt").write_text("kept")
    code, out = _cli(["--data-dir", str(live), "--set", f"backup_recipient={public}", "--set", "backup_keep=2",
                      "backup", "create", str(folder)])
    assert code == 0, out
    made = Path(out.split()[1])
    assert sorted(p.name for p in folder.iterdir()) == sorted([old[2].name, made.name, "notes.txt"])


@pytest.mark.parametrize("python", ["with tarfile filters", "3.11.2 (Debian 12)"])
def test_restore_keeps_to_its_folder_on_any_python(taken: tuple[Path, Path], keys: tuple[Path, str],
                                                    tmp_path: Path, python: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # Debian 12's system Python, which the installed hotline runs on, has no tarfile.data_filter.
    if python.startswith("3.11.2"):
        monkeypatch.delattr(tarfile, "data_filter")
    path, _ = taken
    identity, public = keys
    code, out = _cli(["backup", "restore", str(path), "--into", str(tmp_path / "good"), "--identity", str(identity)])
    assert code == 0, out
    assert all(p.stat().st_mode & 0o022 == 0 for p in (tmp_path / "good").rglob("*"))
    # A backup whose archive reaches outside its folder (made with the right key) is refused whole.
    for name, kind in (("../escape.txt", tarfile.REGTYPE), ("link", tarfile.SYMTYPE)):
        plain = io.BytesIO()
        with tarfile.open(fileobj=plain, mode="w") as tar:
            member = tarfile.TarInfo(name)
            member.type, member.linkname, member.size = kind, "/etc/passwd" if kind == tarfile.SYMTYPE else "", 3
            tar.addfile(member, io.BytesIO(b"bad") if kind == tarfile.REGTYPE else None)
        bad = tmp_path / f"bad-{kind!r}.tar.age"
        bad.write_bytes(pyrage.encrypt(plain.getvalue(), [x25519.Recipient.from_str(public)]))
        code, out = _cli(["backup", "restore", str(bad), "--into", str(tmp_path / "bad"), "--identity", str(identity)])
        assert code == 1 and out.startswith("Error: ") and len(out.strip().splitlines()) == 1, out
        assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "bad").exists()


def test_two_backups_in_the_same_second_are_both_kept(taken: tuple[Path, Path], keys: tuple[Path, str],
                                                      tmp_path: Path) -> None:
    # The nightly timer's backup, then the one `ivr db migrate` takes in the same second: the first must stay.
    _, live = taken
    _, public = keys
    at = dt.datetime(2026, 12, 3, 2, 30, tzinfo=dt.UTC)
    folder = tmp_path / "backups"
    first = backup.create(live, live / "ivr.db", folder, public, now=at)
    second = backup.create(live, live / "ivr.db", folder, public, now=at)
    assert (first.path.name, second.path.name) == ("ivr-backup-20261203T023000Z.tar.age",
                                                   "ivr-backup-20261203T023000Z-2.tar.age")
    first_bytes = first.path.read_bytes()
    assert first_bytes != second.path.read_bytes()   # each its own encryption: neither replaced the other
    assert backup.prune(folder, 1) == [first.path]    # pruning knows "-2" is the newer one
    assert [p.name for p in folder.iterdir() if p.is_file()] == [second.path.name]
