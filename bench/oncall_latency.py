"""Caller's key 9 -> the first on-call staff phone ringing, through the emulator and the real engine.

Each round: a scripted caller dials, chooses a language, presses 9 at the main menu; the
clock stops when the staff phone's leg reaches the phones' Stasis app (the phone rings).
Reference in the same run: key 9 -> the caller hears the first emergency prompt start,
the engine's own reaction to the key. Prints medians, p90 and the ratio.

    .venv/bin/python bench/oncall_latency.py --calls 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from engine_rig import ARI_PASSWORD, ARI_USER, running_rig  # noqa: E402

from ivr.ari.client import AriClient  # noqa: E402
from ivr.ari.events import parse_event  # noqa: E402
from ivr.oncall import rota, store  # noqa: E402


async def run(calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with running_rig(Path(tmp), routes={"oncall-phones": "staffphones"},
                               flags={"oncall_ring_seconds": "60"}) as rig:
            staff = rota.parse("bench", "Local/bench@oncall-phones")
            await rig.database.write(lambda db: rota.add(db, staff, actor="bench"))
            rig.engine.escalations.staff_count = 1  # type: ignore[union-attr]
            phones = AriClient(rig.emulator.url, ARI_USER, ARI_PASSWORD)
            ws = await phones.connect_events("staffphones")
            rang: asyncio.Queue[float] = asyncio.Queue()

            async def read() -> None:
                async for msg in ws:
                    if parse_event(json.loads(msg.data)).type == "StasisStart":
                        rang.put_nowait(time.perf_counter())

            reader = asyncio.create_task(read())
            ring_ms, prompt_ms = [], []
            for _ in range(calls):
                caller = await rig.dial()
                await rig.pick_language(caller, "en")
                await caller.wait_prompt("main_menu")
                t0 = time.perf_counter()
                await caller.press("9")
                await caller.wait_prompt("emergency", slack=20)
                t_prompt = time.perf_counter()
                t_ring = await asyncio.wait_for(rang.get(), 20)
                ring_ms.append((t_ring - t0) * 1000)
                prompt_ms.append((t_prompt - t0) * 1000)
                row = await rig.database.query_one(
                    "select case_id from calls where channel_id = ?", [caller.hotline_channel_id])
                assert row is not None
                case_id = row["case_id"]
                await rig.database.write(lambda db, c=case_id: store.acknowledge_case(db, c, by="bench", user_id=None))
                await caller.hangup()
                await rig.ended_call(caller)
            reader.cancel()
            await phones.close()

    report(calls, ring_ms, prompt_ms, "emulator at media speed x20; DTMF and prompts take 1/20 of real time",
           "emergency prompt starts")


async def run_real(calls: int) -> None:
    """The same on two real Asterisk 22 servers (tests/asterisk_rig.py): key 9 over RFC 4733 ->
    the INVITE for the staff phone reaches the carrier (its phones app sees the call)."""
    import subprocess

    from asterisk_rig import Phones, running_pair

    with tempfile.TemporaryDirectory() as tmp:
        async with running_pair(Path(tmp), languages="en", phones=("staff1",), engine=False,
                                flags={"IVR_ONCALL_RING_SECONDS": "60"}) as pair:
            await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "ivr", "oncall", "add", "staff1", "--phone", "PJSIP/staff1"],
                env=pair.env, check=True, capture_output=True)
            await pair.start_engine()
            assert pair.phones is not None
            ring_ms, sound_ms = [], []
            for _ in range(calls):
                pair.phones.rang.clear()
                caller = await pair.call()
                await caller.wait_quiet()
                await caller.press("1")
                await caller.wait_quiet()
                async def rang(phones: Phones = pair.phones) -> float:
                    while not phones.rang:  # noqa: ASYNC110 - the rig's phone list has no event
                        await asyncio.sleep(0.002)
                    return time.monotonic()

                t0 = await caller.press("9")
                heard, ringing = await asyncio.gather(caller.wait_sound(), rang())
                ring_ms.append((ringing - t0) * 1000)
                sound_ms.append((heard - t0) * 1000)
                await caller.hangup()
                await asyncio.sleep(1.0)      # the engine hangs the ringing leg up after the caller
            report(calls, ring_ms, sound_ms, "real Asterisk 22 pair, ulaw RTP, key sent as RFC 4733",
                   "the caller hears the emergency prompt (RTP)")


def report(calls: int, ring_ms: list[float], ref_ms: list[float], setting: str, ref: str) -> None:
    def q(values: list[float], p: float) -> float:
        return sorted(values)[min(len(values) - 1, int(p * len(values)))]

    print(f"calls: {calls} ({setting})")
    print(f"key 9 -> staff phone ringing: median {statistics.median(ring_ms):.1f} ms, p90 {q(ring_ms, 0.9):.1f} ms, "
          f"max {max(ring_ms):.1f} ms")
    print(f"key 9 -> {ref} (reference): median {statistics.median(ref_ms):.1f} ms, p90 {q(ref_ms, 0.9):.1f} ms")
    print(f"ratio ringing / reference (medians): {statistics.median(ring_ms) / statistics.median(ref_ms):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--real", action="store_true", help="two real Asterisk servers instead of the emulator")
    args = parser.parse_args()
    asyncio.run(run_real(args.calls) if args.real else run(args.calls))


if __name__ == "__main__":
    main()
