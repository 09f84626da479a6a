"""N concurrent calls through the Asterisk emulator and one StasisApp: set-up rate, DTMF-to-stop latency, CPU.

Three processes, so each one's CPU is its own: the emulator (`ivr sim`), the scripted callers
(this script with --role callers), and the "engine" (this process: AriClient + StasisApp running
the per-call handler). Each call: answer, play two prompts, barge-in on the caller's '1' (stop the
playback), record until '#', hang up. The DTMF-to-stop latency is measured inside the ARI layer:
from the WebSocket message arriving (Event.received_at) to the DELETE /playbacks request being sent
(AriClient.on_request), both time.perf_counter().

    .venv/bin/python bench/ari_concurrency.py --calls 500
    .venv/bin/python bench/ari_concurrency.py --calls 50 --handler mypkg.flows:handle --caller mypkg.flows:script

--handler MODULE:FUNCTION is ``async def f(call: ivr.ari.stasis.Call)``; to have its barge-in measured it
sets ``bench.ari_concurrency.DTMF_AT`` (a ContextVar) to ``event.received_at`` before ``stop_playback``.
--caller MODULE:FUNCTION is ``async def f(caller: ivr.sim.caller.ScriptedCaller, sounds: Path)``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import importlib
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Awaitable, Callable
from pathlib import Path

from ivr.ari.client import AriClient
from ivr.ari.errors import AriError
from ivr.ari.stasis import Call, StasisApp
from ivr.sim.caller import CallerHub, ScriptedCaller
from ivr.sim.media import RATE, write_wav

USER, PASSWORD = "bench", "bench-password"
DTMF_AT: contextvars.ContextVar[float | None] = contextvars.ContextVar("DTMF_AT", default=None)


def make_sounds(root: Path) -> Path:
    def tone(seconds: float, freq: float) -> array:
        return array("h", (int(6000 * math.sin(2 * math.pi * freq * i / RATE)) for i in range(int(seconds * RATE))))

    write_wav(root / "en" / "hello-world.wav", tone(1.4, 440))
    write_wav(root / "en" / "vm-intro.wav", tone(5.6, 330))
    write_wav(root / "en" / "beep.wav", tone(0.4, 1000))
    speech = array("h")
    for _ in range(3):
        speech += tone(0.8, 220) + array("h", bytes(2 * int(0.3 * RATE)))
    write_wav(root / "speech.wav", speech)
    return root


# -- the default call, both sides ---------------------------------------------------------------------------

async def bench_handler(call: Call) -> None:
    client, ch = call.client, call.channel_id
    await client.answer(ch)
    playback = await client.play(ch, ["sound:hello-world", "sound:vm-intro"], lang="en")
    while True:
        event = await call.next_event(60)
        if event is None or call.hung_up:
            return
        if event.type == "ChannelDtmfReceived":
            DTMF_AT.set(event.received_at)
            with contextlib.suppress(AriError):
                await client.stop_playback(playback["id"])
            break
        if event.type == "PlaybackFinished":
            break
    await client.record(ch, f"bench/{ch}", max_duration=30, max_silence=5, terminate_on="#", if_exists="overwrite")
    while (event := await call.next_event(60)) is not None and not call.hung_up:
        if event.type == "RecordingFinished":
            break
    with contextlib.suppress(AriError):
        await client.hangup(ch)


async def bench_caller(caller: ScriptedCaller, sounds: Path) -> None:
    await caller.wait_answered(120)
    await caller.wait_prompt("vm-intro", slack=120)
    await caller.press("1")
    await caller.wait_recording(120)
    await caller.speak(sounds / "speech.wav")
    await caller.press("#")
    await caller.wait_hung_up(120)


def load(spec: str) -> Callable[..., Awaitable[None]]:
    module, _, name = spec.partition(":")
    fn: Callable[..., Awaitable[None]] = getattr(importlib.import_module(module), name)
    return fn


# -- the callers' process -----------------------------------------------------------------------------------

async def run_callers(args: argparse.Namespace) -> None:
    script = load(args.caller)
    hub = CallerHub(args.url, USER, PASSWORD, app="bench-callers", speed=args.speed)
    await hub.start()
    failures = 0
    started = time.perf_counter()

    async def one(i: int) -> None:
        nonlocal failures
        await asyncio.sleep(i / args.rate)
        try:
            caller = await hub.dial(caller_id=f"Bench <{100000 + i}>", timeout=120)
            await script(caller, Path(args.sounds))
        except Exception as exc:  # a failed call is counted, not fatal
            failures += 1
            print(f"caller {i}: {type(exc).__name__}: {exc}"[:200], file=sys.stderr)

    await asyncio.gather(*(one(i) for i in range(args.calls)))
    await hub.stop()
    print(json.dumps({"failures": failures, "cpu": time.process_time(), "wall": time.perf_counter() - started}))


# -- the engine's process -----------------------------------------------------------------------------------

def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def start_emulator(tmp: Path, sounds: Path, speed: float) -> tuple[subprocess.Popen[str], str]:
    """`ivr sim` in its own process (so its CPU is its own); returns it and its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update(IVR_ARI_USER=USER, IVR_ARI_PASSWORD=PASSWORD, IVR_DATA_DIR=str(tmp / "var"), IVR_LOG_LEVEL="WARNING")
    emulator = subprocess.Popen(
        [sys.executable, "-m", "ivr", "sim", "--port", "0", "--sounds", str(sounds), "--spool", str(tmp / "spool"),
         "--speed", str(speed)], env=env, stdout=subprocess.PIPE, text=True,
    )
    assert emulator.stdout is not None
    match = re.search(r"(http://127\.0\.0\.1:\d+)/ari", emulator.stdout.readline())
    if not match:
        raise SystemExit("the emulator did not start")
    return emulator, match.group(1)


