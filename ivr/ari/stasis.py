"""The event stream of one Stasis application, dispatched to one task per call.

``StasisApp`` keeps one WebSocket to ``/ari/events?app=NAME`` open (reconnecting with capped
backoff, never in a busy loop), turns messages into typed events and routes each one to its
call: channel events by ``channel.id``, playback and recording events by ``target_uri``
(``channel:<id>``). Both legs of a Local channel pair report each other's playbacks, so the
target is what decides, never the mere arrival on our socket.

Each call has its own ordered queue and its own task running ``await handler(call)``: putting
an event on a queue never waits, so a slow call cannot delay another. After every (re)connect
the app reconciles with ``GET /channels``: channels still in our Stasis app that we do not hold
become calls with ``resumed=True``; calls we hold whose channel is gone get a synthetic
``StasisEnd(reconciled=True)``; calls that survived get a ``Reconnected`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from ivr.ari.client import AriClient
from ivr.ari.errors import AriError, NotFound
from ivr.ari.events import (
    ChannelDestroyed,
    ChannelHangupRequest,
    Event,
    Reconnected,
    StasisEnd,
    StasisStart,
    parse_event,
)
from ivr.log import CallLog

log = logging.getLogger(__name__)

Json = dict[str, Any]
Handler = Callable[["Call"], Awaitable[None]]
EventHook = Callable[[Event], None]


class Call:
    """One channel in our Stasis app, seen by its own handler task."""

    def __init__(self, client: AriClient, app: str, channel: Json, args: list[str], *, resumed: bool) -> None:
        self.client = client
        self.app = app
        self.channel_id: str = str(channel["id"])
        self.channel = channel
        self.args = args
        self.resumed = resumed
        self.hung_up = False
        self.in_stasis = True
        self.log = CallLog(log, self.channel_id)
        self._queue: asyncio.Queue[Event] = asyncio.Queue()

    def deliver(self, event: Event) -> None:
        """Queue an event for the handler (never blocks)."""
        if isinstance(event, ChannelHangupRequest | ChannelDestroyed):
            self.hung_up = True
        elif isinstance(event, StasisEnd):
            self.in_stasis = False
            if event.reconciled:
                self.hung_up = True
        elif isinstance(event, StasisStart):
            self.in_stasis = True
        self._queue.put_nowait(event)

    async def next_event(self, timeout: float | None = None) -> Event | None:  # noqa: ASYNC109
        """The call's next event in order, or None if none arrives within ``timeout`` seconds."""
        if timeout is None:
            return await self._queue.get()
        try:
            async with asyncio.timeout(timeout):
                return await self._queue.get()
        except TimeoutError:
            return None

    def pending(self) -> int:
        return self._queue.qsize()

    def __repr__(self) -> str:
        return f"<Call {self.channel_id} resumed={self.resumed} hung_up={self.hung_up}>"


