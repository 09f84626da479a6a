"""Turn any common audio file into the telephone audio Asterisk plays: 8 kHz mono 16-bit PCM WAV.

ffmpeg decodes, resamples (through soxr, whose low-pass filter stops a 6 kHz tone from
folding down to 2 kHz the way a naive rate change would) and measures the EBU R128
integrated loudness of what callers will hear, all in one run. Trimming and the gain to
one loudness target happen here, on the 8 kHz samples, so prompts do not jump in volume.
The result is written to a temporary file beside ``dst`` and renamed over it only when
everything worked: a bad upload never replaces a good prompt.
"""

from __future__ import annotations

import array
import math
import operator
import os
import re
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ivr.files import set_mode
from ivr.prompts.loudness import integrated_loudness
from ivr.words import N_, ShownError, Words

RATE = 8000
FRAME = RATE // 50  # 20 ms analysis frames
SUPPORTED = (".wav", ".mp3", ".m4a", ".mp4", ".aac", ".ogg", ".oga", ".opus", ".flac", ".webm", ".amr", ".3gp")
PROMPT_MAX_SECONDS = 300.0
PUBLIC_AUDIO = 0o644  # prompts: the words every caller hears, read by Asterisk

# One level for every prompt: EBU R128 integrated loudness (K-weighted, gated, so pauses
# and silence don't count), with peaks held under the ceiling by a soft limiter.
TARGET_LUFS = -21.0
# Below this (after trimming) ffmpeg's measure of the untrimmed file is diluted by the
# silence around the words; such clips are measured here instead (ivr.prompts.loudness).
LONG_CLIP_SECONDS = 3.0
CEILING_DBFS = -1.0
SILENT_DBFS = -60.0  # nothing louder than this: the file is silence (or a dead microphone)
TRIM_BELOW_LOUDEST_DB = 35.0  # edges quieter than this, relative to the loudest frame, are trimmed
GATE_BELOW_LOUDEST_DB = 20.0  # frames counted towards loudness
PAD_SECONDS = 0.06  # keep a little air so the first consonant isn't clipped
MAX_GAIN_DB = 50.0
CLIPPED_AT = 0.985  # a source sample this close to full scale (after resampling) was most likely clipped
TOOL_TIMEOUT = 120.0


class AudioError(ShownError):
    """The audio cannot be used: one line a caseworker can act on, in their language on a page
    (``exc.words``, ivr.words) and in English from ``str(exc)`` (the command line, logs).

    ``name`` is the file (or prompt key) it is about, put in front of the reason:
    ``AudioError(N_("too long (%(length)s)"), name=src.name, length=...)`` reads "greeting.wav: too
    long (5:12)"; ``exc.reason`` is the reason alone.
    """

    def __init__(self, text: str | Words, *, name: str = "", **fields: object) -> None:
        self.reason = text if isinstance(text, Words) else Words(text, **fields)
        super().__init__(Words(N_("%(name)s: %(reason)s"), name=name, reason=self.reason) if name else self.reason)


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    channels: int
    sample_width: int  # bytes
    duration: float  # seconds, after trimming
    peak_dbfs: float
    loudness_lufs: float  # EBU R128 integrated loudness of the result (input measure + gain)
    loudness_dbfs: float  # mean power of the result's speech frames (measured on the output)
    source_duration: float  # seconds, before trimming
    gain_db: float
    clipped: float = 0.0  # share of the source's samples at full scale: the microphone was overdriven


def _db(value: float) -> float:
    return 20 * math.log10(value) if value > 0 else -120.0


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def to_telephone_wav(src: Path, dst: Path, *, max_seconds: float = PROMPT_MAX_SECONDS,
                     mode: int = PUBLIC_AUDIO) -> AudioInfo:
    """Convert ``src`` into ``dst`` (8 kHz mono 16-bit WAV, trimmed, normalised), with file ``mode``:
    prompts are public words (0644); a caseworker's reply is caller data (0640, asterisk group).

    Raises :class:`AudioError` for an empty, corrupt, silent, over-long or unsupported
    file; ``dst`` is then untouched.
    """
    name = src.name
    if src.suffix.lower() not in SUPPORTED:
        kinds = ", ".join(s.lstrip(".") for s in SUPPORTED)
        raise AudioError(N_("unsupported format %(suffix)s; use one of %(kinds)s"), name=name,
                         suffix=repr(src.suffix) if src.suffix else Words(N_("(no extension)")), kinds=kinds)
    try:
        size = src.stat().st_size
    except OSError as exc:
        raise AudioError(N_("cannot be read (%(why)s)"), name=name, why=exc.strerror) from None
    if size == 0:
        raise AudioError(N_("the file is empty"), name=name)
    samples, source_duration, lufs = _decode(src, max_seconds)
    if len(samples) > max_seconds * RATE + FRAME:
        raise _too_long(name, len(samples) / RATE, max_seconds)
    if source_duration is None:
        source_duration = len(samples) / RATE
    levels = _frame_levels(samples)
    if not levels or max(levels) < SILENT_DBFS:
        raise AudioError(N_("there is no sound in it (all silence)"), name=name)
    trimmed = _trim(samples, levels)
    clipped = sum(1 for x in trimmed if abs(x) >= CLIPPED_AT) / len(trimmed)
    if lufs is None or len(trimmed) < LONG_CLIP_SECONDS * RATE:
        lufs = integrated_loudness(trimmed, RATE)
    gain_db = min(TARGET_LUFS - lufs, MAX_GAIN_DB)
    pcm = _to_pcm16(trimmed, 10 ** (gain_db / 20))
    _write_atomically(dst, pcm, mode)
    out = array.array("h", pcm)
    peak = max((abs(s) for s in out), default=0) / 32768
    return AudioInfo(
        sample_rate=RATE,
        channels=1,
        sample_width=2,
        duration=len(out) / RATE,
        peak_dbfs=round(_db(peak), 2),
        loudness_lufs=round(lufs + gain_db, 2),
        loudness_dbfs=round(_loudness(_frame_levels(out)) - FULL_SCALE_DB, 2),
        source_duration=round(source_duration, 3),
        gain_db=round(gain_db, 2),
        clipped=round(clipped, 5),
    )


