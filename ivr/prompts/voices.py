"""espeak-ng, which synthesises placeholder prompts from the catalog text until someone records them."""

from __future__ import annotations

import re
import subprocess
import wave
from functools import cached_property
from pathlib import Path

from ivr.prompts.convert import AudioError
from ivr.words import N_

# Our language code -> espeak-ng voice, where the two differ.
VOICE_NAMES = {"en": "en-us"}
SPEED_WPM = 150
# espeak-ng 1.51 overflows a buffer on long Burmese sentences, so text is spoken one
# sentence at a time (Burmese/Shan ။, Devanagari ।, Khmer ។, Latin . ? !) and joined.
SENTENCE_END = re.compile(r"(?<=[။।។.?!])\s*")
GAP_SECONDS = 0.3  # a little slower than espeak's default: placeholders are for people checking coverage


class Espeak:
    def __init__(self, binary: str = "espeak-ng") -> None:
        self.binary = binary

    @cached_property
    def available(self) -> frozenset[str]:
        """The voices espeak-ng has here (empty when it isn't installed)."""
        try:
            listing = subprocess.run(
                [self.binary, "--voices"], capture_output=True, text=True, timeout=30, check=True
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return frozenset()
        rows = [line.split() for line in listing.splitlines()[1:]]
        return frozenset(row[1] for row in rows if len(row) > 1)

    def voice_for(self, lang: str) -> str | None:
        voice = VOICE_NAMES.get(lang, lang)
        return voice if voice in self.available else None

    def synthesize(self, text: str, voice: str, dst: Path) -> None:
        parts = [p.strip() for p in SENTENCE_END.split(text) if p.strip()]
        pieces = [dst.with_name(f"{dst.stem}.{i}.wav") for i in range(len(parts))]
        try:
            for part, piece in zip(parts, pieces, strict=True):
                self._speak(part, voice, piece)
            _join(pieces, dst)
        finally:
            for piece in pieces:
                piece.unlink(missing_ok=True)

    def _speak(self, text: str, voice: str, dst: Path) -> None:
        try:
            result = subprocess.run(
                [self.binary, "-v", voice, "-s", str(SPEED_WPM), "-w", str(dst), "--", text],
                capture_output=True, timeout=60, check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise AudioError(N_("espeak-ng could not run (%(why)s)"), why=exc.__class__.__name__) from None
        if result.returncode != 0 or not dst.exists():
            first = (result.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[0]
            raise AudioError(N_("espeak-ng voice %(voice)s failed: %(why)s"), voice=voice, why=first)


def _join(pieces: list[Path], dst: Path) -> None:
    """Concatenate espeak's WAVs (all one format) with a short pause between sentences."""
    with wave.open(str(dst), "wb") as out:
        for i, piece in enumerate(pieces):
            with wave.open(str(piece), "rb") as part:
                if i == 0:
                    out.setparams(part.getparams())
                else:
                    out.writeframes(b"\0" * int(GAP_SECONDS * part.getframerate()) * part.getsampwidth())
                out.writeframes(part.readframes(part.getnframes()))
