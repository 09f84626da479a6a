"""A recording's waveform as a short list of peaks, computed on the server for the case page's player.

ffmpeg decodes any stored format to 8 kHz mono 16-bit samples (telephone audio needs no
more); each of ``BUCKETS`` stretches keeps its loudest sample, scaled 0..1. Nothing is kept.
"""

from __future__ import annotations

import array
import asyncio
from pathlib import Path

BUCKETS = 400
RATE = 8000
TIMEOUT_S = 30.0


class PeaksError(Exception):
    """The audio could not be decoded; the message says why in one line."""


def from_samples(samples: array.array[int], buckets: int = BUCKETS) -> list[float]:
    if not samples:
        return []
    size = max(1, -(-len(samples) // buckets))
    out = []
    for start in range(0, len(samples), size):
        chunk = samples[start:start + size]
        out.append(max(max(chunk), -min(chunk)) / 32768)
    return [round(v, 3) for v in out]


async def peaks(path: Path, buckets: int = BUCKETS) -> tuple[list[float], float]:
    """(peaks, duration in seconds) of the audio file at ``path``."""
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        raw, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise PeaksError("decoding took too long") from None
    if proc.returncode != 0:
        raise PeaksError(err.decode("utf-8", "replace").strip().splitlines()[-1] if err else "ffmpeg failed")
    samples = array.array("h")
    samples.frombytes(raw[: len(raw) // 2 * 2])
    return from_samples(samples, buckets), len(samples) / RATE
