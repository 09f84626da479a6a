"""File modes of caller data (issue 20, item 7): the database and its WAL/SHM, recordings and
replies are 0600/0640 in 0700/0750/0770 folders, whatever the umask; only what Asterisk must
reach (the fallback folder, replies it plays) is shared, and then with its group only."""

from __future__ import annotations

import array
import math
import os
import stat
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.admin.replies import _store
from ivr.db.writer import Database
from ivr.engine.fallback import import_fallback
from ivr.engine.recordings import store_bytes
from ivr.files import asterisk_gid
from ivr.prompts.convert import to_telephone_wav
from ivr.settings import Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def tone(path: Path, seconds: float = 1.0) -> bytes:
    samples = array.array("h", (int(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(int(8000 * seconds))))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(samples.tobytes())
    return path.read_bytes()


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    yield int(request.param)
    os.umask(old)


async def test_caller_data_is_private_whatever_the_umask(settings: Settings, tmp_path: Path, umask: int) -> None:
    database = Database(settings.db_path)
    try:
        await database.write(lambda db: db["mode_probe"].insert({"x": 1}))  # a write: the WAL exists
        for name in ("ivr.db", "ivr.db-wal", "ivr.db-shm"):
            assert mode(settings.data_dir / name) == 0o600, name
    finally:
        database.close()
    assert mode(settings.data_dir) == 0o750  # Asterisk walks into prompts/ and fallback/

    stored = store_bytes(tone(tmp_path / "t.wav"), settings.data_dir, "call-1")
    assert mode(stored.path) == 0o600
    assert mode(stored.path.parent) == 0o750  # replies/ inside must be reachable

    relative, *_ = _store(settings, 1, "reply.wav", tone(tmp_path / "r.wav"))
    reply = settings.data_dir / relative
    assert mode(reply) == 0o640, "a reply is caller data: not world-readable, even under umask 022"
    assert mode(reply.parent) == 0o750
    gid = asterisk_gid()
    if gid is not None:
        assert reply.stat().st_gid == gid  # shared with Asterisk, which plays it by path

    prompt = tmp_path / "prompts" / "en" / "greeting.wav"
    to_telephone_wav(tmp_path / "t.wav", prompt)
    assert mode(prompt) == 0o644  # the words every caller hears: Asterisk reads them

    database = Database(settings.db_path)
    try:
        await import_fallback(settings, database)
    finally:
        database.close()
    assert mode(settings.fallback_path) == 0o770  # the dialplan records here, as the asterisk user
