"""Benchmark: build every prompt key in every language, from scratch and again with nothing changed.

    .venv/bin/python bench/prompts_build.py [--languages my,km,lo,th,ne,vi,en,shn] [--recordings] [--jobs N]

Uses the repository's catalog in a throwaway data dir. Without recordings every key is an
espeak-ng placeholder (km and lo have no voice and are skipped: they play Thai).
--recordings first writes a "recording" for every key in every language, in varied formats,
sample rates, channel counts, levels (-35 to -3 dBFS peaks) and leading/trailing silence, so
the conversion and the loudness normalisation face inputs like real uploads.
Prints wall seconds for both builds, and the output's measured rate, channels, sample width,
peak and the loudness spread between prompts (measured here, independently of the converter).
"""

from __future__ import annotations

import argparse
import array
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.prompts import provenance  # noqa: E402
from ivr.prompts.build import PromptBuilder  # noqa: E402
from ivr.prompts.catalog import load_catalog  # noqa: E402
from ivr.prompts.coverage import coverage  # noqa: E402
from ivr.prompts.texts import catalog_for  # noqa: E402
from ivr.settings import load  # noqa: E402

FORMATS = [(".mp3", 48000, 2), (".m4a", 44100, 2), (".ogg", 22050, 1), (".wav", 16000, 1), (".flac", 48000, 1)]


def fake_recordings(prompts: Path, languages: list[str], keys: list[str], seed: int = 5) -> int:
    """One 'recording' per key and language: English speech of the key's name, varied like real uploads."""
    rng = random.Random(seed)
    count = 0
    with tempfile.TemporaryDirectory() as tmp:
        for lang in languages:
            (prompts / lang).mkdir(parents=True, exist_ok=True)
            for key in keys:
                raw = Path(tmp) / "speech.wav"
                subprocess.run(["espeak-ng", "-v", "en", "-w", str(raw), key.replace("_", " ")], check=True,
                               capture_output=True)
                suffix, rate, channels = rng.choice(FORMATS)
                gain = rng.uniform(-35, -3)
                pad = (rng.uniform(0, 1.5), rng.uniform(0, 2.0))
                dst = prompts / lang / f"{key}{suffix}"
                subprocess.run(
                    ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(raw), "-af",
                     f"adelay={int(pad[0] * 1000)}:all=1,apad=pad_dur={pad[1]:.2f},"
                     f"volume={gain:.1f}dB,aformat=channel_layouts={'stereo' if channels == 2 else 'mono'}",
                     "-ar", str(rate), str(dst)],
                    check=True, capture_output=True,
                )
                count += 1
    return count


