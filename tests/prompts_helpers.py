"""Test audio for the prompts tests, made by the real tools (sox, ffmpeg, espeak-ng) in tmp dirs."""

from __future__ import annotations

import array
import dataclasses
import math
import subprocess
import wave
from pathlib import Path
from typing import Any

import yaml

from ivr.prompts.build import PromptBuilder
from ivr.settings import Settings


def run(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True, timeout=60)


def tone(path: Path, *, rate: int = 48000, channels: int = 2, seconds: float = 1.0,
         freqs: tuple[int, ...] = (440,), volume: float = 0.3, pad: tuple[float, float] = (0.0, 0.0)) -> Path:
    """A WAV (or, by extension, any format sox/ffmpeg writes) with sine tones and optional silence around."""
    wav = path.with_suffix(".src.wav")
    synth = ["sox", "-n", "-r", str(rate), "-c", str(channels), "-b", "16", str(wav), "synth", str(seconds)]
    for f in freqs:
        synth += ["sine", str(f)]
    synth += ["vol", str(volume), "pad", str(pad[0]), str(pad[1])]
    run(*synth)
    return in_format(wav, path)


def in_format(wav: Path, path: Path) -> Path:
    """``wav`` moved to ``path``, converted by ffmpeg when path names another format (by its extension)."""
    if path.suffix == ".wav":
        wav.rename(path)
    else:
        run("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), str(path))
        wav.unlink()
    return path


def silence(path: Path, seconds: float = 1.0) -> Path:
    run("sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(path), "trim", "0", str(seconds))
    return path


def read_wav(path: Path) -> tuple[wave._wave_params, list[float]]:
    with wave.open(str(path), "rb") as w:
        params = w.getparams()
        samples = array.array("h", w.readframes(w.getnframes()))
    return params, [s / 32768 for s in samples]


def tone_level(samples: list[float], freq: float, rate: int = 8000) -> float:
    """Amplitude of one frequency (Goertzel), in dB relative to full scale."""
    n = len(samples)
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    amplitude = 2 * math.sqrt(max(power, 0.0)) / n
    return 20 * math.log10(amplitude) if amplitude > 0 else -200.0


def lufs(path: Path) -> float:
    """EBU R128 integrated loudness as ffmpeg measures it (independent of the converter's own figure)."""
    result = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", str(path), "-af",
                             "ebur128=framelog=verbose", "-f", "null", "-"], capture_output=True, text=True, timeout=60)
    lines = [line.split() for line in result.stderr.splitlines() if line.strip().startswith("I:")]
    return float(lines[-1][1])


def rms_db(samples: list[float]) -> float:
    power = sum(x * x for x in samples) / len(samples)
    return 10 * math.log10(power) if power > 0 else -200.0


def web_deployment(settings: Settings, tmp_path: Path, catalog: dict[str, Any], **changes: Any) -> Settings:
    """Settings for the prompts pages: ``catalog`` as the prompt catalog (Khmer offered, then English), its
    placeholders built, cookies over plain HTTP and a free port; ``changes`` override any of it."""
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "catalog.yaml").write_text(yaml.safe_dump(catalog, allow_unicode=True), encoding="utf-8")
    web = dataclasses.replace(settings, **{"cookie_secure": False, "admin_bind": "127.0.0.1:0",
                                           "prompts_dir": prompts, "languages": ("km", "en"), **changes})
    PromptBuilder(web).build()
    return web
