"""Bringing a caller's recording home from Asterisk, safely.

The file is fetched over ARI (``GET /recordings/stored/{name}/file``, so Asterisk may run
elsewhere), written to ``data_dir/recordings`` through a temporary file and fsync, then
read back: its size and sha256 must match what was downloaded. Only after that may the
copy on Asterisk be deleted. A take with no audible sound is kept but marked empty.
"""

from __future__ import annotations

import array
import hashlib
import io
import os
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

from ivr.files import PRIVATE_FILE, SHARED_DIR, make_dir

# Peak below this (of 32767, about -42 dBFS) is line noise, not a voice.
SILENCE_PEAK = 260
MIN_SPEECH_S = 0.3


class RecordingError(Exception):
    """The downloaded recording could not be stored intact."""


@dataclass(frozen=True)
class Stored:
    path: Path            # absolute
    relative: str         # relative to the data dir (recordings.path)
    size: int
    sha256: str
    duration: float
    silent: bool


def store_bytes(data: bytes, data_dir: Path, name: str, *, subdir: str = "recordings") -> Stored:
    """Write ``data`` to ``data_dir/subdir/<name>.wav`` and verify it (runs in a thread)."""
    if not data:
        raise RecordingError("empty download")
    digest = hashlib.sha256(data).hexdigest()
    duration, silent = measure(data)
    safe = name.replace("/", "_").replace("\\", "_")
    dest = data_dir / subdir / f"{safe}.wav"
    # Recordings are the hotline's user's alone (0600); the folder is 0750 because replies/
    # inside it must be reachable by Asterisk, which plays them.
    make_dir(dest.parent, SHARED_DIR)
    tmp = dest.with_suffix(".part")
    with open(os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE_FILE), "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, PRIVATE_FILE)  # an existing .part keeps its old mode under O_CREAT
    os.replace(tmp, dest)
    check = dest.read_bytes()
    if len(check) != len(data) or hashlib.sha256(check).hexdigest() != digest:
        raise RecordingError(f"{dest.name}: written file does not match the download")
    return Stored(dest, str(dest.relative_to(data_dir)), len(data), digest, duration, silent)


def measure(data: bytes) -> tuple[float, bool]:
    """(seconds, silent) of a 16-bit PCM WAV."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            frames = wav.readframes(wav.getnframes())
            rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
    except (wave.Error, EOFError) as exc:
        raise RecordingError(f"not a WAV file ({exc})") from None
    if width != 2 or rate <= 0:
        raise RecordingError(f"unexpected WAV format ({width * 8}-bit, {rate} Hz)")
    samples = array.array("h")
    samples.frombytes(frames[: len(frames) - len(frames) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    duration = len(samples) / channels / rate
    peak = max((abs(s) for s in samples), default=0)
    return duration, duration < MIN_SPEECH_S or peak < SILENCE_PEAK


def shred(path: Path) -> None:
    """Overwrite then remove a file (a take the caller chose to replace)."""
    try:
        size = path.stat().st_size
        with open(path, "r+b") as fh:
            fh.write(b"\0" * size)
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink()
    except FileNotFoundError:
        pass
