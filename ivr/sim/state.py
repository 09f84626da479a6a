"""The emulator's world: channels, bridges, playbacks, live recordings and the apps listening.

Everything runs on one event loop, so state changes and the events they cause happen in one
synchronous step; events reach each app's socket in the order they were emitted.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ivr.sim.clock import Clock
from ivr.sim.media import Sound

log = logging.getLogger(__name__)

Json = dict[str, Any]
ASTERISK_ID = "02:fc:00:00:00:01"


def timestamp() -> str:
    """Asterisk's event timestamp format: 2026-11-24T16:57:20.602+0000."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


class AppSocket(Protocol):
    def send(self, text: str) -> None: ...


@dataclass(slots=True)
class Segment:
    """Audio a channel sends, from ``start`` (media time) until ``end`` (cut short by a stop)."""

    start: float
    sound: Sound
    end: float

    def voiced(self, lo: float, hi: float) -> list[tuple[float, float]]:
        lo, hi = max(lo, self.start), min(hi, self.end)
        out = []
        for a, b in self.sound.voiced:
            a, b = max(self.start + a, lo), min(self.start + b, hi)
            if a < b:
                out.append((a, b))
        return out


class Op(Protocol):
    """A media operation on a channel's control queue (a playback or a recording)."""

    async def run(self) -> None: ...

    def abort(self) -> None:
        """The channel is going away: finish now, with the event the real server sends."""


class MediaOp(Op, Protocol):
    """A playback or a live recording as the world keeps it and the REST routes show it."""

    def json(self) -> Json: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class MediaPort:
    """All a playback or a recording knows of the world: what the switch hands it when it runs one on a
    channel (ivr.sim.switch.Switch.media). The operations import nothing of the switch or the world."""

    clock: Clock
    sounds_dir: Path
    spool_dir: Path
    emit: Callable[..., None]                          # World.emit(kind, apps, **fields)
    send_audio: Callable[[Channel, Sound, float | None], Segment]  # the channel sends this sound from then (None: now)
    cut_audio: Callable[[Channel, Segment], None]      # ... and stops sending it now
    forget_playback: Callable[[str], None]             # the playback (by id) is over: the world drops it
    forget_recording: Callable[[str], None]            # the live recording (by name) is over


@dataclass(eq=False)
class Channel:
    id: str
    name: str
    state: str
    caller: Json
    context: str
    exten: str
    priority: int
    app_name: str = ""
    app_data: str = ""
    language: str = "en"
    created: str = field(default_factory=timestamp)
    variables: dict[str, str] = field(default_factory=dict)
    peer: Channel | None = None  # the other half of a Local pair
    origin_apps: set[str] = field(default_factory=set)  # apps that originated it stay subscribed
    stasis_app: str | None = None
    bridge: Bridge | None = None
    output: list[Segment] = field(default_factory=list)
    ops: asyncio.Queue[Op] = field(default_factory=asyncio.Queue)
    current: Op | None = None
    lingering: list[Op] = field(default_factory=list)  # started, never to finish, not holding the channel
    control: asyncio.Task[None] | None = None
    talk_detect: tuple[float, float] | None = None  # (silence_threshold_s, talk_threshold_s)
    talking_since: float | None = None
    talk_timer: asyncio.TimerHandle | None = None
    hanging_up: bool = False

    @property
    def subscribers(self) -> set[str]:
        return self.origin_apps | ({self.stasis_app} if self.stasis_app else set())

    def json(self) -> Json:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": "",
            "caller": dict(self.caller),
            "connected": dict(self.caller),
            "accountcode": "",
            "dialplan": {
                "context": self.context, "exten": self.exten, "priority": self.priority,
                "app_name": self.app_name, "app_data": self.app_data,
            },
            "creationtime": self.created,
            "language": self.language,
        }

    def heard_from(self) -> list[Channel]:
        """Channels whose audio this channel receives: its Local peer, and others in its bridge."""
        sources = [self.peer] if self.peer is not None else []
        if self.bridge is not None:
            sources += [c for c in self.bridge.channels if c is not self and c not in sources]
        return sources


def heard_speech(ch: Channel, lo: float, hi: float, *, join: float = 0.0) -> list[tuple[float, float]]:
    """Speech stretches ``ch`` hears between ``lo`` and ``hi``, merged when ``join`` seconds apart or less."""
    stretches = sorted(s for src in ch.heard_from() for seg in src.output for s in seg.voiced(lo, hi))
    merged: list[tuple[float, float]] = []
    for a, b in stretches:
        if merged and a <= merged[-1][1] + join:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


@dataclass(eq=False)
class Bridge:
    id: str
    bridge_type: str
    name: str
    creator_app: str | None
    channels: list[Channel] = field(default_factory=list)
    created: str = field(default_factory=timestamp)

    def json(self) -> Json:
        return {
            "id": self.id, "technology": "simple_bridge", "bridge_type": self.bridge_type, "bridge_class": "stasis",
            "creator": "Stasis", "name": self.name, "channels": [c.id for c in self.channels],
            "creationtime": self.created, "video_mode": "none",
        }


class World:
    """All live state of one emulated Asterisk, and the event bus to the connected apps."""

    def __init__(
        self, *, sounds_dir: Path, spool_dir: Path, routes: dict[str, str | None], default_app: str, clock: Clock
    ) -> None:
        self.sounds_dir = sounds_dir
        self.spool_dir = spool_dir
        self.routes = routes
        self.default_app = default_app
        self.clock = clock
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.playbacks: dict[str, MediaOp] = {}
        self.recordings: dict[str, MediaOp] = {}
        self.apps: dict[str, AppSocket] = {}
        self._ids = itertools.count(1)
        self._boot = int(time.time())

    # -- ids --------------------------------------------------------------------------------------------------

    def next_number(self) -> int:
        return next(self._ids)

    def new_channel_id(self) -> str:
        return f"{self._boot}.{self.next_number()}"

    def route(self, context: str) -> str | None:
        """The Stasis app the dialplan of ``context`` sends a call to (None: a dialplan without Stasis)."""
        return self.routes.get(context, self.default_app)

    # -- events -----------------------------------------------------------------------------------------------

    def emit(self, kind: str, apps: Iterable[str], **fields: Any) -> None:
        """Send one event to each connected app in ``apps`` (an app with no socket misses it, as in Asterisk)."""
        targets = [a for a in apps if a in self.apps]
        if not targets:
            return
        message: Json = {"type": kind, "timestamp": timestamp(), **fields, "asterisk_id": ASTERISK_ID}
        for app in targets:
            message["application"] = app
            self.apps[app].send(json.dumps(message))

    def channel_event(self, kind: str, channel: Channel, apps: Iterable[str] | None = None, **fields: Any) -> None:
        self.emit(kind, channel.subscribers if apps is None else apps, channel=channel.json(), **fields)
