"""Live recordings: what a channel hears, written to the spool as an 8 kHz WAV.

A recording captures the audio the channel receives (its Local peer's playbacks, or the other
members of its bridge). It ends on terminateOn DTMF, maxDurationSeconds, maxSilenceSeconds
(the trailing silence is cut from the file, so a silent caller leaves a 0 s recording that is
still stored), a stop, or a hang-up, which KEEPS what was said. Cancel discards the file.
While no app is connected (the engine died), a live recording goes on and still ends on '#' or
silence, as on a real Asterisk 22 (res_stasis only deactivates the app; tests/test_asterisk_resume.py).

A recording is an operation the switch runs on a channel's control queue; it knows the world only
through the :class:`ivr.sim.state.MediaPort` the switch hands it.
"""

from __future__ import annotations

import asyncio
from array import array
from pathlib import Path

from ivr.sim import media
from ivr.sim.state import Channel, Json, MediaPort, heard_speech

FORMATS = ("wav",)  # what this emulator can write; others answer 422 as an unknown format would


class LiveRecording:
    def __init__(
        self,
        media: MediaPort,
        channel: Channel,
        name: str,
        *,
        max_duration: int,
        max_silence: int,
        beep: bool,
        terminate_on: str,
        if_exists: str,
    ) -> None:
        self.media = media
        self.channel = channel
        self.name = name
        self.format = "wav"
        self.max_duration = max_duration
        self.max_silence = max_silence
        self.beep = beep
        self.terminate_on = terminate_on
        self.if_exists = if_exists
        self.state = "queued"
        self.start: float | None = None
        self.result: Json = {}
        self._ended = asyncio.Event()
        self._silence_timer: asyncio.TimerHandle | None = None
        self._duration_timer: asyncio.TimerHandle | None = None

    @property
    def path(self) -> Path:
        return stored_path(self.media.spool_dir, self.name)

    def json(self) -> Json:
        return {"name": self.name, "format": self.format, "state": self.state,
                "target_uri": f"channel:{self.channel.id}", **self.result}

    def _event(self, kind: str) -> None:
        self.media.emit(kind, self.channel.subscribers, recording=self.json())

    async def run(self) -> None:
        if self.state != "queued":
            return
        self.state = "recording"
        self._event("RecordingStarted")
        if self.beep:
            beep_file = media.resolve(self.media.sounds_dir, "beep", self.channel.language)
            beep = (media.load(beep_file) if beep_file else None) or media.tone(1000.0, 0.25)
            self.media.send_audio(self.channel, beep, None)
            if await self.media.clock.wait(self._ended, beep.duration):
                return
        self.start = self.media.clock.now()
        if self.max_duration > 0:
            self._duration_timer = self.media.clock.call_at(self.start + self.max_duration, self._max_duration)
        self.heard_changed()
        await self._ended.wait()

    # -- what ends it -----------------------------------------------------------------------------------------

    def heard_changed(self) -> None:
        """The audio this channel hears changed: when will the caller have been silent long enough?"""
        if self.max_silence <= 0 or self.start is None or self.state != "recording":
            return
        if self._silence_timer is not None:
            self._silence_timer.cancel()
        deadline = self._silence_deadline()
        self._silence_timer = self.media.clock.call_at(deadline, self._silence_check)

    def _silence_deadline(self) -> float:
        assert self.start is not None
        quiet_since = self.start
        for a, b in self._voiced(self.start, float("inf")):
            if a - quiet_since >= self.max_silence:
                break
            quiet_since = max(quiet_since, b)
        return quiet_since + self.max_silence

    def _silence_check(self) -> None:
        if self.state != "recording":
            return
        deadline = self._silence_deadline()
        if deadline > self.media.clock.now() + 0.01:  # speech came after all
            self._silence_timer = self.media.clock.call_at(deadline, self._silence_check)
            return
        self.finish("done", end=deadline - self.max_silence)

    def _max_duration(self) -> None:
        if self.state == "recording" and self.start is not None:
            self.finish("done", end=self.start + self.max_duration)

    def dtmf(self, digit: str) -> None:
        if self.state == "recording" and (self.terminate_on == "any" or digit == self.terminate_on):
            self.finish("done")

    def stop(self) -> None:
        if self.state == "queued":
            self.state = "done"
            self.media.forget_recording(self.name)
            return
        self.finish("done")

    def cancel(self) -> None:
        if self.state == "queued":
            self.state = "canceled"
            self.media.forget_recording(self.name)
            return
        self.finish("canceled")

    def abort(self) -> None:
        """Hang-up: a real Asterisk keeps what was recorded."""
        if self.state == "queued":
            self.state = "failed"
            self.media.forget_recording(self.name)
            return
        self.finish("done")

    # -- the file ---------------------------------------------------------------------------------------------

    def finish(self, state: str, *, end: float | None = None) -> None:
        if self.state not in ("recording",):
            return
        for timer in (self._silence_timer, self._duration_timer):
            if timer is not None:
                timer.cancel()
        start = self.start if self.start is not None else self.media.clock.now()
        end = max(start, self.media.clock.now() if end is None else end)
        self.state = state
        self.media.forget_recording(self.name)
        if state == "canceled":
            self.path.unlink(missing_ok=True)
        else:
            samples = self._audio(start, end)
            if self.if_exists == "append" and self.path.is_file():
                samples = media.read_wav(self.path) + samples
            media.write_wav(self.path, samples)
            duration = int(end - start)
            talking = int(sum(b - a for a, b in self._voiced(start, end)))
            self.result = {"duration": duration, "talking_duration": talking, "silence_duration": duration - talking}
        self._event("RecordingFinished")
        self._ended.set()

    def _voiced(self, lo: float, hi: float) -> list[tuple[float, float]]:
        return heard_speech(self.channel, lo, hi)

    def _audio(self, start: float, end: float) -> array:
        n = int((end - start) * media.RATE)
        out = array("h", bytes(2 * n))
        first = True
        for source in self.channel.heard_from():
            for seg in source.output:
                lo, hi = max(start, seg.start), min(end, seg.end)
                if lo >= hi:
                    continue
                src = int((lo - seg.start) * media.RATE)
                dst = int((lo - start) * media.RATE)
                count = max(0, min(int((hi - lo) * media.RATE), n - dst, len(seg.sound.samples) - src))
                chunk = seg.sound.samples[src : src + count]
                if first:
                    out[dst : dst + count] = chunk
                else:  # a bridge: mix
                    for i, v in enumerate(chunk):
                        out[dst + i] = max(-32768, min(32767, out[dst + i] + v))
            first = False
        return out


def stored_path(spool_dir: Path, name: str) -> Path:
    return spool_dir / f"{name}.wav"


def stored_names(spool_dir: Path) -> list[str]:
    if not spool_dir.is_dir():
        return []
    return sorted(str(p.relative_to(spool_dir).with_suffix("")) for p in spool_dir.rglob("*.wav"))


def valid_name(name: str) -> bool:
    return bool(name) and not name.startswith("/") and ".." not in name.split("/") and "\x00" not in name
