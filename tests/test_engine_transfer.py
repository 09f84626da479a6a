"""Live transfer to a caseworker (originate + bridge), and the fallback to voicemail when nobody answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from engine_rig import ARI_PASSWORD, ARI_USER, Rig, running_rig

from ivr.ari.client import AriClient
from ivr.ari.errors import ChannelNotFound
from ivr.ari.events import parse_event
from ivr.engine.steps import in_office_hours

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Caseworkers:
    """A Stasis app standing in for the caseworkers' phones: answers (or not) each call it gets."""

    def __init__(self, url: str) -> None:
        self.client = AriClient(url, ARI_USER, ARI_PASSWORD)
        self.answer = True
        self.delay = 0.0          # wall seconds the phone rings before it is picked up
        self.answered: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ws = await self.client.connect_events("caseworkers")
        self._task = asyncio.create_task(self._run(ws))

    async def _run(self, ws: object) -> None:
        async for msg in ws:  # type: ignore[attr-defined]
            event = parse_event(json.loads(msg.data))
            if event.type == "StasisStart" and self.answer and event.channel_id:
                await asyncio.sleep(self.delay)
                try:
                    await self.client.answer(event.channel_id)
                except ChannelNotFound:
                    continue          # the engine stopped the ringing first
                self.answered.append(event.channel_id)

    async def hang_up_all(self) -> None:
        for ch in self.answered:
            with contextlib.suppress(Exception):
                await self.client.hangup(ch)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Poll the emulator's state (it has no event to wait on for this)."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    async with running_rig(tmp_path_factory.mktemp("transfer"), transfer_endpoint="Local/caseworkers@hotline-queue",
                           routes={"hotline-queue": "caseworkers"}) as r:
        yield r


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def caseworkers(rig: Rig) -> AsyncIterator[Caseworkers]:
    cw = Caseworkers(rig.emulator.url)
    await cw.start()
    yield cw
    await cw.stop()


async def test_emergency_is_bridged_to_a_caseworker(rig: Rig, caseworkers: Caseworkers) -> None:
    caseworkers.answer = True
    caller = await rig.dial()
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "9")
    await caller.wait_prompt("transfer_connecting")
    await until(lambda: bool(caseworkers.answered))
    await until(lambda: any(len(b.channels) == 2 for b in rig.emulator.world.bridges.values()))
    await caseworkers.hang_up_all()          # the caseworker ends the conversation
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert row["outcome"] == "emergency"
    steps = await rig.steps(row["id"])
    assert ("emergency_transfer", "answered") in [(s["node"], s["category"]) for s in steps]
    assert not any("transfer_unavailable" in u for u in caller.heard)


async def test_a_caller_who_hangs_up_while_it_rings_stops_the_ringing(rig: Rig, caseworkers: Caseworkers) -> None:
    caseworkers.answer, caseworkers.delay = True, 0.5   # picked up well within the 1.5 s (scaled) ring time
    caseworkers.answered.clear()
    caller = await rig.dial()
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "9")
    await until(lambda: any(c.startswith("agent-") for c in rig.emulator.world.channels))   # ringing
    await caller.hangup()
    row = await rig.ended_call(caller)
    # Noticed at once: not an engine error (that would apologise to nobody and log a traceback).
    assert row["outcome"] == "emergency"
    await asyncio.sleep(caseworkers.delay + 0.2)
    assert caseworkers.answered == []                   # the caseworker's phone stopped ringing
    assert not [c for c in rig.emulator.world.channels if c.startswith("agent-")]
    caseworkers.delay = 0.0


async def test_nobody_answers_so_the_caller_leaves_a_message(rig: Rig, caseworkers: Caseworkers) -> None:
    caseworkers.answer = False
    caller = await rig.dial()
    await rig.pick_language(caller, "th")
    await rig.menu(caller, "main_menu", "9")
    await caller.wait_prompt("transfer_unavailable", slack=20)
    await rig.leave_message(caller)
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert row["outcome"] == "emergency"
    recs = await rig.database.query("select state from recordings where call_id = ?", [row["id"]])
    assert recs == [{"state": "stored"}]


async def test_zero_reaches_a_caseworker_in_office_hours_else_a_message(rig: Rig, caseworkers: Caseworkers) -> None:
    caseworkers.answer = False
    open_now = in_office_hours(rig.engine.flow.nodes["operator"].router.args, rig.settings.tz)  # type: ignore[union-attr]
    caller = await rig.dial()
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "0")
    if open_now:
        await caller.wait_prompt("transfer_connecting")
        await caller.wait_prompt("transfer_unavailable", slack=20)
    else:
        await caller.wait_prompt("office_closed")
    await rig.leave_message(caller)
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    steps = await rig.steps(row["id"])
    assert ("main_menu", "0", "operator") in [(s["node"], s["input"], s["category"]) for s in steps]
    assert ("operator", "open" if open_now else "closed") in [(s["node"], s["category"]) for s in steps]
    assert row["case_id"] is not None