def _run(args: Sequence[str], name: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            list(args), capture_output=True, timeout=TOOL_TIMEOUT, check=False, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise AudioError(N_("%(tool)s is not installed (run scripts/setup.sh)"), name=name, tool=args[0]) from None
    except subprocess.TimeoutExpired:
        raise AudioError(N_("%(tool)s took longer than %(seconds)s s"), name=name, tool=args[0],
                         seconds=f"{TOOL_TIMEOUT:.0f}") from None


def _too_long(name: str, seconds: float, max_seconds: float) -> AudioError:
    return AudioError(N_("too long (%(length)s); the limit is %(limit)s"), name=name, length=_minutes(seconds),
                      limit=_minutes(max_seconds))


DURATION_RE = re.compile(rb"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
INTEGRATED_RE = re.compile(rb"I:\s+(-?\d+(?:\.\d+)?) LUFS")
NO_LOUDNESS = -69.0  # ebur128 reports -70 when no block passed its gate (a clip under 400 ms)
FULL_SCALE_DB = 20 * math.log10(32768)


def _decode(src: Path, max_seconds: float) -> tuple[array.array[float], float | None, float | None]:
    """Mono float samples at 8 kHz, resampled by soxr (band-limited, so nothing aliases),
    the duration ffmpeg read from the file's header (None when it has none), and the
    integrated loudness in LUFS (None for a clip too short to measure).

    One ffmpeg run does it all (no separate ffprobe): on a busy two-core machine the
    process start-up is most of a short prompt's build time.
    """
    result = _run(
        [
            "ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-v", "info", "-i", str(src), "-vn", "-map", "0:a:0",
            "-t", f"{max_seconds + 1:.3f}",
            "-af", f"aresample={RATE}:resampler=soxr:precision=28,aformat=channel_layouts=mono,"
                   "ebur128=framelog=verbose,aformat=sample_fmts=flt",
            "-f", "f32le", "-",
        ],
        src.name,
    )
    found = DURATION_RE.search(result.stderr)
    duration = int(found[1]) * 3600 + int(found[2]) * 60 + float(found[3]) if found else None
    if duration is not None and duration > max_seconds + 0.5:
        raise _too_long(src.name, duration, max_seconds)
    if result.returncode != 0:
        if b"matches no streams" in result.stderr:
            raise AudioError(N_("contains no audio"), name=src.name)
        raise AudioError(N_("cannot be read as audio (the file is damaged or not a sound file)"), name=src.name)
    samples = array.array("f")
    usable = len(result.stdout) - len(result.stdout) % samples.itemsize
    samples.frombytes(result.stdout[:usable])
    if not samples:
        raise AudioError(N_("there is no sound in it (no audio samples)"), name=src.name)
    measured = INTEGRATED_RE.findall(result.stderr)
    lufs = float(measured[-1]) if measured and float(measured[-1]) > NO_LOUDNESS else None
    return samples, duration, lufs


def _frame_levels(samples: Sequence[float]) -> list[float]:
    """Level of each 20 ms frame, in dBFS of its mean power."""
    levels = []
    for start in range(0, len(samples), FRAME):
        frame = samples[start:start + FRAME]
        power = math.fsum(map(operator.mul, frame, frame)) / len(frame)
        levels.append(10 * math.log10(power) if power > 0 else -120.0)
    return levels


def _trim(samples: array.array[float], levels: list[float]) -> array.array[float]:
    threshold = max(max(levels) - TRIM_BELOW_LOUDEST_DB, SILENT_DBFS)
    loud = [i for i, level in enumerate(levels) if level >= threshold]
    pad = int(PAD_SECONDS * RATE)
    start = max(loud[0] * FRAME - pad, 0)
    end = min((loud[-1] + 1) * FRAME + pad, len(samples))
    return samples[start:end]


def _loudness(levels: list[float]) -> float:
    """Mean power of the frames within GATE_BELOW_LOUDEST_DB of the loudest (pauses don't count)."""
    gate = max(levels) - GATE_BELOW_LOUDEST_DB
    active = [10 ** (level / 10) for level in levels if level >= gate]
    return 10 * math.log10(sum(active) / len(active))


def _to_pcm16(samples: Sequence[float], gain: float) -> bytes:
    """Apply the gain, hold peaks under the ceiling with a soft knee, quantise to 16 bits."""
    ceiling = 10 ** (CEILING_DBFS / 20)
    knee = ceiling / 2
    span = ceiling - knee
    out = array.array("h", bytes(2 * len(samples)))
    for i, x in enumerate(samples):
        y = x * gain
        if y > knee:
            y = knee + span * math.tanh((y - knee) / span)
        elif y < -knee:
            y = -knee - span * math.tanh((-y - knee) / span)
        out[i] = round(y * 32767)
    return out.tobytes()


def _write_atomically(dst: Path, pcm: bytes, mode: int) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw, wave.open(raw, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(RATE)
            wav.writeframes(pcm)
            raw.flush()
            os.fsync(raw.fileno())
        set_mode(tmp, mode)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
