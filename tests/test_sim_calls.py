"""End-to-end calls through the emulator: client, Stasis dispatch, emulator and scripted callers together."""

from __future__ import annotations

import asyncio
import io
import time
import wave
from array import array
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ari_scenario import until as types_until
from sim_support import PASSWORD, USER, Rig, rig

from ivr.ari.client import AriClient
from ivr.ari.errors import AriError, ChannelNotFound, Conflict, NotFound
from ivr.ari.stasis import Call


class Calls:
    """A handler that hands each Call to the test, which then drives it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Call] = asyncio.Queue()
        self.release = asyncio.Event()

    async def __call__(self, call: Call) -> None:
        self.queue.put_nowait(call)
        await self.release.wait()

    async def next(self) -> Call:
        return await asyncio.wait_for(self.queue.get(), 5)


@pytest.fixture
async def r(tmp_path: Path) -> AsyncIterator[tuple[Rig, Calls]]:
    calls = Calls()
    async with rig(tmp_path, calls) as setup:
        yield setup, calls
        calls.release.set()


async def answered(r: tuple[Rig, Calls]) -> tuple[Rig, Call, object]:
    setup, calls = r
    caller = await setup.callers.dial()
    call = await calls.next()
    assert call.channel["state"] == "Ring"
    assert call.channel["caller"]["number"] == "66800000000"
    await setup.client.answer(call.channel_id)
    assert (await call.next_event(5)).type == "ChannelStateChange"  # type: ignore[union-attr]
    await caller.wait_answered()
    return setup, call, caller


async def test_voicemail_with_barge_in(r: tuple[Rig, Calls]) -> None:
    setup, call, caller = await answered(r)
    client = setup.client
    playback = await client.play(call.channel_id, ["sound:hello-world", "sound:vm-intro"], lang="en")
    assert playback["state"] == "queued" and playback["next_media_uri"] == "sound:vm-intro"
    await caller.wait_prompt("vm-intro")  # type: ignore[attr-defined]
    await caller.press("1")  # type: ignore[attr-defined]
    events = await types_until(call, "ChannelDtmfReceived")
    assert [e.type for e in events] == ["PlaybackStarted", "PlaybackContinuing", "PlaybackStarted",
                                        "ChannelDtmfReceived"]
    await client.stop_playback(playback["id"])
    finished = await call.next_event(5)
    assert finished is not None and finished.type == "PlaybackFinished" and finished.raw["playback"]["state"] == "done"
    await client.record(call.channel_id, "scen/vm", max_duration=30, max_silence=4, beep=True,
                        terminate_on="#", if_exists="overwrite")
    await caller.wait_recording()  # type: ignore[attr-defined]
    await caller.speak(setup.emulator.world.sounds_dir / "accept" / "vm1.wav")  # type: ignore[attr-defined]
    await caller.press("#")  # type: ignore[attr-defined]
    events = await types_until(call, "RecordingFinished")
    assert [e.type for e in events] == ["RecordingStarted", "ChannelDtmfReceived", "RecordingFinished"]
    rec = events[-1].raw["recording"]
    assert rec["state"] == "done" and 5 <= rec["duration"] <= 8 and rec["talking_duration"] >= 4
    # what the caller said is in the file, at 8 kHz
    data = await client.download_stored_recording("scen/vm")
    path = setup.emulator.world.spool_dir / "scen" / "vm.wav"
    assert path.read_bytes() == data
    with wave.open(str(path)) as w:
        assert w.getframerate() == 8000 and w.getnchannels() == 1
        assert 5.5 < w.getnframes() / 8000 < 8.5  # the beep plays over the first 0.4 s of speech
    assert await client.get_stored_recording("scen/vm") == {"name": "scen/vm", "format": "wav"}
    await client.hangup(call.channel_id)
    assert [e.type for e in await types_until(call, "StasisEnd")] == ["ChannelHangupRequest", "StasisEnd"]
    await caller.wait_hung_up()  # type: ignore[attr-defined]
    with pytest.raises(ChannelNotFound):
        await client.answer(call.channel_id)


async def test_hangup_during_recording_keeps_what_was_said(r: tuple[Rig, Calls]) -> None:
    setup, call, caller = await answered(r)
    await setup.client.record(call.channel_id, "scen/hangup-rec", max_duration=60, max_silence=10, beep=True,
                              terminate_on="#", if_exists="overwrite")
    await caller.wait_recording()  # type: ignore[attr-defined]
    await setup.client.play(caller.channel_id, ["sound:accept/vm1"])  # type: ignore[attr-defined]
    await asyncio.sleep(2.5 / 20)
    await caller.hangup()  # type: ignore[attr-defined]
    events = await types_until(call, "StasisEnd")
    assert [e.type for e in events] == ["RecordingStarted", "ChannelHangupRequest", "RecordingFinished", "StasisEnd"]
    assert events[1].raw["cause"] == 16 and call.hung_up
    assert events[2].raw["recording"]["state"] == "done" and events[2].raw["recording"]["duration"] >= 1
    names = [r["name"] for r in await setup.client.list_stored_recordings()]
    assert "scen/hangup-rec" in names


def _stall(seconds: float) -> None:
    """Hold up the whole event loop, as a loaded machine does to the emulator now and then."""
    time.sleep(seconds)


def _longest_silence(samples: array) -> float:
    """Seconds of the longest run of silent samples (8 kHz)."""
    longest = run = 0
    for value in samples:
        run = run + 1 if abs(value) < 100 else 0
        longest = max(longest, run)
    return longest / 8000


async def test_a_stall_of_the_emulator_is_no_silence_in_a_media_list(r: tuple[Rig, Calls]) -> None:
    """A caller talking through a list of sounds is one unbroken stream on the line, as on a real channel,
    even when this process stalls between two of them: at speed 20, 0.3 s of wall time would be 6 s of
    silence, long enough to end a take on its silence limit."""
    setup, call, caller = await answered(r)
    await setup.client.record(call.channel_id, "scen/unbroken", max_duration=60, max_silence=0, terminate_on="#")
    await caller.wait_recording()  # type: ignore[attr-defined]
    playback = await setup.client.play(caller.channel_id, ["sound:hello-world"] * 4, lang="en")  # type: ignore[attr-defined]
    await caller.wait_for(lambda e: e.type == "PlaybackContinuing" and e.playback_id == playback["id"])  # type: ignore[attr-defined]
    _stall(0.3)
    await caller.wait_for(lambda e: e.type == "PlaybackFinished" and e.playback_id == playback["id"])  # type: ignore[attr-defined]
    await setup.client.stop_recording("scen/unbroken")
    await types_until(call, "RecordingFinished")
    with wave.open(io.BytesIO(await setup.client.download_stored_recording("scen/unbroken"))) as w:
        heard = array("h", w.readframes(w.getnframes()))
    # Silence may come before the first sound (the caller's reaction to the beep) and after the last (the
    # stop); from the first sound to the end of the fourth, 5.6 s, there is no gap.
    voiced = [i for i, value in enumerate(heard) if abs(value) >= 100]
    talk = heard[voiced[0]:voiced[-1] + 1]
    assert _longest_silence(talk) < 0.1 and len(talk) / 8000 >= 4 * 1.4 - 0.1, (_longest_silence(talk), len(talk))


async def test_hangup_during_prompt_then_404(r: tuple[Rig, Calls]) -> None:
    setup, call, caller = await answered(r)
    await setup.client.play(call.channel_id, ["sound:hello-world", "sound:vm-intro"], lang="en")
    await caller.wait_prompt("hello-world")  # type: ignore[attr-defined]
    await caller.hangup()  # type: ignore[attr-defined]
    events = await types_until(call, "StasisEnd")
    assert [e.type for e in events] == ["PlaybackStarted", "ChannelHangupRequest", "PlaybackFinished", "StasisEnd"]
    assert events[2].raw["playback"]["state"] == "failed"
    with pytest.raises(ChannelNotFound) as err:
        await setup.client.play(call.channel_id, ["sound:hello-world"])
    assert err.value.status == 404 and err.value.message == "Channel not found"


async def test_silent_caller_and_max_duration(r: tuple[Rig, Calls]) -> None:
    setup, call, caller = await answered(r)
    client = setup.client
    await client.record(call.channel_id, "scen/silence", max_duration=20, max_silence=2, terminate_on="#")
    events = await types_until(call, "RecordingFinished")
    assert events[-1].raw["recording"]["duration"] == 0
    assert (await client.get_stored_recording("scen/silence"))["name"] == "scen/silence"
    await client.record(call.channel_id, "scen/maxdur", max_duration=3, if_exists="overwrite")
    await caller.wait_recording()  # type: ignore[attr-defined]
    await client.play(caller.channel_id, ["sound:accept/vm1"])  # type: ignore[attr-defined]
    events = await types_until(call, "RecordingFinished")
    assert events[-1].raw["recording"]["duration"] == 3 and events[-1].raw["recording"]["talking_duration"] >= 2


async def test_error_answers(r: tuple[Rig, Calls]) -> None:
    setup, call, _ = await answered(r)
    client, ch = setup.client, call.channel_id
    with pytest.raises(ChannelNotFound):
        await client.answer("nonexistent-123")
    await client.play(ch, ["sound:no-such-prompt-xyz"])
    events = await types_until(call, "PlaybackFinished")
    assert events[-1].raw["playback"]["state"] == "failed"
    with pytest.raises(AriError) as err:
        await client.record(ch, "scen/bad-format", format="xyz")
    assert err.value.status == 422 and "format is unknown" in err.value.message
    await client.record(ch, "scen/dup", max_duration=1)
    await types_until(call, "RecordingFinished")
    with pytest.raises(Conflict) as conflict:
        await client.record(ch, "scen/dup", max_duration=1)
    assert conflict.value.message == "Recording 'scen/dup' already exists and can not be overwritten"
    with pytest.raises(NotFound) as nf:
        await client.stop_playback("no-such-playback")
    assert nf.value.message == "Playback not found" and not isinstance(nf.value, ChannelNotFound)
    with pytest.raises(NotFound):
        await client.get_stored_recording("no-such-recording")
    with pytest.raises(AriError) as bad:
        await client.send_dtmf(ch, "")
    assert bad.value.status == 400 and bad.value.message == "DTMF is required"
    # an unknown scheme starts and never finishes, yet does not hold the channel: a recording asked
    # for after it starts at once and ends normally, and the playback is still there to be stopped
    bogus = await client.play(ch, ["bogus:scheme"])
    await client.record(ch, "scen/after-bogus", max_duration=1)
    events = await types_until(call, "RecordingFinished")
    kinds = [(e.type, (e.raw.get("playback") or e.raw.get("recording") or {}).get("state")) for e in events]
    assert ("PlaybackStarted", "playing") in kinds and ("RecordingStarted", "recording") in kinds
    assert kinds[-1] == ("RecordingFinished", "done")
    assert ("PlaybackFinished", "done") not in kinds and ("PlaybackFinished", "failed") not in kinds
    await client.stop_playback(bogus["id"])
    stopped = await types_until(call, "PlaybackFinished")
    assert stopped[-1].raw["playback"]["state"] == "done"
    # the spool folder must exist
    spool = setup.emulator.world.spool_dir
    spool.rename(spool.with_name("moved"))
    with pytest.raises(AriError) as err500:
        await client.record(ch, "scen/x", max_duration=1)
    assert err500.value.status == 500


async def test_stored_recording_names_with_slash_are_percent_encoded(r: tuple[Rig, Calls]) -> None:
    setup, _, _ = await answered(r)
    spool = setup.emulator.world.spool_dir
    (spool / "accept").mkdir()
    (spool / "accept" / "vm-1.wav").write_bytes((spool.parent / "sounds" / "en" / "beep.wav").read_bytes())
    client = setup.client
    assert (await client.get_stored_recording("accept/vm-1"))["name"] == "accept/vm-1"
    # unencoded, the '/' splits the path and the real server answers 404
    with pytest.raises(NotFound):
        await client.request("GET", "/recordings/stored/accept/vm-1")
    await client.delete_stored_recording("accept/vm-1")
    assert not (spool / "accept" / "vm-1.wav").exists()


async def test_continue_re_enters_stasis_and_variables(r: tuple[Rig, Calls]) -> None:
    setup, call, _ = await answered(r)
    client = setup.client
    await client.set_variable(call.channel_id, "IVR_LANG", "my")
    assert await client.get_variable(call.channel_id, "IVR_LANG") == "my"
    assert await client.get_variable(call.channel_id, "CALLERID(num)") == "66800000000"
    with pytest.raises(NotFound):
        await client.get_variable(call.channel_id, "NOT_SET")
    await client.continue_in_dialplan(call.channel_id, context="hotline-in", extension="1000", priority=1)
    events = await types_until(call, "StasisEnd")
    assert events[-1].type == "StasisEnd"
    # the same channel comes back as a fresh StasisStart (a new call once the first handler is done)
    second = await call.next_event(5)
    assert second is not None and second.type == "StasisStart" and second.channel_id == call.channel_id


async def test_dtmf_crosses_legs_and_bridges(r: tuple[Rig, Calls]) -> None:
    setup, call, caller = await answered(r)
    client = setup.client
    await caller.press("12#")  # type: ignore[attr-defined]
    digits = [e.raw["digit"] for e in await types_until(call, "ChannelDtmfReceived") +
              await types_until(call, "ChannelDtmfReceived") + await types_until(call, "ChannelDtmfReceived")]
    assert digits == ["1", "2", "#"]
    bridge = await client.create_bridge(bridge_id="b1", name="transfer")
    await client.add_to_bridge(bridge["id"], [call.channel_id])
    entered = await call.next_event(5)
    assert entered is not None and entered.type == "ChannelEnteredBridge" and entered.raw["bridge"]["id"] == "b1"
    await client.remove_from_bridge("b1", [call.channel_id])
    assert (await call.next_event(5)).type == "ChannelLeftBridge"  # type: ignore[union-attr]
    await client.destroy_bridge("b1")
    with pytest.raises(NotFound):
        await client.destroy_bridge("b1")


async def test_wrong_password_and_no_app_connected(tmp_path: Path, r: tuple[Rig, Calls]) -> None:
    setup, _ = r
    bad = AriClient(setup.emulator.url, USER, PASSWORD + "x")
    with pytest.raises(AriError) as err:
        await bad.list_channels()
    assert err.value.status == 401
    await bad.close()
    # a context routed to an app with no socket: the call is hung up at once (STASISSTATUS=FAILED)
    setup.emulator.world.routes["closed"] = "nobody"
    caller = await setup.callers.dial("1000", "closed")
    await caller.wait_hung_up(5)
    assert await setup.client.list_channels() == []