class StasisApp:
    """A Service: the app's event socket plus per-call dispatch. See the module docstring."""

    def __init__(
        self,
        client: AriClient,
        app: str,
        handler: Handler,
        *,
        reconnect_min: float = 0.5,
        reconnect_max: float = 10.0,
        on_event: EventHook | None = None,
        hangup_when_done: bool = True,
        settle_time: float = 1.0,
    ) -> None:
        self.name = f"stasis:{app}"
        self.client = client
        self.app = app
        self.handler = handler
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.on_event = on_event
        self.hangup_when_done = hangup_when_done
        self.settle_time = settle_time
        self.calls: dict[str, Call] = {}
        self.connected = asyncio.Event()
        # Set once the calls Asterisk held at (re)connection are in ``calls``: from then on a channel of
        # this app that is not in ``calls`` is not being handled here (ivr/engine/orphans.py relies on it).
        self.reconciled = asyncio.Event()
        self.connects = 0  # how many times the socket has been opened (tests watch reconnects)
        self.attempts = 0  # how many times opening it was tried, successful or not
        self.last_event_at: float | None = None  # wall-clock time of the last message (health checks)
        self._tasks: dict[Call, asyncio.Task[None]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._first_attempt = asyncio.Event()
        self._stopping = False

    # -- Service ----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Returns once the socket is connected, or the first attempt failed and retries have begun."""
        self._stopping = False
        self._runner = asyncio.create_task(self._run(), name=self.name)
        await self._first_attempt.wait()

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.connected.clear()
        self.reconciled.clear()

    async def wait_connected(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            await self.connected.wait()

    # -- the socket -------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.reconnect_min
        while not self._stopping:
            self.attempts += 1
            try:
                self._ws = await self.client.connect_events(self.app)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("app=%s event socket unavailable (%s); retrying in %.1fs", self.app, _why(exc), delay)
                self._first_attempt.set()
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.reconnect_max)
                continue
            self.connects += 1
            log.info("app=%s event socket connected (connect #%d)", self.app, self.connects)
            self.connected.set()
            self._first_attempt.set()
            await self._reconcile(reconnect=self.connects > 1)
            self.reconciled.set()
            opened = time.monotonic()
            await self._read(self._ws)
            self.connected.clear()
            self.reconciled.clear()
            if self._stopping:
                break
            # A socket that stayed up for a while earns a quick retry; one that drops at once backs off.
            delay = self.reconnect_min if time.monotonic() - opened > self.reconnect_max else min(
                delay * 2, self.reconnect_max
            )
            log.warning("app=%s event socket closed; reconnecting in %.1fs", self.app, delay)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.feed(msg.data, time.perf_counter())
                    # aiohttp hands over buffered messages without suspending: let the call tasks just woken
                    # run now, so a burst of other calls' events cannot delay a barge-in.
                    await asyncio.sleep(0)
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    log.warning("app=%s event socket error: %s", self.app, _why(ws.exception()))
                    break
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("app=%s event socket broke: %s", self.app, _why(exc))
        finally:
            await ws.close()

    def feed(self, text: str, received_at: float = 0.0) -> None:
        """Handle one raw WebSocket message. Bad messages are logged (by size, never content) and dropped."""
        self.last_event_at = time.time()
        try:
            message = json.loads(text)
            if not isinstance(message, dict):
                raise ValueError("not an object")
            event = parse_event(message, received_at)
        except ValueError as exc:
            log.warning("app=%s dropped a malformed event (%d bytes): %s", self.app, len(text), exc)
            return
        try:
            self.dispatch(event)
        except Exception:  # one bad event must never kill the stream
            log.exception("app=%s could not dispatch a %s event", self.app, event.type)

    # -- routing ----------------------------------------------------------------------------------------------

    def dispatch(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)
        channel_id = event.channel_id
        if channel_id is None:
            log.debug("app=%s ignoring %s (no channel)", self.app, event.type)
            return
        call = self.calls.get(channel_id)
        if call is not None:
            call.deliver(event)
        elif isinstance(event, StasisStart):
            self._begin(event.channel, list(event.args), resumed=False)
        else:
            # Routine: the other leg of a Local pair, or a channel whose call already finished.
            log.debug("app=%s ignoring %s for a channel with no call", self.app, event.type)

    def _begin(self, channel: Json, args: list[str], *, resumed: bool) -> Call:
        call = Call(self.client, self.app, channel, args, resumed=resumed)
        self.calls[call.channel_id] = call
        call.log.info("entered Stasis app=%s%s", self.app, " (resumed)" if resumed else "")
        self._tasks[call] = asyncio.create_task(self._run_call(call), name=f"call:{call.channel_id}")
        return call

    async def _run_call(self, call: Call) -> None:
        try:
            try:
                await self.handler(call)
            except NotFound:
                call.log.info("channel vanished while the handler ran")
            except Exception:
                call.log.exception("call handler failed")
            leftovers = await self._settle(call)
            if self.hangup_when_done and call.in_stasis and not call.hung_up:
                # Never leave a caller in a silent channel because a handler returned or crashed.
                call.log.warning("handler finished with the channel still in Stasis; hanging up")
                with contextlib.suppress(AriError):
                    await self.client.hangup(call.channel_id)
        finally:
            self._tasks.pop(call, None)
            if self.calls.get(call.channel_id) is call:
                del self.calls[call.channel_id]
        for event in leftovers:
            call.deliver(event)
        self._restart_if_reentered(call)

    async def _settle(self, call: Call) -> list[Event]:
        """A handler that just hung up or continued returns before the events saying so: wait for them."""
        kept: list[Event] = []
        deadline = asyncio.get_running_loop().time() + self.settle_time
        while call.in_stasis and not call.hung_up:
            left = deadline - asyncio.get_running_loop().time()
            event = await call.next_event(left) if left > 0 else None
            if event is None:
                break
            if isinstance(event, StasisStart):
                kept.append(event)
        return kept

    def _restart_if_reentered(self, call: Call) -> None:
        """A StasisStart queued after the handler stopped reading (continue -> Stasis again) starts a new call."""
        while call.pending():
            event = call._queue.get_nowait()
            if isinstance(event, StasisStart) and call.channel_id not in self.calls:
                self._begin(event.channel, list(event.args), resumed=False)

    # -- reconciliation ---------------------------------------------------------------------------------------

    async def _reconcile(self, *, reconnect: bool) -> None:
        channels: list[Json] | None = None
        for attempt in range(3):
            try:
                channels = await self.client.list_channels()
                break
            except AriError as exc:
                log.warning("app=%s GET /channels failed (%s); attempt %d", self.app, exc, attempt + 1)
                await asyncio.sleep(self.reconnect_min * (attempt + 1))
        if channels is None:
            log.error("app=%s could not reconcile calls after connecting", self.app)
            return
        ours = {str(ch["id"]): ch for ch in channels if _in_app(ch, self.app)}
        for channel_id, call in list(self.calls.items()):
            if channel_id not in ours:
                call.log.warning("channel gone while the event socket was down")
                call.deliver(_synthetic(StasisEnd, self.app, call.channel, reconciled=True))
            elif reconnect:
                call.deliver(_synthetic(Reconnected, self.app, ours[channel_id]))
        for channel_id, channel in ours.items():
            if channel_id not in self.calls:
                args = _app_args(channel)
                self._begin(channel, args, resumed=True)


def _in_app(channel: Json, app: str) -> bool:
    dialplan = channel.get("dialplan") or {}
    if dialplan.get("app_name") != "Stasis":
        return False
    return str(dialplan.get("app_data", "")).split(",")[0] == app


def _app_args(channel: Json) -> list[str]:
    data = str((channel.get("dialplan") or {}).get("app_data", ""))
    return [a for a in data.split(",")[1:] if a]


def _synthetic(cls: type[Event], app: str, channel: Json, **fields: Any) -> Event:
    raw = {"type": cls.__name__, "application": app, "channel": channel, "synthetic": True}
    if cls is Reconnected:
        event: Event = Reconnected(type="Reconnected", raw=raw, application=app)
        return event
    return cls(type=cls.__name__, raw=raw, application=app, channel=channel, **fields)  # type: ignore[call-arg]


def _why(exc: BaseException | None) -> str:
    return type(exc).__name__ if exc is None or not str(exc) else f"{type(exc).__name__}: {exc}"
