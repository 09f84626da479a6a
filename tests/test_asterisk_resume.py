"""kill -9 of the engine while a caller leaves a message, on a real Asterisk 22 called over SIP/RTP.

The issue this guards (19): the engine died three seconds into a message; the next one played the
instructions again, recorded over nothing, and the caller's words were lost. Here the engine is
killed at three points (during the beep, mid-message, during the review menu) and started again two
seconds later; each time the caller's speech must be in the case, at least as long as what they had
said (minus 0.5 s), before the hotline says anything else. The caller acts only on what it hears.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asterisk_rig import Caller, Pair, db, make_speech, running_pair, tone_level, wav_stats

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="module")]

BEEP_HZ = 700.0   # Asterisk's beep.wav
RESTART_AFTER_S = 2.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pair(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pair]:
    async with running_pair(tmp_path_factory.mktemp("real-resume"), languages="en", phones=()) as p:
        yield p


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_speech(tmp_path_factory.mktemp("voice") / "message.wav",
                       "My employer took my passport and has not paid me for three months. "
                       "I work at the fish factory near the port, and there are twenty of us.")


async def wait_beep(caller: Caller, timeout: float = 30.0) -> float:  # noqa: ASYNC109
    """Until the caller hears the recording beep (two 20 ms frames of the beep's tone)."""
    since = time.monotonic()
    async with asyncio.timeout(timeout):
        while True:
            frames = [f for f in caller.ear.frames if f[0] >= since]
            for a, b in itertools.pairwise(frames):
                if tone_level(a[2], BEEP_HZ) > 1.2 and tone_level(b[2], BEEP_HZ) > 1.2:
                    return b[0]
            since = frames[-2][0] if len(frames) >= 2 else since
            caller.ear.sound.clear()
            await caller.ear.sound.wait()


async def after_the_beep(caller: Caller) -> None:
    """Until the beep is over: a caller speaks after it, as told."""
    await caller.wait_quiet(quiet=0.3, heard_first=False)


async def restart(pair: Pair) -> None:
    pair.engine.kill()
    await asyncio.sleep(RESTART_AFTER_S)   # the outage itself: not a synchronisation
    await pair.start_engine()


async def to_the_beep(pair: Pair) -> Caller:
    caller = await pair.call()
    await caller.wait_quiet()          # greeting, language menu
    await caller.press("1")
    await caller.wait_quiet()          # main menu
    await caller.press("2")            # leave a message
    return caller


async def the_message(pair: Pair, caller: Caller) -> dict[str, Any]:
    """After the restart: the hotline says the message was saved; the caller hangs up; what was kept."""
    call_id = await open_call_id(pair)
    await caller.wait_quiet(quiet=1.5, timeout=60)   # "your message was saved; press 1 to add more, or hang up"
    await caller.hangup()
    return await closed(pair, call_id)


async def closed(pair: Pair, call_id: str) -> dict[str, Any]:
    """Once the call's row is closed: the row and its voice messages (filed in the same transaction)."""
    deadline = time.monotonic() + 30
    while True:
        with db(pair) as conn:
            call = dict(conn.execute("select * from calls where id = ?", [call_id]).fetchone())
            recs = [dict(r) for r in conn.execute(
                "select r.*, (select count(*) from jobs j where j.recording_id = r.id) as jobs from recordings r"
                " where call_id = ? and kind = 'voicemail' and state != 'deleted' order by id", [call_id])]
        if call["ended_at"]:
            return {"call": call, "recordings": recs}
        if time.monotonic() > deadline:
            raise AssertionError(f"call {call_id} not closed\n{pair.debug()}")
        await asyncio.sleep(0.2)


async def open_call_id(pair: Pair) -> str:
    with db(pair) as conn:
        row = conn.execute("select id from calls where ended_at is null order by started_at desc limit 1").fetchone()
    assert row is not None, pair.debug()
    return str(row[0])


async def kept(pair: Pair, found: dict[str, Any], at_least: float, *,
               salvaged_by: str = "resume: recording={rec}") -> None:
    recs = found["recordings"]
    assert [r["state"] for r in recs] == ["stored"], (recs, pair.debug())
    seconds, loudest = wav_stats(pair.data_dir / recs[0]["path"])
    assert seconds >= at_least - 0.5, (seconds, at_least)
    assert loudest > 1000, loudest
    assert recs[0]["case_id"] == found["call"]["case_id"] is not None
    assert recs[0]["jobs"] == 1
    # Salvaged by the new engine (one take: never recorded again from the start).
    assert await logged(pair, f"call={found['call']['id']} " + salvaged_by.format(rec=recs[0]["id"])), pair.debug()


async def logged(pair: Pair, line: str, within: float = 15.0) -> bool:
    """Whether the engine logs ``line`` within ``within`` seconds. The orphan sweep logs only after its
    commit and Asterisk's delete, so the closed row can be seen before the line is written."""
    deadline = time.monotonic() + within
    while line not in pair.engine.log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def test_killed_during_the_beep(pair: Pair, speech: Path) -> None:
    caller = await to_the_beep(pair)
    await wait_beep(caller)
    pair.engine.kill()
    await after_the_beep(caller)
    await caller.say(speech)           # the caller speaks as told, unaware
    await caller.press("#")
    await asyncio.sleep(RESTART_AFTER_S)
    await pair.start_engine()
    await kept(pair, await the_message(pair, caller), wav_stats(speech)[0])


async def test_killed_mid_message(pair: Pair, speech: Path) -> None:
    caller = await to_the_beep(pair)
    await wait_beep(caller)
    await after_the_beep(caller)
    speaking = asyncio.create_task(caller.say(speech))
    started = time.monotonic()
    await asyncio.sleep(3.0)           # three seconds into the message, as in the issue
    spoken = time.monotonic() - started
    await restart(pair)
    await speaking
    await caller.press("#")
    found = await the_message(pair, caller)
    await kept(pair, found, max(spoken, wav_stats(speech)[0]))


async def test_killed_during_review(pair: Pair, speech: Path) -> None:
    caller = await to_the_beep(pair)
    await wait_beep(caller)
    await after_the_beep(caller)
    await caller.say(speech)
    await caller.press("#")
    await caller.wait_sound()          # the review menu begins
    await restart(pair)
    await kept(pair, await the_message(pair, caller), wav_stats(speech)[0])


async def test_killed_mid_message_and_the_caller_hangs_up_before_it_is_back(pair: Pair, speech: Path) -> None:
    """The caller says their piece and hangs up while no engine runs: the next engine finds the call gone
    from Asterisk, and still files the caller's whole message in a case (Asterisk kept the recording)."""
    caller = await to_the_beep(pair)
    await wait_beep(caller)
    await after_the_beep(caller)
    speaking = asyncio.create_task(caller.say(speech))
    await asyncio.sleep(3.0)
    call_id = await open_call_id(pair)
    pair.engine.kill()
    await speaking
    await caller.hangup()              # gone before any engine could answer for the call
    await asyncio.sleep(RESTART_AFTER_S)
    await pair.start_engine()
    found = await closed(pair, call_id)
    assert found["call"]["outcome"] == "hangup", found
    await kept(pair, found, wav_stats(speech)[0], salvaged_by="orphaned call finished: 1 take(s) fetched")
