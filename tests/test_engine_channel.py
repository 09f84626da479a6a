"""The engine's Channel against the emulator: a prompt that never ends must not silence the rest of the call."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from engine_rig import write_wav
from sim_support import rig

from ivr.ari.stasis import Call
from ivr.engine import channel
from ivr.engine.channel import Channel, HungUp
from ivr.engine.recordings import measure
from ivr.log import CallLog


async def test_a_playback_that_never_ends_is_stopped_so_the_next_prompt_plays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channel, "PLAYBACK_GRACE_S", 0.5)
    done = asyncio.Event()

    async def handler(call: Call) -> None:
        ch = Channel(call, CallLog(logging.getLogger(__name__), call.channel_id))
        await call.client.answer(call.channel_id)
        await ch.play(["bogus:never-finishes"])      # an unknown scheme starts and never finishes
        await ch.play(["sound:hello-world"], lang="en")
        done.set()
        await ch.hangup()

    async with rig(tmp_path, handler) as r:
        caller = await r.callers.dial("1000", "hotline-in")
        async with asyncio.timeout(10):
            await done.wait()
        await caller.wait_hung_up()
    # The engine waits a grace period for the first prompt's end, then stops it and plays the next one.
    assert any(uri.endswith("hello-world") for uri in caller.heard)


async def test_a_terminator_pressed_late_after_a_full_entry_does_not_end_the_next_recording(tmp_path: Path) -> None:
    """Six digits fill the entry, and the caller's '#' comes a moment later, once the engine has moved on.

    Asterisk ends a recording on '#' by itself: had the recording started before the key arrived, the
    take would end at once, empty, before the caller said a word."""
    taken: dict[str, object] = {}
    done, hang_up = asyncio.Event(), asyncio.Event()

    async def handler(call: Call) -> None:
        ch = Channel(call, CallLog(logging.getLogger(__name__), call.channel_id))
        await call.client.answer(call.channel_id)
        # A wide window (wall seconds), so that only the order of events matters here, not the machine's load.
        taken["entry"] = await ch.digits(max_digits=6, timeout=30, interdigit=30)
        taken["result"] = await ch.record("after-entry", max_duration=60, max_silence=10, beep=True)
        done.set()
        await hang_up.wait()
        await ch.hangup()

    voice = tmp_path / "voice.wav"
    async with rig(tmp_path, handler) as r:
        caller = await r.callers.dial("1000", "hotline-in")
        await caller.wait_answered()
        await caller.press("123456")
        await caller.silence(3.0)          # the engine is past the entry by now, at the recording
        await caller.press("#")
        write_wav(voice, 2.0, freq=300, amplitude=9000)
        speech = await caller.speak_through_beep(voice)
        await caller.press("#")
        await caller.stop_speaking(speech)
        async with asyncio.timeout(10):
            await done.wait()
        data = await r.client.download_stored_recording("after-entry")
        hang_up.set()
        await caller.wait_hung_up()
    assert taken["entry"] == "123456"
    seconds, silent = measure(data)
    assert not silent and seconds >= 1.5, (seconds, silent)


async def test_a_caller_who_hangs_up_while_a_late_terminator_may_come_starts_no_recording(tmp_path: Path) -> None:
    outcome: list[str] = []
    done = asyncio.Event()

    async def handler(call: Call) -> None:
        ch = Channel(call, CallLog(logging.getLogger(__name__), call.channel_id))
        await call.client.answer(call.channel_id)
        await ch.digits(max_digits=6, timeout=30, interdigit=30)
        try:
            await ch.record("never-started", max_duration=60, max_silence=10, beep=True)
            outcome.append("recorded")
        except HungUp:
            outcome.append("hung up")
        done.set()

    async with rig(tmp_path, handler) as r:
        caller = await r.callers.dial("1000", "hotline-in")
        await caller.wait_answered()
        await caller.press("123456")
        await caller.silence(1.0)
        await caller.hangup()                 # gone before any '#': the engine was still waiting for it
        async with asyncio.timeout(10):
            await done.wait()
        names = [rec["name"] for rec in await r.client.list_stored_recordings()]
    assert outcome == ["hung up"] and "never-started" not in names
