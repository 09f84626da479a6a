"""Typed ARI events.

``parse_event(dict)`` turns one WebSocket message into an :class:`Event` subclass chosen by its
``type``; any type this module does not know becomes a plain :class:`Event` (never an error), so a
newer Asterisk cannot break the stream. Every event keeps the decoded message in ``raw``.

Two types are ours, not Asterisk's, and are only ever produced by :mod:`ivr.ari.stasis`:
``Reconnected`` (the event socket came back; events in between may be lost, so re-check state)
and a ``StasisEnd`` with ``reconciled=True`` (after a reconnect, GET /channels no longer lists
the channel: it is gone, and no real StasisEnd will ever come).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

Json = dict[str, Any]


@dataclass(slots=True)
class Event:
    type: str
    raw: Json = field(repr=False)
    application: str = ""
    timestamp: str = ""
    # time.perf_counter() when the message arrived at the client (0.0 for synthetic events)
    received_at: float = field(default=0.0, repr=False, compare=False)

    kinds: ClassVar[tuple[str, ...]] = ()

    @property
    def channel_id(self) -> str | None:
        """The channel this event is about, if any."""
        return None

    @property
    def target_uri(self) -> str | None:
        """``channel:<id>`` / ``bridge:<id>`` for playback and recording events."""
        return None


@dataclass(slots=True)
class ChannelEvent(Event):
    channel: Json = field(default_factory=dict)

    kinds: ClassVar[tuple[str, ...]] = (
        "StasisEnd", "ChannelStateChange", "ChannelCreated", "ChannelCallerId", "ChannelConnectedLine",
        "ChannelDialplan", "ChannelHold", "ChannelUnhold", "ChannelTalkingStarted", "ChannelToneDetected",
    )

    @property
    def channel_id(self) -> str | None:
        cid = self.channel.get("id")
        return str(cid) if cid is not None else None

    @property
    def state(self) -> str:
        return str(self.channel.get("state", ""))


@dataclass(slots=True)
class StasisStart(ChannelEvent):
    args: list[str] = field(default_factory=list)
    replace_channel: Json | None = None
    kinds: ClassVar[tuple[str, ...]] = ("StasisStart",)


@dataclass(slots=True)
class StasisEnd(ChannelEvent):
    reconciled: bool = False  # ours: synthesised after a reconnect found the channel gone
    kinds: ClassVar[tuple[str, ...]] = ("StasisEnd",)


@dataclass(slots=True)
class ChannelDtmfReceived(ChannelEvent):
    digit: str = ""
    duration_ms: int = 0
    kinds: ClassVar[tuple[str, ...]] = ("ChannelDtmfReceived",)


@dataclass(slots=True)
class ChannelHangupRequest(ChannelEvent):
    cause: int | None = None
    soft: bool = False
    kinds: ClassVar[tuple[str, ...]] = ("ChannelHangupRequest",)


@dataclass(slots=True)
class ChannelDestroyed(ChannelEvent):
    cause: int = 0
    cause_txt: str = ""
    kinds: ClassVar[tuple[str, ...]] = ("ChannelDestroyed",)


@dataclass(slots=True)
class ChannelVarset(ChannelEvent):
    variable: str = ""
    value: str = ""
    kinds: ClassVar[tuple[str, ...]] = ("ChannelVarset",)


@dataclass(slots=True)
class ChannelTalkingFinished(ChannelEvent):
    duration: int = 0
    kinds: ClassVar[tuple[str, ...]] = ("ChannelTalkingFinished",)


@dataclass(slots=True)
class PlaybackEvent(Event):
    playback: Json = field(default_factory=dict)
    kinds: ClassVar[tuple[str, ...]] = ("PlaybackStarted", "PlaybackContinuing", "PlaybackFinished")

    @property
    def playback_id(self) -> str:
        return str(self.playback.get("id", ""))

    @property
    def state(self) -> str:
        return str(self.playback.get("state", ""))

    @property
    def media_uri(self) -> str:
        return str(self.playback.get("media_uri", ""))

    @property
    def target_uri(self) -> str | None:
        return self.playback.get("target_uri")

    @property
    def channel_id(self) -> str | None:
        return _channel_of(self.target_uri)


@dataclass(slots=True)
class RecordingEvent(Event):
    recording: Json = field(default_factory=dict)
    kinds: ClassVar[tuple[str, ...]] = ("RecordingStarted", "RecordingFinished", "RecordingFailed")

    @property
    def name(self) -> str:
        return str(self.recording.get("name", ""))

    @property
    def state(self) -> str:
        return str(self.recording.get("state", ""))

    @property
    def duration(self) -> int | None:
        return self.recording.get("duration")

    @property
    def cause(self) -> str | None:
        return self.recording.get("cause")

    @property
    def target_uri(self) -> str | None:
        return self.recording.get("target_uri")

    @property
    def channel_id(self) -> str | None:
        return _channel_of(self.target_uri)


@dataclass(slots=True)
class BridgeEvent(Event):
    bridge: Json = field(default_factory=dict)
    channel: Json = field(default_factory=dict)
    kinds: ClassVar[tuple[str, ...]] = ("ChannelEnteredBridge", "ChannelLeftBridge", "BridgeCreated", "BridgeDestroyed")

    @property
    def channel_id(self) -> str | None:
        cid = self.channel.get("id")
        return str(cid) if cid is not None else None


@dataclass(slots=True)
class Reconnected(Event):
    """Ours: the event socket is back; anything this call waited for may have been missed."""

    kinds: ClassVar[tuple[str, ...]] = ("Reconnected",)


def _channel_of(target_uri: str | None) -> str | None:
    if target_uri and target_uri.startswith("channel:"):
        return target_uri[len("channel:") :]
    return None


_CLASSES: dict[str, type[Event]] = {}
for _cls in (ChannelEvent, StasisStart, StasisEnd, ChannelDtmfReceived, ChannelHangupRequest, ChannelDestroyed,
             ChannelVarset, ChannelTalkingFinished, PlaybackEvent, RecordingEvent, BridgeEvent, Reconnected):
    for _kind in _cls.kinds:
        _CLASSES[_kind] = _cls

_COMMON = ("type", "application", "timestamp")


def parse_event(message: Json, received_at: float = 0.0) -> Event:
    """One decoded WebSocket message -> the typed event. Raises ValueError if it has no string ``type``."""
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ValueError("event without a type")
    cls = _CLASSES.get(kind, Event)
    fields = cls.__dataclass_fields__
    kwargs = {k: v for k, v in message.items() if k in fields and k not in _COMMON and k not in ("raw", "received_at")}
    if cls is StasisEnd:
        kwargs.pop("reconciled", None)
    event = cls(
        type=kind,
        raw=message,
        application=str(message.get("application", "")),
        timestamp=str(message.get("timestamp", "")),
        received_at=received_at,
        **kwargs,
    )
    return event
