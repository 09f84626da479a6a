"""Decoding one recording with Vosk: a model loaded once, one recognizer reused.

Building a recognizer and asking for partial results are what make simple loops
slow; here audio goes in in large chunks and only endpoint/final results are read.
"""

from __future__ import annotations

import ctypes
import json
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import vosk

from ivr.asr import models
from ivr.asr.audio import BYTES_PER_SAMPLE, AudioError, pcm_chunks, probe

# Audio goes in as Vosk's own transcriber feeds it (4000 bytes at 16 kHz): Vosk checks for
# an utterance end after each piece, so the same piece size gives the same segmentation and
# the same transcript; larger pieces measured no faster.
CHUNK_SECONDS = 0.125
# Below this peak (about -54 dBFS) a recording holds no speech at all, only line hiss.
SILENCE_PEAK = 65


class Cancelled(Exception):
    """The caller asked to stop part-way (the worker is shutting down)."""


@dataclass
class Transcription:
    text: str
    words: list[dict[str, Any]]
    duration: float  # seconds of audio decoded
    total_duration: float  # seconds in the file
    seconds: float  # wall-clock seconds taken
    model: str
    peak: int = 0
    truncated: bool = False
    confidence: float | None = field(default=None)

    @property
    def silent(self) -> bool:
        return self.peak < SILENCE_PEAK

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text, "words": self.words, "duration": round(self.duration, 3),
            "total_duration": round(self.total_duration, 3), "seconds": round(self.seconds, 3),
            "confidence": self.confidence, "truncated": self.truncated, "model": self.model,
            "engine": "vosk",
        }


_libc = ctypes.CDLL(None)


def reset_dither() -> None:
    """Make the next decode repeatable.

    Kaldi dithers audio with noise seeded from the C library's global ``rand()``, so
    the same file could read differently depending on what was decoded before it.
    Re-seeding before each file gives one transcript per file, whatever the order.
    """
    _libc.srand(0)


def quiet_vosk() -> None:
    # Kaldi's log lines go to stderr and could echo words it did not know; keep errors only.
    vosk.SetLogLevel(-1)


class Decoder:
    """One model for one language, held for the life of a worker process."""

    def __init__(self, model_path: Path) -> None:
        models.validate(model_path)
        quiet_vosk()
        self.path = model_path
        self.name = models.model_name(model_path)
        self.rate = models.sample_rate(model_path)
        self.model = vosk.Model(str(model_path))
        self._rec = vosk.KaldiRecognizer(self.model, self.rate)
        self._rec.SetWords(True)
        # Vosk keeps counting time across utterances of a reused recognizer.
        self._fed_samples = 0

    def transcribe(
        self,
        path: Path,
        *,
        max_seconds: float | None = None,
        progress: Callable[[float], bool] | None = None,
    ) -> Transcription:
        """Decode ``path`` (any format sox reads). ``progress(seconds_done)`` returning False cancels.

        Raises :class:`AudioError` for unreadable audio and :class:`Cancelled` when told to stop.
        """
        started = time.perf_counter()
        info = probe(path)
        limit = max_seconds if max_seconds is not None and info.duration > max_seconds else None
        offset = self._fed_samples / self.rate
        rec = self._rec
        reset_dither()
        results: list[dict[str, Any]] = []
        fed = 0
        peak = 0
        try:
            for chunk in pcm_chunks(path, self.rate, max_seconds=limit, chunk_seconds=CHUNK_SECONDS):
                samples = array("h", chunk[: len(chunk) - len(chunk) % BYTES_PER_SAMPLE])
                if samples:
                    peak = max(peak, max(samples), -min(samples))
                fed += len(samples)
                self._fed_samples += len(samples)
                if rec.AcceptWaveform(chunk):
                    results.append(json.loads(rec.Result()))
                if progress is not None and not progress(fed / self.rate):
                    raise Cancelled(str(path.name))
        except BaseException:
            rec.Reset()
            json.loads(rec.FinalResult())  # leave the recognizer clean for the next file
            raise
        results.append(json.loads(rec.FinalResult()))
        words = [
            {"word": w["word"], "start": round(w["start"] - offset, 3), "end": round(w["end"] - offset, 3),
             "conf": round(w["conf"], 3)}
            for r in results for w in r.get("result", [])
        ]
        text = " ".join(r["text"] for r in results if r.get("text"))
        confidence = round(sum(w["conf"] for w in words) / len(words), 3) if words else None
        return Transcription(
            text=text, words=words, duration=fed / self.rate, total_duration=max(info.duration, fed / self.rate),
            seconds=time.perf_counter() - started, model=self.name, peak=peak,
            truncated=limit is not None, confidence=confidence,
        )


__all__ = ["AudioError", "Cancelled", "Decoder", "Transcription"]
