"""Sounds as the emulator hears them: Asterisk's lookup rules, 8 kHz PCM, and where the speech is.

A ``sound:`` name is looked up under the sounds folder in the language subfolder first, then
without it, always without an extension (``sound:accept/vm1`` with language ``en`` tries
``en/accept/vm1.wav`` then ``accept/vm1.wav``). An absolute name is used as it is, plus ``.wav``.
Audio is kept as 8 kHz mono 16-bit samples; each sound is analysed once for the stretches
that carry speech, which is what silence detection and talk detection look at.
"""

from __future__ import annotations

import math
import wave
from array import array
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

RATE = 8000
FRAME = 160  # 20 ms at 8 kHz, Asterisk's frame size
# Mean absolute amplitude at or above which a 20 ms frame counts as speech (Asterisk's DSP default is 256).
SILENCE_THRESHOLD = 256


@dataclass(frozen=True, slots=True)
class Sound:
    samples: array  # array('h'), 8 kHz mono
    voiced: tuple[tuple[float, float], ...]  # speech stretches, seconds from the start

    @property
    def duration(self) -> float:
        return len(self.samples) / RATE


def resolve(sounds_dir: Path, name: str, language: str) -> Path | None:
    """The file Asterisk would play for ``sound:<name>`` in ``language``, or None."""
    if name.startswith("/"):
        candidates = [Path(name + ".wav")]
    else:
        if ".." in Path(name).parts:
            return None
        candidates = [sounds_dir / language / f"{name}.wav"] if language else []
        candidates.append(sounds_dir / f"{name}.wav")
    for path in candidates:
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=512)
def _load_cached(path: str, mtime_ns: int) -> Sound:
    return analyse(read_wav(Path(path)))


def load(path: Path) -> Sound | None:
    """The sound in ``path`` (cached by modification time), or None if it is not a readable PCM WAV."""
    try:
        return _load_cached(str(path), path.stat().st_mtime_ns)
    except (OSError, wave.Error, EOFError, ValueError):
        return None


def read_wav(path: Path) -> array:
    """8 kHz mono 16-bit samples of a PCM WAV (other rates and channel counts are converted crudely)."""
    with wave.open(str(path), "rb") as w:
        width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
        raw = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError("only 16-bit PCM is supported")
    samples = array("h")
    samples.frombytes(raw)
    if channels > 1:
        samples = samples[::channels]
    if rate != RATE:
        step = rate / RATE
        samples = array("h", (samples[int(i * step)] for i in range(int(len(samples) / step))))
    return samples


def analyse(samples: array) -> Sound:
    stretches: list[tuple[float, float]] = []
    start: float | None = None
    for offset in range(0, len(samples), FRAME):
        frame = samples[offset : offset + FRAME]
        loud = sum(map(abs, frame)) >= SILENCE_THRESHOLD * len(frame)
        t = offset / RATE
        if loud and start is None:
            start = t
        elif not loud and start is not None:
            stretches.append((start, t))
            start = None
    if start is not None:
        stretches.append((start, len(samples) / RATE))
    return Sound(samples, tuple(stretches))


def tone(freq: float, seconds: float, amplitude: int = 8000) -> Sound:
    """A sine tone (the recording beep when the sounds folder has none)."""
    n = int(seconds * RATE)
    samples = array("h", (int(amplitude * math.sin(2 * math.pi * freq * i / RATE)) for i in range(n)))
    return Sound(samples, ((0.0, seconds),))


def write_wav(path: Path, samples: array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())
    tmp.replace(path)
