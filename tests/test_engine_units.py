"""The engine's small parts: office hours, storing a recording safely, silence detection."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from engine_rig import write_wav

from ivr.engine.recordings import RecordingError, measure, shred, store_bytes
from ivr.engine.steps import in_office_hours

BANGKOK = ZoneInfo("Asia/Bangkok")
HOURS = {"days": ["mon", "tue", "wed", "thu", "fri"], "open": "08:00", "close": "20:00"}


@pytest.mark.parametrize(("utc", "expected"), [
    ("2026-11-24T01:00:00", True),    # Tue 08:00 in Bangkok: opens
    ("2026-11-24T00:59:00", False),   # Tue 07:59
    ("2026-11-24T12:59:00", True),    # Tue 19:59
    ("2026-11-24T13:00:00", False),   # Tue 20:00: closed
    ("2026-11-28T03:00:00", False),   # Sat 10:00: not an office day
    ("2026-11-23T18:00:00", False),   # Mon 18:00 UTC is Tue 01:00 in Bangkok: night
])
def test_office_hours_in_the_hotline_time_zone(utc: str, expected: bool) -> None:
    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert in_office_hours(HOURS, BANGKOK, now) is expected
    # The flow may name another zone: 08:00 UTC on a Tuesday is open in London.
    assert in_office_hours({**HOURS, "timezone": "Europe/London"}, BANGKOK,
                           datetime(2026, 11, 24, 8, 0, tzinfo=UTC)) is True


def test_store_bytes_verifies_and_measures(tmp_path: Path) -> None:
    voice = write_wav(tmp_path / "in" / "voice.wav", 1.5, amplitude=9000).read_bytes()
    stored = store_bytes(voice, tmp_path / "data", "ivr-abc-1")
    assert stored.relative == "recordings/ivr-abc-1.wav"
    assert stored.path.read_bytes() == voice and stored.size == len(voice)
    assert abs(stored.duration - 1.5) < 0.01 and not stored.silent
    quiet = write_wav(tmp_path / "in" / "quiet.wav", 3.0, amplitude=120).read_bytes()
    assert measure(quiet)[1] is True                       # line noise only: an empty message
    with pytest.raises(RecordingError, match="not a WAV"):
        store_bytes(b"RIFF garbage", tmp_path / "data", "bad")
    with pytest.raises(RecordingError, match="empty"):
        store_bytes(b"", tmp_path / "data", "none")
    assert not (tmp_path / "data" / "recordings" / "bad.wav").exists()


def test_shred_overwrites_then_removes(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "take.wav", 0.5)
    shred(path)
    assert not path.exists()
    shred(path)   # already gone: no error


def test_every_kind_of_the_flow_schema_has_one_engine_handler() -> None:
    """The engine's handler tables and the schema ``ivr check`` reads name the same kinds: a kind the
    checker accepts always runs, and a handler is never unreachable."""
    from ivr.engine import steps, waits
    from ivr.flows import model

    assert set(steps.ACTIONS) == set(model.ACTIONS)
    assert set(waits.WAITS) == set(model.WAITS)
    assert set(steps.ROUTERS) == set(model.ROUTERS)