async def run_engine(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
    sounds = make_sounds(tmp / "sounds")
    emulator, url = start_emulator(tmp, sounds, args.speed)

    latencies: list[float] = []
    starts: list[float] = []
    active = peak = done = 0
    all_done = asyncio.Event()

    def on_request(method: str, path: str) -> None:
        dtmf_at = DTMF_AT.get()
        if dtmf_at is not None and method == "DELETE" and path.startswith("/playbacks/"):
            latencies.append(time.perf_counter() - dtmf_at)
            DTMF_AT.set(None)

    handler = load(args.handler)

    async def counted(call: Call) -> None:
        nonlocal active, peak, done
        starts.append(time.perf_counter())
        active += 1
        peak = max(peak, active)
        try:
            await handler(call)
        finally:
            active -= 1
            done += 1
            if done >= args.calls:
                all_done.set()

    client = AriClient(url, USER, PASSWORD, timeout=30, on_request=on_request)
    app = StasisApp(client, "hotline", counted)
    await app.start()
    cpu0, emu0 = time.process_time(), proc_cpu(emulator.pid)
    callers = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--role", "callers", "--url", url, "--calls", str(args.calls), "--rate",
        str(args.rate), "--speed", str(args.speed), "--sounds", str(sounds), "--caller", args.caller,
        stdout=asyncio.subprocess.PIPE,
    )
    wall0 = time.perf_counter()
    out, _ = await callers.communicate()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_done.wait(), 30)
    wall = time.perf_counter() - wall0
    engine_cpu, emu_cpu = time.process_time() - cpu0, proc_cpu(emulator.pid) - emu0
    summary = json.loads(out.decode().strip().splitlines()[-1])
    await app.stop()
    await client.close()
    emulator.terminate()
    emulator.wait(10)

    total_cpu = engine_cpu + emu_cpu + summary["cpu"]
    span = (max(starts) - min(starts)) if len(starts) > 1 else float("nan")
    ms = [x * 1000 for x in latencies]
    print(f"calls: {args.calls} requested, {len(starts)} reached the app, {done} handlers finished, "
          f"{summary['failures']} caller scripts failed; peak concurrent calls in the engine: {peak}")
    print(f"call set-up: {len(starts) / span:.0f} calls/s (StasisStart arrivals over {span:.2f} s; "
          f"callers dial at {args.rate:g}/s)")
    if ms:
        print(f"DTMF event -> stop-playback request: n={len(ms)} p50={statistics.median(ms):.2f} ms "
              f"p95={pct(ms, 95):.2f} ms p99={pct(ms, 99):.2f} ms max={max(ms):.2f} ms")
    print(f"engine CPU: {engine_cpu:.2f} s = {engine_cpu / max(1, done) * 1000:.1f} ms per call "
          f"({engine_cpu / wall * 100:.0f}% of one core over {wall:.1f} s)")
    print(f"emulator CPU: {emu_cpu:.2f} s = {emu_cpu / total_cpu * 100:.0f}% of all CPU used "
          f"(callers {summary['cpu']:.2f} s, engine {engine_cpu:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500, help="concurrent calls (default 500)")
    parser.add_argument("--rate", type=float, default=250.0, help="calls dialled per second (default 250)")
    parser.add_argument("--speed", type=float, default=1.0, help="emulator media speed (default 1: real time)")
    parser.add_argument("--handler", default=f"{__name__ if __name__ != '__main__' else 'bench.ari_concurrency'}"
                        ":bench_handler", help="per-call handler MODULE:FUNCTION")
    parser.add_argument("--caller", default="bench.ari_concurrency:bench_caller", help="caller script MODULE:FUNCTION")
    parser.add_argument("--role", choices=("engine", "callers"), default="engine", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--sounds", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if args.handler == "bench.ari_concurrency:bench_handler":
        args.handler = "__main__:bench_handler" if args.role == "engine" else args.handler
    asyncio.run(run_callers(args) if args.role == "callers" else run_engine(args))


if __name__ == "__main__":
    main()