def measure(path: Path) -> dict[str, float]:
    with wave.open(str(path), "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        samples = array.array("h", w.readframes(w.getnframes()))
    frame = rate // 50
    powers = []
    for start in range(0, len(samples), frame):
        chunk = samples[start:start + frame]
        powers.append(sum((s / 32768) ** 2 for s in chunk) / len(chunk))
    loudest = max(powers)
    active = [p for p in powers if p >= loudest / 100]  # frames within 20 dB of the loudest
    return {
        "rate": rate, "channels": channels, "width": width,
        "peak": 20 * math.log10(max(abs(s) for s in samples) / 32768),
        "loudness": 10 * math.log10(sum(active) / len(active)),
        "seconds": len(samples) / rate,
    }


def lufs(path: Path) -> float | None:
    """EBU R128 integrated loudness by ffmpeg: a second, independent measure of the level."""
    result = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", str(path), "-af",
         "ebur128=framelog=verbose", "-f", "null", "-"],
        capture_output=True, text=True, check=False,
    )
    found = [line for line in result.stderr.splitlines() if line.strip().startswith("I:")]
    value = float(found[-1].split()[1]) if found else None
    return value if value is not None and value > -69 else None  # -70: too short for the gate


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"min {ordered[0]:.2f}  median {statistics.median(ordered):.2f}  max {ordered[-1]:.2f}  "
            f"spread {ordered[-1] - ordered[0]:.2f}  stdev {statistics.pstdev(ordered):.2f}")


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", default="my,km,lo,th,ne,vi,en,shn")
    parser.add_argument("--recordings", action="store_true", help="convert varied fake recordings, not placeholders")
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    languages = args.languages.split(",")
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as tmp:
        prompts = Path(tmp) / "prompts"
        prompts.mkdir()
        (prompts / "catalog.yaml").write_bytes((REPO / "prompts" / "catalog.yaml").read_bytes())
        catalog = load_catalog(prompts)
        if args.recordings:
            made = fake_recordings(prompts, languages, catalog.keys)
            print(f"wrote {made} fake recordings in {len(FORMATS)} formats")
        settings = load(environ={}, flags={"data_dir": str(Path(tmp) / "var"), "prompts_dir": str(prompts),
                                           "languages": ",".join(languages)})
        builder = PromptBuilder(settings, jobs=args.jobs)
        print(f"{len(catalog.keys)} keys x {len(languages)} languages; jobs={builder.jobs}; "
              f"cpus={os.cpu_count()}; load average before {os.getloadavg()[0]:.1f}")

        started = time.perf_counter()
        first = builder.build()
        scratch = time.perf_counter() - started
        started = time.perf_counter()
        second = builder.build()
        unchanged = time.perf_counter() - started

        # A fresh process (`ivr serve` starting) has no file hashes cached: every built file is read once to
        # tell a file copied over it by hand (ivr/prompts/provenance.py).
        provenance._HASHES.clear()
        started = time.perf_counter()
        builder.build()
        fresh = time.perf_counter() - started
        provenance._HASHES.clear()
        catalog_now = catalog_for(settings)
        started = time.perf_counter()
        coverage(settings, catalog_now)
        cover_cold = time.perf_counter() - started
        cover_warm = statistics.median(_timed(lambda: coverage(settings, catalog_now)) for _ in range(5))

        built = len(first.recorded) + len(first.placeholders)
        print(f"from scratch: {scratch:.1f} s for {built} prompts ({len(first.recorded)} recorded, "
              f"{len(first.placeholders)} placeholders, {len(first.failed)} failed; "
              f"{scratch / max(built, 1) * 1000:.0f} ms per prompt)")
        for lang, keys in first.fallbacks.items():
            print(f"  {lang}: {len(keys)} keys not built (no recording, no espeak-ng voice): play the fallback")
        print(f"nothing changed: {unchanged:.2f} s ({second.unchanged} unchanged, "
              f"{len(second.recorded) + len(second.placeholders)} rebuilt); "
              f"{scratch / max(unchanged, 1e-9):.0f}x faster")

        print(f"nothing changed, no hashes cached (a fresh process): {fresh:.2f} s, "
              f"{fresh / max(unchanged, 1e-9):.1f}x the cached run above")
        print(f"coverage (status, check, the prompts page): first {cover_cold * 1000:.0f} ms, then median "
              f"{cover_warm * 1000:.0f} ms of 5 (hashes cached by size and time)")

        stats = [measure(p) for p in sorted((Path(tmp) / "var" / "prompts").glob("*/*.wav"))]
        formats = sorted({(int(s["rate"]), int(s["channels"]), int(s["width"]) * 8) for s in stats})
        print(f"outputs: {len(stats)} files; rate/channels/bits: {formats}")
        print(f"peak dBFS:      {summary([s['peak'] for s in stats])}")
        print(f"loudness dBFS:  {summary([s['loudness'] for s in stats])}  (mean power of frames within 20 dB "
              "of the loudest)")
        levels = [v for v in (lufs(p) for p in sorted((Path(tmp) / "var" / "prompts").glob("*/*.wav"))) if v]
        print(f"loudness LUFS:  {summary(levels)}  (ffmpeg ebur128, {len(levels)} files long enough to gate)")
        print(f"duration s:     {summary([s['seconds'] for s in stats])}")


if __name__ == "__main__":
    main()
