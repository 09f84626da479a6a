"""Bringing a caller's recording home from Asterisk, safely.

The file is fetched over ARI (``GET /recordings/stored/{name}/file``, so Asterisk may run
elsewhere), written to ``data_dir/recordings`` through a temporary file and fsync, then
read back: its size and sha256 must match what was downloaded. Only after that may the
copy on Asterisk be deleted. A take with no audible sound is kept but marked empty.

A file is never replaced: it is linked into place (which fails if the name exists), so a
row that points to a file keeps pointing to the bytes it was verified with. The same
recording fetched twice (a resumed call salvaging it) finds its own identical file.
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
    folder = data_dir / subdir
    # Recordings are the hotline's user's alone (0600); the folder is 0750 because replies/
    # inside it must be reachable by Asterisk, which plays them.
    make_dir(folder, SHARED_DIR)
    tmp = folder / f"{safe}.part"
    with open(os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE_FILE), "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, PRIVATE_FILE)  # an existing .part keeps its old mode under O_CREAT
    try:
        dest = _link_new(tmp, folder, safe, digest)
    finally:
        tmp.unlink(missing_ok=True)
    check = dest.read_bytes()
    if len(check) != len(data) or hashlib.sha256(check).hexdigest() != digest:
        raise RecordingError(f"{dest.name}: written file does not match the download")
    return Stored(dest, str(dest.relative_to(data_dir)), len(data), digest, duration, silent)


def _link_new(tmp: Path, folder: Path, stem: str, digest: str) -> Path:
    """Put ``tmp`` at ``stem.wav`` (or ``stem~N.wav``) without ever replacing another file."""
    for n in range(1000):
        dest = folder / (f"{stem}.wav" if n == 0 else f"{stem}~{n}.wav")
        try:
            try:
                os.link(tmp, dest)
            except FileExistsError:
                raise
            except OSError:   # a filesystem without hard links: exclusive create does the same
                _copy_exclusive(tmp, dest)
        except FileExistsError:
            if file_sha256(dest) == digest:
                return dest   # this very recording, stored before
            continue
        _fsync_dir(folder)
        return dest
    raise RecordingError(f"{stem}: too many files of that name")


def _copy_exclusive(src: Path, dest: Path) -> None:
    with open(os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE), "wb") as out:
        out.write(src.read_bytes())
        out.flush()
        os.fsync(out.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str | None:
    """The file's sha256, or None if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 16), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


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
