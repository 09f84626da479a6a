"""Takes are never overwritten, and `ivr check` names a stored recording that was lost or changed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import REPO
from engine_rig import running_rig, write_wav

from ivr.db.writer import Database
from ivr.engine import store
from ivr.engine.recordings import store_bytes
from ivr.settings import load


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_storing_never_replaces_a_file_a_row_points_to(tmp_path: Path) -> None:
    first, second = write_wav(tmp_path / "a.wav", 1.0, freq=300), write_wav(tmp_path / "b.wav", 1.0, freq=600)
    one = store_bytes(first.read_bytes(), tmp_path / "data", "ivr-abc-1")
    two = store_bytes(second.read_bytes(), tmp_path / "data", "ivr-abc-1")   # the same name: a second take
    assert one.path != two.path
    assert sha(one.path) == one.sha256 == sha(first) and sha(two.path) == sha(second)
    again = store_bytes(first.read_bytes(), tmp_path / "data", "ivr-abc-1")  # the same take fetched twice
    assert again.path == one.path
    assert sorted(p.name for p in (tmp_path / "data" / "recordings").iterdir()) == ["ivr-abc-1.wav", "ivr-abc-1~1.wav"]


# A folder named with URI characters: the check's read-only connection must still open this very file,
# not a truncated name it would find empty and call healthy.
@pytest.mark.parametrize("folder", ["var", "ivr data?#%41"])
def test_ivr_check_names_a_recording_whose_file_is_missing_or_changed(tmp_path: Path, folder: str) -> None:
    from click.testing import CliRunner

    from ivr.cli import main as cli

    env = {"IVR_DATA_DIR": str(tmp_path / folder), "IVR_PROMPTS_DIR": str(REPO / "prompts"),
           "IVR_FLOWS_DIR": str(REPO / "callflows"), "IVR_MODELS_DIR": str(tmp_path / "models")}
    settings = load(environ=env)
    database = Database(settings.db_path)
    try:
        files = [store_bytes(write_wav(tmp_path / f"{i}.wav", 1.0, freq=300 + 100 * i).read_bytes(),
                             settings.data_dir, f"ivr-x-{i}") for i in range(3)]
        for f in files:
            database.write_sync(lambda db, f=f: store.insert_recording(
                db, call_id=None, case_id=None, kind="voicemail", path=f.relative, duration=f.duration, size=f.size,
                sha256=f.sha256, state="stored", asterisk_name=None))
    finally:
        database.close()
    files[1].path.unlink()
    data = bytearray(files[2].path.read_bytes())
    data[-1] ^= 0xFF   # same size, other bytes
    files[2].path.write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["check"], env=env)
    lines = [ln.strip() for ln in result.output.splitlines() if "recording " in ln]
    assert lines == ["recording 2 (case -): recordings/ivr-x-1.wav is missing",
                     "recording 3 (case -): recordings/ivr-x-2.wav no longer matches its sha256:"
                     " the file changed after it was stored"]
    assert "recordings: 2 problem(s)" in result.output and result.exit_code == 1


async def test_a_short_message_asterisk_reports_as_0_s_is_kept_and_transcribed(tmp_path: Path) -> None:
    # Asterisk gives a recording's duration in whole seconds: "help!" said in 0.7 s finishes with
    # duration 0. What the caller said is judged from the audio brought home, not from that figure.
    async with running_rig(tmp_path) as rig:
        caller = await rig.dial()
        await rig.pick_language(caller, "en")
        await caller.wait_prompt("main_menu")
        assert caller.hotline_channel_id is not None
        session = rig.engine.sessions[caller.hotline_channel_id]
        name = f"ivr-{session.state.call_id}-99"
        write_wav(rig.emulator.world.spool_dir / f"{name}.wav", 0.7, freq=300, amplitude=12000)
        take = await session.bring_home(name, 0)      # as a RecordingFinished with duration 0 gives it
        assert not take.empty
        await caller.press("*")                       # the call ends; the take is released with it
        row = await rig.ended_call(caller)
        recs = await rig.database.query(
            "select r.state, r.duration_s, j.state as job from recordings r left join jobs j on j.recording_id = r.id"
            " where r.call_id = ?", [row["id"]])
    assert recs == [{"state": "stored", "duration_s": 0.7, "job": "queued"}]
