"""The event stream survives bad input, reconnects with backoff and reconciles calls after a restart."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web
from sim_support import PASSWORD, USER, rig, stub_server

from ivr.ari.client import AriClient
from ivr.ari.errors import AriTimeout, AriUnavailable
from ivr.ari.events import ChannelDtmfReceived, Event, StasisEnd
from ivr.ari.stasis import Call, StasisApp


class Recorder:
    """Handler that keeps every call and its events."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.events: dict[str, list[Event]] = {}
        self.new = asyncio.Event()

    async def __call__(self, call: Call) -> None:
        self.calls.append(call)
        self.new.set()
        self.events[call.channel_id] = seen = []
        while True:
            event = await call.next_event()
            assert event is not None
            seen.append(event)
            if isinstance(event, StasisEnd):
                return


async def wait_until(cond: Callable[[], object], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not cond():  # noqa: ASYNC110 - polling state that several tasks change
            await asyncio.sleep(0.01)


async def test_bad_messages_are_logged_and_survived(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    async with rig(tmp_path, rec) as r:
        caller = await r.callers.dial()
        await wait_until(lambda: rec.calls)
        call = rec.calls[0]
        with caplog.at_level(logging.DEBUG, logger="ivr.ari.stasis"):
            r.app.feed("{not json", time.perf_counter())
            r.app.feed("[1, 2]")
            r.app.feed(json.dumps({"type": "SomethingNew", "application": "hotline"}))
            r.app.feed(json.dumps({"type": "ChannelDtmfReceived", "digit": "5", "duration_ms": 100,
                                   "channel": {"id": "nobody-knows"}, "application": "hotline"}))
        assert "dropped a malformed event (9 bytes)" in caplog.text
        assert "{not json" not in caplog.text  # content is never logged
        assert "ignoring ChannelDtmfReceived for a channel with no call" in caplog.text
        # the stream still works for the real call
        await r.client.answer(call.channel_id)
        await caller.press("7")
        await wait_until(lambda: any(isinstance(e, ChannelDtmfReceived) for e in rec.events[call.channel_id]))
        assert [e.raw["digit"] for e in rec.events[call.channel_id] if isinstance(e, ChannelDtmfReceived)] == ["7"]


async def test_slow_call_does_not_delay_another(tmp_path: Path) -> None:
    got: dict[str, float] = {}

    async def handler(call: Call) -> None:
        if call.channel["caller"]["number"] == "1":
            await asyncio.sleep(3)  # stuck, e.g. on a slow disk
        event = await call.next_event(5)
        got[call.channel["caller"]["number"]] = time.monotonic()
        assert event is not None

    async with rig(tmp_path, handler) as r:
        start = time.monotonic()
        await r.callers.dial(caller_id="Slow <1>")
        await r.callers.dial(caller_id="Fast <2>")
        await wait_until(lambda: "2" in got)
        assert "1" not in got and got["2"] - start < 2.5


async def test_handler_crash_hangs_up_instead_of_leaving_a_silent_call(tmp_path: Path) -> None:
    async def handler(call: Call) -> None:
        raise RuntimeError("bug in a flow")

    async with rig(tmp_path, handler) as r:
        caller = await r.callers.dial()
        await caller.wait_hung_up(5)
        assert await r.client.list_channels() == []


async def test_reconnect_keeps_call_and_reconciles(tmp_path: Path) -> None:
    rec = Recorder()
    async with rig(tmp_path, rec, reconnect_min=0.05, reconnect_max=0.2) as r:
        first = await r.callers.dial(caller_id="A <1>")
        second = await r.callers.dial(caller_id="B <2>")
        await wait_until(lambda: len(rec.calls) == 2)
        # the ARI connection drops; calls stay up; while away, one caller hangs up
        await r.emulator.restart(keep_channels=True, downtime=0.0)
        await second.hangup()
        await r.callers.stop()  # the callers' socket went with the restart too
        await wait_until(lambda: r.app.connects >= 2 and r.app.connected.is_set())
        by_number = {c.channel["caller"]["number"]: c for c in rec.calls}
        await wait_until(lambda: any(e.type == "StasisEnd" for e in rec.events[by_number["2"].channel_id]))
        gone = [e for e in rec.events[by_number["2"].channel_id] if isinstance(e, StasisEnd)]
        assert gone and gone[0].reconciled and by_number["2"].hung_up
        await wait_until(lambda: any(e.type == "Reconnected" for e in rec.events[by_number["1"].channel_id]))
        assert not by_number["1"].hung_up
        # the surviving call still works after the reconnect
        await r.client.answer(by_number["1"].channel_id)
        await wait_until(lambda: rec.events[by_number["1"].channel_id][-1].type == "ChannelStateChange")
        assert first.channel_id in r.emulator.world.channels


async def test_engine_restart_resumes_calls_in_stasis(tmp_path: Path) -> None:
    rec = Recorder()
    async with rig(tmp_path, rec) as r:
        await r.callers.dial(caller_id="A <1>")
        await wait_until(lambda: rec.calls)
        await r.app.stop()  # the engine process dies; the call stays in Stasis on the server
        fresh = Recorder()
        app2 = StasisApp(r.client, "hotline", fresh)
        await app2.start()
        try:
            await wait_until(lambda: fresh.calls)
            call = fresh.calls[0]
            assert call.resumed and call.channel_id == rec.calls[0].channel_id
            assert call.channel["caller"]["number"] == "1"
        finally:
            await app2.stop()


async def test_asterisk_restart_ends_calls_and_backs_off(tmp_path: Path) -> None:
    rec = Recorder()
    async with rig(tmp_path, rec, reconnect_min=0.05, reconnect_max=0.4) as r:
        await r.callers.dial()
        await wait_until(lambda: rec.calls)
        call = rec.calls[0]
        port = r.emulator.port
        await r.emulator.stop()
        await r.emulator.restart(keep_channels=False, downtime=1.0)
        assert r.emulator.port == port
        await wait_until(lambda: call.hung_up)
        # hung_up is set when StasisEnd is queued; the handler reads it a moment later (on a busy machine)
        seen = rec.events[call.channel_id]
        await wait_until(lambda: seen and isinstance(seen[-1], StasisEnd))
        await wait_until(lambda: r.app.connected.is_set())
        assert r.app.connects >= 2  # it came back
        # 1 s away with a 0.05..0.4 s backoff (±20 % jitter) allows at most 6 failed tries
        # before the server is back; a busy loop would make hundreds. A slow machine makes fewer.
        assert r.app.attempts - r.app.connects <= 8


async def test_rest_errors_timeouts_and_5xx(tmp_path: Path) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response([])

    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"message": "Internal Server Error"}, status=500)

    app = web.Application()
    app.router.add_get("/ari/channels", slow)
    app.router.add_post("/ari/channels/{id}/answer", broken)
    async with stub_server(app) as url:
        client = AriClient(url, USER, PASSWORD, timeout=0.3)
        try:
            with pytest.raises(AriTimeout, match=r"no answer within 0\.3s"):
                await client.list_channels()
            with pytest.raises(AriUnavailable) as err:
                await client.answer("x")
            assert err.value.status == 500 and err.value.message == "Internal Server Error"
        finally:
            await client.close()
    closed = AriClient(url, USER, PASSWORD, timeout=0.3)
    with pytest.raises(AriUnavailable, match="cannot reach Asterisk"):
        await closed.list_channels()
    await closed.close()


async def test_socket_closed_mid_message_reconnects(tmp_path: Path) -> None:
    """A server that sends half a frame and drops the connection: logged, then reconnected."""
    attempts = 0

    async def events(request: web.Request) -> web.StreamResponse:
        nonlocal attempts
        attempts += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        # a text frame header announcing 100 bytes, then only 10 of them
        assert request.transport is not None
        request.transport.write(b"\x81\x64" + b'{"type": "')
        request.transport.close()
        return ws

    async def channels(request: web.Request) -> web.Response:
        return web.json_response([])

    app = web.Application()
    app.router.add_get("/ari/events", events)
    app.router.add_get("/ari/channels", channels)

    async def never(call: Call) -> None:
        raise AssertionError("no call expected")

    async with stub_server(app) as url:
        client = AriClient(url, USER, PASSWORD)
        stasis = StasisApp(client, "hotline", never, reconnect_min=0.05, reconnect_max=0.1)
        await stasis.start()
        try:
            await wait_until(lambda: attempts >= 3)
        finally:
            await stasis.stop()
            await client.close()
