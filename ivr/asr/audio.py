"""Reading recordings as 16-bit mono PCM at a model's rate: sox reads headers, ffmpeg converts.

ffmpeg's resampler is a proper band-limited (polyphase filter) one: phone audio is 8 kHz
and most models expect 16 kHz, and a naive resample would alias into the features.
It is also what Vosk's own tools use, so our transcripts match theirs for the same file.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SOX = "sox"
FFMPEG = "ffmpeg"
BYTES_PER_SAMPLE = 2


class AudioError(Exception):
    """A recording cannot be read. The message is one line and names no content."""


@dataclass(frozen=True)
class AudioInfo:
    duration: float
    rate: int
    channels: int


def probe(path: Path) -> AudioInfo:
    """Duration, rate and channels from the file's header (no decoding)."""
    if not path.is_file():
        raise AudioError(f"{path.name}: file does not exist")
    if path.stat().st_size == 0:
        raise AudioError(f"{path.name}: file is empty (0 bytes)")
    try:
        proc = subprocess.run(
            [SOX, "--info", str(path)], capture_output=True, text=True, errors="replace", timeout=30, check=False
        )
    except FileNotFoundError:
        raise AudioError(f"{path.name}: {SOX} is not installed (run scripts/setup.sh)") from None
    except subprocess.TimeoutExpired:
        raise AudioError(f"{path.name}: {SOX} took longer than 30 s to read the header") from None
    if proc.returncode != 0:
        raise AudioError(f"{path.name}: not a readable audio file ({_last_line(proc.stderr)})")
    fields: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    try:
        rate = int(float(fields["Sample Rate"]))
        channels = int(fields["Channels"])
        # "00:00:04.21 = 92790 samples ~ ..." -> the sample count is exact; sox omits
        # the line when there are no samples (or the length is not in the header).
        samples = int(fields["Duration"].split("=")[1].split()[0]) if "Duration" in fields else 0
    except (KeyError, ValueError, IndexError):
        raise AudioError(f"{path.name}: header has no usable rate/length") from None
    if rate <= 0 or channels <= 0:
        raise AudioError(f"{path.name}: header says {rate} Hz, {channels} channel(s)")
    return AudioInfo(samples / rate, rate, channels)


def pcm_chunks(path: Path, rate: int, *, max_seconds: float | None = None,
               chunk_seconds: float = 4.0) -> Iterator[bytes]:
    """Yield signed 16-bit mono PCM at ``rate``, ``chunk_seconds`` at a time, streaming from ffmpeg.

    Memory stays flat however long the recording is; ``max_seconds`` stops reading there.
    Raises :class:`AudioError` if the file cannot be decoded (a truncated or corrupt file).
    """
    cmd = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path)]
    if max_seconds is not None:
        cmd += ["-t", f"{max_seconds:.3f}"]
    cmd += ["-ar", str(rate), "-ac", "1", "-f", "s16le", "-"]
    chunk = int(rate * chunk_seconds) * BYTES_PER_SAMPLE
    # Errors go to a file: a damaged stream can print a line per packet and fill a pipe.
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)
        except FileNotFoundError:
            raise AudioError(f"{path.name}: {FFMPEG} is not installed (run scripts/setup.sh)") from None
        assert proc.stdout is not None
        finished = False
        try:
            while data := proc.stdout.read(chunk):
                yield data
            finished = True
        finally:
            if not finished:  # the caller stopped early: don't leave ffmpeg writing into a full pipe
                proc.kill()
            proc.stdout.close()
            code = proc.wait()
        if code != 0:
            errors.seek(0)
            detail = _last_line(errors.read(65536).decode(errors="replace"))
            raise AudioError(f"{path.name}: could not be decoded ({detail})")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no detail"
