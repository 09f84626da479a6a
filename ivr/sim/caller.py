"""Scripted callers: a second ARI app that dials the hotline over a Local channel pair.

This is how the real captures were made: ``POST /channels?endpoint=Local/1000@hotline-in&app=<ours>``
gives leg ;1 (ours: we press digits and play speech on it) and leg ;2 (the hotline's: its prompts
and recordings run there). The originating app hears both legs' events, so a caller can wait
until the hotline has played a given prompt or started a recording. Works against the emulator
and against a real Asterisk alike.

    hub = CallerHub(url, user, password)          # a Service: one socket for every caller
    await hub.start()
    caller = await hub.dial("1000", "hotline-in")
    await caller.wait_prompt("main_menu")         # PlaybackStarted on the hotline leg
    await caller.press("1")
    await caller.wait_recording()
    await caller.speak(Path("message.wav"))
    await caller.hangup()

Timeouts are in media seconds, like everything the caller hears: a wait allows ``timeout`` media
seconds at the hub's ``speed`` plus ``slack`` wall seconds (``CallerHub.slack`` unless given) for
what does not run on the media clock — the engine's own work, a restart, a loaded machine. So a
long prompt at ``speed=1`` does not time out, and a wait at ``speed=20`` gives up in seconds, not
minutes. A wait that spans something slow in wall time (an engine restart) passes a larger ``slack``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import wave
from collections.abc import Callable
from pathlib import Path, PurePath

import aiohttp

from ivr.ari.client import AriClient
from ivr.ari.errors import NotFound
from ivr.ari.events import Event, PlaybackEvent, RecordingEvent, parse_event

log = logging.getLogger(__name__)

Predicate = Callable[[Event], bool]

# Media seconds a wait covers by default: a few prompts in a row, or a caller's silence and the
# hotline's reply to it (the default flow's menus time out after 6 s).
WAIT_MEDIA_S = 30.0
# A recording ends by 180 s (the flow's max_duration) plus its silence allowance.
RECORDING_MEDIA_S = 200.0
# Wall seconds every wait allows on top of its media time: the engine's work between events, and a
# loaded 2-core machine (5 s is well over what a test call on such a machine was seen to need).
SLACK_S = 5.0


class CallerTimeout(AssertionError):
    """What a scripted caller waited for did not happen in time."""


TALK_WALL_S = 30.0   # how long start_speaking talks, on the wall, unless stopped (see there)
MEDIA_LIST_CHARS = 6000

class ScriptedCaller:
    def __init__(self, hub: CallerHub, channel: dict[str, object]) -> None:
        self.hub = hub
        self.client = hub.client
        self.channel_id = str(channel["id"])
        self.name = str(channel.get("name", ""))
        self.hotline_channel_id: str | None = None
        self.events: list[Event] = []
        self.cursor = 0  # waits look at events after the last one a wait matched
        self._changed = asyncio.Event()

    # -- what happened ----------------------------------------------------------------------------------------

    def add(self, event: Event) -> None:
        if self.hotline_channel_id is None:
            ch = event.raw.get("channel") or {}
            if str(ch.get("name", "")) == self.name[:-1] + "2":
                self.hotline_channel_id = str(ch["id"])
        self.events.append(event)
        self._changed.set()

    @property
    def heard(self) -> list[str]:
        """Media URIs the hotline started playing to this caller, in order."""
        return [e.media_uri for e in self.events if isinstance(e, PlaybackEvent) and e.type == "PlaybackStarted"
                and e.channel_id == self.hotline_channel_id]

    @property
    def hung_up(self) -> bool:
        return any(e.type in ("ChannelDestroyed", "StasisEnd") and e.channel_id == self.channel_id
                   for e in self.events)

    async def wait_for(
        self, predicate: Predicate, timeout: float = WAIT_MEDIA_S, what: str = "event", *,  # noqa: ASYNC109
        slack: float | None = None,
    ) -> Event:
        """The first event after the cursor that matches; moves the cursor past it.

        ``timeout`` media seconds plus ``slack`` wall seconds (see the module's docstring)."""
        wall = self.hub.wall_timeout(timeout, slack)
        try:
            async with asyncio.timeout(wall):
                while True:
                    for index in range(self.cursor, len(self.events)):
                        if predicate(self.events[index]):
                            self.cursor = index + 1
                            return self.events[index]
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            seen = [e.type for e in self.events[self.cursor :]]
            raise CallerTimeout(f"caller {self.channel_id}: no {what} within {wall:.1f}s (wall; {timeout:g} media s"
                                f" at speed {self.hub.speed:g}); saw {seen}") from None

    def _on_hotline(self, event: Event) -> bool:
        return self.hotline_channel_id is not None and event.channel_id == self.hotline_channel_id

    async def wait_answered(self, timeout: float = WAIT_MEDIA_S, *, slack: float | None = None) -> Event:  # noqa: ASYNC109
        """Our leg entered our app: the hotline answered."""
        return await self.wait_for(
            lambda e: e.type == "StasisStart" and e.channel_id == self.channel_id, timeout, "answer", slack=slack
        )

    async def wait_prompt(
        self, media: str | None = None, timeout: float = WAIT_MEDIA_S, *, slack: float | None = None,  # noqa: ASYNC109
    ) -> PlaybackEvent:
        """The hotline started playing ``media`` to us (a URI, or any part of one, e.g. a prompt key)."""

        def match(e: Event) -> bool:
            return (isinstance(e, PlaybackEvent) and e.type == "PlaybackStarted" and self._on_hotline(e)
                    and (media is None or media in e.media_uri))

        event = await self.wait_for(match, timeout, f"prompt {media or ''}".strip(), slack=slack)
        assert isinstance(event, PlaybackEvent)
        return event

    async def wait_prompt_finished(self, timeout: float = WAIT_MEDIA_S, *, slack: float | None = None) -> PlaybackEvent:  # noqa: ASYNC109
        event = await self._on_hotline_leg("PlaybackFinished", timeout, "end of prompt", slack)
        assert isinstance(event, PlaybackEvent)
        return event

    async def wait_recording(self, timeout: float = WAIT_MEDIA_S, *, slack: float | None = None) -> RecordingEvent:  # noqa: ASYNC109
        """The hotline started recording us."""
        event = await self._on_hotline_leg("RecordingStarted", timeout, "recording start", slack)
        assert isinstance(event, RecordingEvent)
        return event

    async def wait_recording_finished(
        self, timeout: float = RECORDING_MEDIA_S, *, slack: float | None = None,  # noqa: ASYNC109
    ) -> RecordingEvent:
        event = await self._on_hotline_leg("RecordingFinished", timeout, "recording end", slack)
        assert isinstance(event, RecordingEvent)
        return event

    async def _on_hotline_leg(self, kind: str, timeout: float, what: str, slack: float | None) -> Event:  # noqa: ASYNC109
        return await self.wait_for(lambda e: e.type == kind and self._on_hotline(e), timeout, what, slack=slack)

    async def wait_hung_up(self, timeout: float = WAIT_MEDIA_S, *, slack: float | None = None) -> None:  # noqa: ASYNC109
        """Our leg is gone (the hotline hung up, or we did)."""
        if not self.hung_up:
            await self.wait_for(
                lambda e: e.type in ("ChannelDestroyed", "StasisEnd") and e.channel_id == self.channel_id,
                timeout, "hang-up", slack=slack,
            )

    # -- what the caller does ---------------------------------------------------------------------------------

    async def press(self, digits: str, *, between: int | None = None) -> None:
        """Press keys; each arrives on the hotline leg as ChannelDtmfReceived (100 ms each)."""
        await self.client.send_dtmf(self.channel_id, digits, between=between)
        per_digit = (100 + (between if between is not None else 100)) / 1000
        await self.hub.sleep(per_digit * len(digits))

    async def speak(self, wav: Path, *, timeout: float = 120.0) -> None:  # noqa: ASYNC109
        """Say what is in ``wav`` (played on our leg, heard and recorded on the hotline's).

        The path must be absolute and readable by the Asterisk server (the emulator is local)."""
        await self.say(_sound_uri(wav), timeout=timeout)

    async def say(self, media_uri: str, *, timeout: float = 120.0) -> None:  # noqa: ASYNC109
        """Play any media URI on our leg (e.g. ``sound:hello-world`` on a real server) and wait for its end."""
        pid = await self._play([media_uri])
        await self.wait_for(
            lambda e: isinstance(e, PlaybackEvent) and e.type == "PlaybackFinished" and e.playback_id == pid,
            timeout, "end of our speech",
        )

    async def start_speaking(self, wav: Path, *, repeat: int | None = None) -> str:
        """Start saying ``wav`` over and over and return at once; see :meth:`stop_speaking`.

        For a message spoken through the beep: a caller who starts only once RecordingStarted is seen
        races the recording's silence limit, since every wall second the test process stalls is
        ``speed`` media seconds of silence on the line; one already talking cannot lose that race. By
        default the talk lasts ``TALK_WALL_S`` on the wall at the hub's speed: it must outlast whatever
        the hotline does before its beep (a case opened, a code looked up) on a loaded machine, or the
        caller falls silent before the recording starts. Returns the playback's id."""
        uri = _sound_uri(wav)
        if repeat is None:
            with contextlib.closing(wave.open(str(wav))) as w:
                seconds = w.getnframes() / w.getframerate()
            repeat = max(1, math.ceil(TALK_WALL_S * self.hub.speed / max(seconds, 0.1)))
        # The media list travels in the request's address, which servers cap at 8 KB (aiohttp, Asterisk).
        return await self._play([uri] * min(repeat, MEDIA_LIST_CHARS // (len(uri) + 1)))

    async def speak_through_beep(self, wav: Path, *, after: float = 2.0) -> str:
        """Start saying ``wav`` now, through the hotline's beep, and return ``after`` media seconds into its
        recording (later on a loaded machine), still talking: end the take (press '#', '*', hang up),
        then :meth:`stop_speaking` with the id returned. No silence can end the take first, so it always
        holds at least ``after`` seconds of speech."""
        speech = await self.start_speaking(wav)
        await self.wait_recording()
        await self.hub.sleep(after)
        return speech

    async def stop_speaking(self, playback_id: str) -> None:
        """Stop what :meth:`start_speaking` started (nothing if it ended, or the call did)."""
        with contextlib.suppress(NotFound):
            await self.client.stop_playback(playback_id)

    async def _play(self, media: list[str]) -> str:
        playback = await self.client.play(self.channel_id, media)
        return str(playback["id"])

    async def silence(self, seconds: float) -> None:
        """Say nothing new for ``seconds`` media seconds (what was started with start_speaking goes on)."""
        await self.hub.sleep(seconds)

    async def hangup(self) -> None:
        with contextlib.suppress(NotFound):
            await self.client.hangup(self.channel_id)


class CallerHub:
    """A Service holding the callers' app socket; ``dial`` makes a new :class:`ScriptedCaller`."""

    def __init__(
        self, url: str, user: str, password: str, *, app: str = "ivr-caller", speed: float = 1.0,
        caller_id: str = "Worker <66800000000>", slack: float = SLACK_S,
    ) -> None:
        self.name = f"callers:{app}"
        self.client = AriClient(url, user, password)
        self.app = app
        self.speed = speed   # the server's media clock against the wall clock (the emulator's --speed)
        self.slack = slack   # wall seconds every wait allows on top of its media time
        self.caller_id = caller_id
        self.callers: dict[str, ScriptedCaller] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._orphans: list[Event] = []

    async def start(self) -> None:
        self._ws = await self.client.connect_events(self.app)
        self._reader = asyncio.create_task(self._read(self._ws))

    async def stop(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.client.close()

    async def sleep(self, media_seconds: float) -> None:
        await asyncio.sleep(media_seconds / self.speed)

    def wall_timeout(self, media_seconds: float, slack: float | None = None) -> float:
        """Wall seconds for a wait of ``media_seconds`` on the line, plus ``slack`` (default ``self.slack``)."""
        return media_seconds / self.speed + (self.slack if slack is None else slack)

    async def dial(
        self, exten: str = "1000", context: str = "hotline-in", *, caller_id: str | None = None, timeout: int = 30  # noqa: ASYNC109
    ) -> ScriptedCaller:
        channel = await self.client.originate(
            f"Local/{exten}@{context}", app=self.app, app_args="caller", caller_id=caller_id or self.caller_id,
            timeout=timeout,
        )
        caller = ScriptedCaller(self, channel)
        self.callers[caller.channel_id] = caller
        self.callers[_other_leg(caller.name)] = caller
        # Events about the new legs can overtake the originate answer: hand them over now.
        early, self._orphans = self._orphans, []
        for event in early:
            self._route(event)
        return caller

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                event = parse_event(json.loads(msg.data))
            except ValueError:
                log.warning("callers: dropped a malformed event")
                continue
            self._route(event)

    def _route(self, event: Event) -> None:
        channel = event.raw.get("channel") or {}
        caller = self.callers.get(str(channel.get("id", ""))) or self.callers.get(str(channel.get("name", "")))
        if caller is None and event.channel_id is not None:
            caller = self.callers.get(event.channel_id)
        if caller is None:
            self._orphans = [*self._orphans[-999:], event]
            return
        if event.channel_id and event.channel_id not in self.callers:
            self.callers[event.channel_id] = caller
        caller.add(event)


def _sound_uri(wav: Path) -> str:
    if not PurePath(wav).is_absolute():
        raise ValueError("a caller needs an absolute path: Asterisk resolves relative names itself")
    path = str(wav)
    return "sound:" + (path[: -len(".wav")] if path.endswith(".wav") else path)


def _other_leg(name: str) -> str:
    return name[:-1] + ("2" if name.endswith("1") else "1")
