"""One call scenario run against the emulator in CI and against a real Asterisk when one is configured:
barge-in on a two-prompt list, a voicemail ended by '#', the stored recording fetched and deleted, hang-up."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import pytest

from ivr.ari.client import AriClient
from ivr.ari.errors import ChannelNotFound, NotFound
from ivr.ari.events import Event
from ivr.ari.stasis import Call, StasisApp
from ivr.sim.caller import CallerHub


@dataclass(frozen=True)
class Target:
    url: str
    user: str
    password: str
    app: str  # the Stasis app the test context routes to
    exten: str
    context: str


async def until(call: Call, kind: str, timeout: float = 30.0) -> list[Event]:  # noqa: ASYNC109
    seen: list[Event] = []
    while True:
        event = await call.next_event(timeout)
        assert event is not None, f"no {kind} within {timeout}s; saw {[e.type for e in seen]}"
        seen.append(event)
        if event.type == kind:
            return seen


async def run_scenario(target: Target, *, speed: float = 1.0) -> None:
    calls: asyncio.Queue[Call] = asyncio.Queue()
    finished = asyncio.Event()

    async def handler(call: Call) -> None:
        calls.put_nowait(call)
        await finished.wait()

    client = AriClient(target.url, target.user, target.password)
    app = StasisApp(client, target.app, handler)
    callers = CallerHub(target.url, target.user, target.password, app=f"{target.app}-caller", speed=speed)
    await app.start()
    await callers.start()
    name = f"ivr-test/vm-{uuid.uuid4().hex[:8]}"
    try:
        await app.wait_connected()
        caller = await callers.dial(target.exten, target.context, caller_id="Worker <66812345678>")
        call = await asyncio.wait_for(calls.get(), 15)
        assert call.channel["state"] == "Ring" and call.channel["caller"]["number"] == "66812345678"
        await client.answer(call.channel_id)
        await caller.wait_answered(15)

        playback = await client.play(call.channel_id, ["sound:hello-world", "sound:vm-intro"], lang="en")
        # The answer is a snapshot taken after the playback was handed to the channel's control thread:
        # a real server usually says "queued", but it may already have started it (seen once in six full runs).
        assert playback["state"] in ("queued", "playing"), playback
        await caller.wait_prompt("vm-intro", slack=15)
        await caller.press("1")
        seen = await until(call, "ChannelDtmfReceived")
        assert [e.type for e in seen] == ["ChannelStateChange", "PlaybackStarted", "PlaybackContinuing",
                                          "PlaybackStarted", "ChannelDtmfReceived"]
        await client.stop_playback(playback["id"])
        stopped = await call.next_event(10)
        assert stopped is not None and stopped.raw["playback"]["state"] == "done"

        await client.record(call.channel_id, name, max_duration=30, max_silence=4, beep=True, terminate_on="#",
                            if_exists="overwrite")
        await caller.wait_recording(15)
        await caller.say("sound:hello-world")
        await caller.press("#")
        seen = await until(call, "RecordingFinished")
        assert [e.type for e in seen] == ["RecordingStarted", "ChannelDtmfReceived", "RecordingFinished"]
        assert seen[-1].raw["recording"]["state"] == "done"
        data = await client.download_stored_recording(name)
        assert data[:4] == b"RIFF" and len(data) > 8000  # more than half a second of 8 kHz audio
        assert name in [r["name"] for r in await client.list_stored_recordings()]
        await client.delete_stored_recording(name)
        with pytest.raises(NotFound):
            await client.get_stored_recording(name)

        await client.hangup(call.channel_id)
        seen = await until(call, "StasisEnd")
        assert [e.type for e in seen] == ["ChannelHangupRequest", "StasisEnd"]
        await caller.wait_hung_up(10)
        with pytest.raises(ChannelNotFound):
            await client.answer(call.channel_id)
    finally:
        finished.set()
        await callers.stop()
        await app.stop()
        await client.close()
