"""Playbacks: a media list played on a channel with the real event sequence.

``media=a,b`` gives PlaybackStarted(a), PlaybackContinuing(a), PlaybackStarted(b),
PlaybackFinished(b, done). A sound that does not exist ends with PlaybackFinished ``failed``;
a URI with a scheme Asterisk does not know starts and never finishes, yet does not hold the channel:
later playbacks and recordings start at once, as on the real server (errors.jsonl). A stop gives
``done``; a hang-up ``failed``.

A playback is an operation the switch runs on a channel's control queue; it knows the world only
through the :class:`ivr.sim.state.MediaPort` the switch hands it.
"""

from __future__ import annotations

import asyncio
import uuid

from ivr.sim import media
from ivr.sim.media import Sound
from ivr.sim.state import Channel, Json, MediaPort, Segment

KNOWN_SCHEMES = ("sound:", "recording:", "digits:", "number:", "characters:", "tone:")


class Playback:
    def __init__(self, media: MediaPort, channel: Channel, uris: list[str], *, lang: str | None,
                 playback_id: str | None):
        self.media = media
        self.channel = channel
        self.id = playback_id or str(uuid.uuid4())
        self.uris = uris
        self.index = 0
        self.language = lang or channel.language
        self.state = "queued"
        self._stopped = asyncio.Event()
        self._segment: Segment | None = None
        self._stuck = False  # an unknown scheme: started, and the real server never reports its end

    @property
    def target_uri(self) -> str:
        return f"channel:{self.channel.id}"

    def json(self) -> Json:
        data: Json = {"id": self.id, "media_uri": self.uris[self.index]}
        if self.index + 1 < len(self.uris):
            data["next_media_uri"] = self.uris[self.index + 1]
        data.update(target_uri=self.target_uri, language=self.language, state=self.state)
        return data

    def _event(self, kind: str) -> None:
        self.media.emit(kind, self.channel.subscribers, playback=self.json())

    def sound_for(self, uri: str) -> Sound | bool | None:
        """The audio of one URI: a Sound, None if it does not exist, False for an unknown scheme."""
        if uri.startswith("sound:"):
            path = media.resolve(self.media.sounds_dir, uri[len("sound:") :], self.language)
        elif uri.startswith("recording:"):
            path = self.media.spool_dir / f"{uri[len('recording:'):]}.wav"
            path = path if path.is_file() else None
        elif uri.startswith(("digits:", "number:", "characters:")):
            # Asterisk says these with digits/N sound files; one file per character here.
            value = uri.split(":", 1)[1]
            parts = [media.resolve(self.media.sounds_dir, f"digits/{c}", self.language) for c in value]
            sounds = [media.load(p) for p in parts if p is not None]
            if not value or len(sounds) != len(value) or None in sounds:
                return None
            return _concat([s for s in sounds if s is not None])
        elif uri.startswith("tone:"):
            return media.tone(425.0, 1.0)
        else:
            return False
        return media.load(path) if path is not None else None

    async def run(self) -> None:
        if self.state != "queued":  # stopped before its turn came
            return
        # Media time at which the next sound starts: where the one before ended, so a list plays as one
        # unbroken stream, as on a real channel. Started from "now" each time, a stall of this process
        # between two sounds would be silence on the line (0.3 s of wall time is 6 s at speed 20).
        at: float | None = None
        for index in range(len(self.uris)):
            if index:
                self.state = "continuing"
                self._event("PlaybackContinuing")
                self.index = index
            self.state = "playing"
            self._event("PlaybackStarted")
            sound = self.sound_for(self.uris[index])
            if sound is None:
                self.finish("failed")
                return
            if sound is False:
                # Never finishes on its own, but lets the channel's next operation start: it stays
                # listed (GET/DELETE /playbacks/{id} still find it) and goes quietly with the channel.
                self._stuck = True
                self.channel.lingering.append(self)
                return
            assert isinstance(sound, Sound)
            self._segment = segment = self.media.send_audio(self.channel, sound, at)
            if await self.media.clock.wait(self._stopped, segment.end - self.media.clock.now()):
                return
            self._segment, at = None, segment.end
        self.finish("done")

    def stop(self) -> None:
        """DELETE /playbacks/{id}."""
        if self.state == "queued":
            self.state = "done"
            self.media.forget_playback(self.id)
            return
        self._cut()
        self.finish("done")

    def abort(self) -> None:
        if self.state == "queued" or self._stuck:
            self._forget()
            self.state = "failed"
            return
        self._cut()
        self.finish("failed")

    def _forget(self) -> None:
        self.media.forget_playback(self.id)
        if self in self.channel.lingering:
            self.channel.lingering.remove(self)

    def _cut(self) -> None:
        if self._segment is not None:
            self.media.cut_audio(self.channel, self._segment)
            self._segment = None

    def finish(self, state: str) -> None:
        if self.state in ("done", "failed"):
            return
        self.state = state
        self._forget()
        self._event("PlaybackFinished")
        self._stopped.set()


def _concat(sounds: list[Sound]) -> Sound:
    samples = sounds[0].samples[:]
    voiced = list(sounds[0].voiced)
    for s in sounds[1:]:
        offset = len(samples) / media.RATE
        voiced += [(a + offset, b + offset) for a, b in s.voiced]
        samples.extend(s.samples)
    return Sound(samples, tuple(voiced))
