"""The engine's Channel against the emulator: a prompt that never ends must not silence the rest of the call."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sim_support import rig

from ivr.ari.stasis import Call
from ivr.engine import channel
from ivr.engine.channel import Channel
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
