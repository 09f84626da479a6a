"""N concurrent calls over SIP/RTP through two real Asterisk 22 servers (tests/asterisk_rig.py), each taking
the message path: language key, '2' (leave a message), speech after the beep, '#', '1' keep it, hang up.

Prints calls completed, cases created, messages kept (the goal: 0 lost), the key-to-silence latency as the
caller hears it (the main-menu key pressed while the prompt plays, until its audio stops arriving), the
time from '2' to the first word of the recording instructions and the silence in it (the case is opened
meanwhile; the instructions are told from other sounds by their first frame), and the CPU per call of the
engine and of the hotline's Asterisk (from /proc/<pid>/stat).

    .venv/bin/python bench/real_sip_load.py --calls 100
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sqlite3
import statistics
import struct
import sys
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from asterisk_rig import FRAME, LOUD_RMS, Caller, Pair, asterisk_missing, make_speech, rms, running_pair

GAP_S = 0.08   # no prompt frame for this long: the prompt has stopped


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its reaped children, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def key_to_silence(caller: Caller, pressed: float, next_prompt: float | None) -> float | None:
    """Seconds from the key press until the prompt's audio stopped arriving (or the next prompt began)."""
    until = math.inf if next_prompt is None else next_prompt
    loud = [at for at, level, _ in caller.ear.frames if pressed <= at < until and level >= LOUD_RMS]
    last = pressed
    for at in loud:
        if at - last > GAP_S:
            break
        last = at
    return max(0.0, last - pressed)


waits: list[float] = []  # the menu key until the first word of the recording instructions
quiet: list[float] = []  # of which silence: the menu's last sound until the instructions' first word


def first_loud_frame(path: Path) -> list[int]:
    """A prompt's first loud 20 ms frame: Asterisk sends a prompt in frames from its start, so it arrives whole."""
    with wave.open(str(path)) as w:
        data = w.readframes(w.getnframes())
    samples = list(struct.unpack(f"<{len(data) // 2}h", data))
    frames = [samples[i:i + FRAME] for i in range(0, len(samples) - FRAME + 1, FRAME)]
    return next(f for f in frames if rms(f) > 800)


def heard_at(caller: Caller, since: float, template: list[int]) -> float | None:
    """When the caller heard ``template`` (a prompt's first loud frame) after ``since``, by correlation."""
    norm = math.sqrt(sum(x * x for x in template)) or 1.0
    for at, _, frame in caller.ear.frames:
        if at < since or len(frame) != FRAME:
            continue
        den = norm * (math.sqrt(sum(x * x for x in frame)) or 1.0)
        if sum(x * y for x, y in zip(frame, template, strict=True)) / den > 0.97:
            return at
    return None


async def one_call(pair: Pair, speech: Path, delay: float, instructions: list[int]) -> tuple[bool, float | None]:
    await asyncio.sleep(delay)   # spread the dialling a little, as real calls arrive
    caller = await pair.call()
    try:
        await caller.wait_quiet(timeout=120)        # greeting and the language menu
        await caller.press("1")
        await caller.wait_sound(timeout=60)         # the main menu starts ...
        await caller.wait_sound(timeout=60)         # ... and is still playing: barge in
        pressed = await caller.press("2")
        await caller.wait_quiet(quiet=0.15, timeout=60, heard_first=False)   # the menu stops
        await caller.wait_sound(timeout=120)        # how to leave a message (after the case is opened) ...
        await caller.wait_quiet(timeout=120)        # ... and the beep
        started = heard_at(caller, pressed, instructions)
        latency = key_to_silence(caller, pressed, started)
        if started is not None:
            waits.append(started - pressed)
            before = [at for at, level, _ in caller.ear.frames if pressed <= at < started and level >= LOUD_RMS]
            quiet.append(started - max(before, default=pressed))
        await caller.say(speech)
        await caller.press("#")
        await caller.wait_quiet(timeout=120)
        await caller.press("1")
        await caller.wait_quiet(quiet=2.0, timeout=180)
        return True, latency
    except (TimeoutError, AssertionError) as exc:
        print(f"call {caller.number}: {type(exc).__name__} {exc}", file=sys.stderr)
        return False, None
    finally:
        await caller.hangup()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--keep", type=Path, help="copy the servers' roots, logs and data dir here")
    parser.add_argument("--spread", type=float, default=0.05, help="seconds between call starts")
    args = parser.parse_args()
    missing = asterisk_missing()
    if missing:
        sys.exit(missing)
    with tempfile.TemporaryDirectory(prefix="real-sip-load-") as tmp:
        root = Path(tmp)
        speech = make_speech(root / "voice" / "message.wav", "I have not been paid for three months.")
        async with running_pair(root / "pair", languages="en", phones=()) as pair:
            assert pair.engine.proc is not None and pair.hotline.proc is not None
            engine_pid, asterisk_pid = pair.engine.proc.pid, pair.hotline.proc.pid
            e0, a0, t0 = cpu_seconds(engine_pid), cpu_seconds(asterisk_pid), time.monotonic()
            instructions = first_loud_frame(pair.data_dir / "prompts" / "en" / "record_instructions.wav")
            results = await asyncio.gather(*(one_call(pair, speech, i * args.spread, instructions)
                                             for i in range(args.calls)))
            # the engine files the last messages as their calls end
            deadline = time.monotonic() + 60
            conn = sqlite3.connect(pair.data_dir / "ivr.db")
            open_calls = "select count(*) from calls where ended_at is null"
            while conn.execute(open_calls).fetchone()[0] and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            e1, a1, wall = cpu_seconds(engine_pid), cpu_seconds(asterisk_pid), time.monotonic() - t0
            cases = conn.execute("select count(*) from cases").fetchone()[0]
            kept = conn.execute("select count(*) from recordings where kind = 'voicemail' and state = 'stored'"
                                ).fetchone()[0]
            states = dict(conn.execute("select state, count(*) from recordings group by state").fetchall())
            still_open = conn.execute(open_calls).fetchone()[0]
            conn.close()
            if args.keep:
                import shutil

                shutil.copytree(root / "pair", args.keep, dirs_exist_ok=True, symlinks=True,
                                ignore=shutil.ignore_patterns("*.ctl"))
    done = sum(ok for ok, _ in results)
    latencies = [lat * 1000 for ok, lat in results if ok and lat is not None]
    print(f"calls: {args.calls} dialled, {done} completed in {wall:.1f} s")
    print(f"cases created: {cases}; messages kept: {kept}; lost: {done - kept} (recordings by state: {states};"
          f" calls still open: {still_open})")
    if latencies:
        print(f"key-to-silence as heard: p50 {statistics.median(latencies):.0f} ms, p99 {pct(latencies, 0.99):.0f} ms"
              f" (n={len(latencies)})")
    if waits:
        ms, still = [w * 1000 for w in waits], [q * 1000 for q in quiet]
        print(f"'2' (leave a message) until the instructions' first word: p50 {statistics.median(ms):.0f} ms, "
              f"p99 {pct(ms, 0.99):.0f} ms; of it silence (the menu's last sound to that word): "
              f"p50 {statistics.median(still):.0f} ms, p99 {pct(still, 0.99):.0f} ms, max {max(still):.0f} ms "
              f"(n={len(ms)})")
    print(f"CPU per call: engine {(e1 - e0) / args.calls * 1000:.0f} ms, hotline Asterisk "
          f"{(a1 - a0) / args.calls * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
