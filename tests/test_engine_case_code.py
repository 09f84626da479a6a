"""The case code on the emulator: the caller never waits for its slow hash, yet the code read back works;
a trailing '#' ends a digit entry and never cuts the next prompt.

The hash runs on the engine's two hashing threads; in a burst of calls they queue up for seconds. Here
the hasher is held back on purpose (a gate the test opens), which is what a saturated pool looks like to
one caller: what the caller hears is asserted against when the hash lands, never against a clock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from engine_rig import Rig, running_rig, write_wav

from ivr.ari.events import PlaybackEvent
from ivr.cases.lifecycle import open_case
from ivr.engine import codehash
from ivr.engine.resume import open_code, seal_code
from ivr.engine.store import insert_recording
from ivr.protection import casecode
from ivr.protection.caller import NumberVault
from ivr.sim.caller import ScriptedCaller
from ivr.supply.codes import make_code

pytestmark = pytest.mark.asyncio(loop_scope="module")

GATE_LIMIT_S = 60.0   # a test that never opens the gate still ends
LONG_PROMPT_S = 30.0  # media seconds (1.5 s on the wall at the rig's speed)
SWEEP_EVERY_S = 0.2   # the engine's periodic sweep, often enough that the test does not wait a minute


class SteeredHasher:
    """``casecode.hash_code`` on the engine's hashing thread, as the test steers it: held while ``gate`` is
    clear, failing while ``failing`` is set (as a hashing thread out of memory would)."""

    def __init__(self, *, failing: bool = False) -> None:
        self.gate, self.failing = threading.Event(), threading.Event()
        self.gate.set()
        if failing:
            self.failing.set()
        self.hashed = self.failures = 0

    def __call__(self, code: str) -> str:
        self.gate.wait(GATE_LIMIT_S)
        if self.failing.is_set():
            self.failures += 1
            raise MemoryError("scrypt could not allocate its memory")
        self.hashed += 1
        return casecode.hash_code(code)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def held(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Rig, SteeredHasher]]:
    hasher = SteeredHasher()
    async with running_rig(tmp_path_factory.mktemp("casecode"), hasher=hasher) as r:
        # Long enough in media time that a key cutting it is told from its end by what the caller does meanwhile.
        write_wav(r.settings.data_dir / "prompts" / "en" / "record_instructions.wav", LONG_PROMPT_S)
        try:
            yield r, hasher
        finally:
            hasher.gate.set()


def code_read_out(caller: ScriptedCaller) -> str:
    """The digits the caller heard from the case code's introduction on (not a menu's "press 1")."""
    start = next(i for i, uri in enumerate(caller.heard) if "case_code_intro" in uri)
    return "".join(uri.rsplit("digit_", 1)[1][0] for uri in caller.heard[start:] if "/digit_" in uri)


async def case_of(rig: Rig, caller: ScriptedCaller) -> dict[str, Any]:
    call = await rig.database.query_one("select case_id from calls where channel_id = ?", [caller.hotline_channel_id])
    assert call is not None and call["case_id"] is not None
    case = await rig.database.query_one("select * from cases where id = ?", [call["case_id"]])
    assert case is not None
    return case


@pytest.mark.parametrize("choice", ["message", "report"])
async def test_the_caller_hears_the_instructions_before_the_hash_lands_and_the_code_works(
        held: tuple[Rig, SteeredHasher], choice: str) -> None:
    rig, hasher = held
    hasher.gate.clear()
    try:
        caller = await rig.dial()
        await rig.pick_language(caller, "en")
        if choice == "message":
            await rig.menu(caller, "main_menu", "2")
        else:
            await rig.menu(caller, "main_menu", "1")
            await rig.menu(caller, "category_menu", "1")
            await rig.menu(caller, "workplace_code", "#")
        # The instructions play while no hash has landed: the case is open, its code not yet hashed.
        await caller.wait_prompt("record_instructions")
        case = await case_of(rig, caller)
        assert case["code_hash"] is None and case["code_tag"] is not None
        await rig.leave_message(caller)
        await caller.wait_prompt("message_saved")
        await caller.wait_prompt("case_code_intro")
        await caller.wait_prompt_finished()
        # The code is not read out while its hash is held back ...
        assert code_read_out(caller) == "" and hasher.gate.is_set() is False
    finally:
        hasher.gate.set()
    # ... and once it lands, the code the caller hears finds their case.
    first = await caller.wait_prompt("/digit_")
    case = await case_of(rig, caller)
    assert case["code_hash"] is not None, f"code read out ({first.media_uri}) before its hash was stored"
    await caller.wait_prompt("case_code_keep")
    await caller.wait_hung_up(slack=20)
    heard = code_read_out(caller)
    assert len(heard) == 16 and heard[:8] == heard[8:]
    assert casecode.verify_code(heard[:8], case["code_hash"])
    found = await rig.database.read(lambda db: casecode.find_case(db, rig.settings.key("case-code"), heard[:8]))
    assert found == case["id"]
    row = await rig.ended_call(caller)
    assert row["code_sealed"] is None and row["outcome"] == "completed"


async def test_a_caller_who_hangs_up_while_the_hash_is_held_back_still_has_a_working_code(
        held: tuple[Rig, SteeredHasher]) -> None:
    """The call ends before the hash lands: the engine stores it before it closes the call (which wipes the
    sealed copy), so the case's code works."""
    rig, hasher = held
    hasher.gate.clear()
    try:
        caller = await rig.dial()
        await rig.pick_language(caller, "en")
        await rig.menu(caller, "main_menu", "2")
        await caller.wait_prompt("record_instructions")
        call = await rig.database.query_one("select * from calls where channel_id = ?", [caller.hotline_channel_id])
        assert call is not None and call["code_sealed"] is not None
        await caller.hangup()
    finally:
        hasher.gate.set()
    row = await rig.ended_call(caller)
    case = await case_of(rig, caller)
    code = open_code(rig.settings, call["code_sealed"])
    assert code is not None and casecode.verify_code(code, case["code_hash"])
    assert row["code_sealed"] is None


async def test_a_hash_that_fails_during_the_call_is_stored_by_the_sweep_and_the_code_works(
        tmp_path: Path) -> None:
    """The hash cannot be computed while the caller is on the line: the caller still hears their code, the
    sealed copy outlives the call (only it can make that code work), and once hashing works again the
    engine's periodic sweep stores the hash and wipes the sealed copy. A follow-up call with the code the
    caller heard finds their case."""
    hasher = SteeredHasher(failing=True)
    async with running_rig(tmp_path, hasher=hasher, fallback_every=SWEEP_EVERY_S) as rig:
        caller = await rig.dial()
        await rig.pick_language(caller, "en")
        await rig.menu(caller, "main_menu", "2")
        await rig.leave_message(caller)
        await caller.wait_prompt("case_code_keep")
        await caller.wait_hung_up(slack=20)
        heard = code_read_out(caller)
        assert len(heard) == 16 and heard[:8] == heard[8:]   # read out twice, as to any caller
        ended = await rig.ended_call(caller)
        assert ended["outcome"] == "completed"
        case = await rig.database.query_one("select code_hash from cases where id = ?", [ended["case_id"]])
        # A sweep may have run meanwhile: it failed too, and kept the sealed code.
        kept = await rig.database.query_one("select code_sealed from calls where id = ?", [ended["id"]])
        assert case == {"code_hash": None} and hasher.failures >= 1
        assert kept is not None and open_code(rig.settings, kept["code_sealed"]) == heard[:8]

        hasher.failing.clear()   # memory back: the next sweep stores the hash
        async with asyncio.timeout(30):
            while True:   # the engine's own sweep: poll the database
                row = await rig.database.query_one("select code_sealed from calls where id = ?", [ended["id"]])
                if row is not None and row["code_sealed"] is None:
                    break
                await asyncio.sleep(0.05)
        case = await rig.database.query_one("select code_hash from cases where id = ?", [ended["case_id"]])
        assert case is not None and casecode.verify_code(heard[:8], case["code_hash"])

        again = await rig.dial()
        await rig.pick_language(again, "en")
        await rig.menu(again, "main_menu", "4")
        await rig.menu(again, "followup_enter_code", heard[:8])
        await again.wait_prompt("followup_no_message")   # found: no reply yet (not "invalid code")
        await rig.menu(again, "followup_add_message", "2")
        await again.wait_hung_up()
        followed = await rig.ended_call(again)
        assert followed["case_id"] == ended["case_id"]
        assert not any("followup_invalid_code" in uri for uri in again.heard)


async def test_the_orphan_sweep_hashes_with_the_engines_hasher(tmp_path: Path) -> None:
    """An earlier engine died after opening a case and before storing its code's hash, and the caller hung
    up before this engine came: the orphan sweep closes the call with the engine's own hasher (the one
    its calls use, on the same threads). While that fails, the sealed code is kept; once it works, the
    engine's sweep stores the hash, and the code the caller may have heard finds the case."""
    hasher = SteeredHasher(failing=True)
    code = "86420975"
    async with running_rig(tmp_path, hasher=hasher, fallback_every=SWEEP_EVERY_S) as rig:
        settings = rig.settings

        def orphan(db: Any) -> int:
            db.execute("insert into calls (id, channel_id, started_at, flow, flow_version, code_sealed) "
                       "values ('orphan-1', 'gone-1', '2026-01-01T00:00:00.000000Z', 'hotline', '1', ?)",
                       [seal_code(settings, code)])
            case_id = open_case(db, call_id="orphan-1", caller_ref=None, language="en", category=None,
                                workplace_code=None, workplace_id=None, code_hash=None,
                                code_tag=casecode.code_tag(settings.key("case-code"), code))
            db.execute("update calls set case_id = ? where id = 'orphan-1'", [case_id])
            return case_id

        case_id = await rig.database.write(orphan)

        async def call_row() -> dict[str, Any]:
            row = await rig.database.query_one("select ended_at, outcome, code_sealed from calls where id = 'orphan-1'")
            assert row is not None
            return row

        async with asyncio.timeout(30):
            while True:   # the engine's own sweep: poll the database
                row = await call_row()
                if row["ended_at"] is not None:
                    break
                await asyncio.sleep(0.05)
        case = await rig.database.query_one("select code_hash from cases where id = ?", [case_id])
        assert row["outcome"] == "hangup" and hasher.failures >= 1
        assert case == {"code_hash": None} and open_code(settings, row["code_sealed"]) == code

        hasher.failing.clear()
        async with asyncio.timeout(30):
            while True:
                if (await call_row())["code_sealed"] is None:
                    break
                await asyncio.sleep(0.05)
        case = await rig.database.query_one("select code_hash from cases where id = ?", [case_id])
        assert case is not None and casecode.verify_code(code, case["code_hash"])
        found = await rig.database.read(lambda db: casecode.find_case(db, settings.key("case-code"), code))
        assert found == case_id


async def test_the_sweep_keeps_a_code_it_cannot_hash_yet_and_wipes_one_no_secret_opens(
        held: tuple[Rig, SteeredHasher], caplog: pytest.LogCaptureFixture) -> None:
    """ivr.engine.codehash on its own: a failing hash leaves the sealed code for the next round (and says so);
    a code sealed under another secret can never be opened, so it is wiped, and said so, never the code."""
    rig, _ = held
    tag = casecode.code_tag(rig.settings.key("case-code"), "24681357")

    def ended_call_with_unhashed_case(db: Any, call_id: str, sealed: str) -> int:
        db.execute("insert into calls (id, channel_id, started_at, ended_at, flow, flow_version, code_sealed) "
                   "values (?, ?, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:01:00.000000Z', 'hotline', '1', ?)",
                   [call_id, "ch-" + call_id, sealed])
        case_id = open_case(db, call_id=call_id, caller_ref=None, language="en", category=None, workplace_code=None,
                            workplace_id=None, code_hash=None, code_tag=tag)
        return case_id

    mine = await rig.database.write(lambda db: ended_call_with_unhashed_case(
        db, "sweep-1", seal_code(rig.settings, "24681357")))
    foreign = await rig.database.write(lambda db: ended_call_with_unhashed_case(
        db, "sweep-2", NumberVault(b"another deployment's secret key!").seal("97531864")))

    async def failing(code: str) -> str:
        raise MemoryError("scrypt could not allocate its memory")

    async def working(code: str) -> str:
        return casecode.hash_code(code)

    assert await codehash.sweep(rig.settings, rig.database, failing) == []
    sealed = {r["id"]: r["code_sealed"] for r in await rig.database.query(
        "select id, code_sealed from calls where id in ('sweep-1', 'sweep-2')")}
    assert sealed["sweep-1"] is not None and sealed["sweep-2"] is None
    assert f"call=sweep-1 case={mine}: the case code's hash failed again" in caplog.text
    assert f"call=sweep-2 case={foreign}: its sealed case code cannot be opened" in caplog.text
    assert await codehash.sweep(rig.settings, rig.database, working) == [mine]
    assert await rig.database.query_one("select code_sealed from calls where id = 'sweep-1'") == {"code_sealed": None}
    case = await rig.database.query_one("select code_hash from cases where id = ?", [mine])
    assert case is not None and casecode.verify_code("24681357", case["code_hash"])
    for secret in ("24681357", "97531864"):
        assert secret not in caplog.text


# -- a trailing '#' ------------------------------------------------------------------------------------------

def heard_after(caller: ScriptedCaller, prompt: str) -> list[str]:
    """Prompt names the caller heard start after the last ``prompt``."""
    heard = caller.heard
    start = max(i for i, uri in enumerate(heard) if prompt in uri)
    return [uri.rsplit("/", 1)[-1] for uri in heard[start + 1:]]


async def replied_case(rig: Rig, code: str, *, same_tag: int = 0) -> int:
    """A case with a caseworker's reply, reached with ``code``; ``same_tag`` newer cases share its 3-digit
    tag (checked first, one slow hash each)."""
    key = rig.settings.key("case-code")
    reply = write_wav(rig.settings.data_dir / "replies" / f"reply-{code}.wav", 0.5, freq=660)
    decoy = casecode.hash_code("11111111")

    def make(db: Any) -> int:
        case_id = open_case(db, call_id=None, caller_ref=None, language="en", category="wages",
                            workplace_code=None, workplace_id=None, code_hash=casecode.hash_code(code),
                            code_tag=casecode.code_tag(key, code))
        insert_recording(db, call_id=None, case_id=case_id, kind="reply", path=str(reply.relative_to(
            rig.settings.data_dir)), duration=0.5, size=reply.stat().st_size, sha256=None, state="stored",
            asterisk_name=None)
        for _ in range(same_tag):
            open_case(db, call_id=None, caller_ref=None, language="en", category="wages", workplace_code=None,
                      workplace_id=None, code_hash=decoy, code_tag=casecode.code_tag(key, code))
        return case_id

    return await rig.database.write(make)


async def hears_the_whole_reply_after_code_and_hash(rig: Rig, code: str, case_id: int, *,
                                                  slack: float | None = None) -> None:
    """A follow-up caller keys ``code`` then '#' (as many phone systems teach): the code finds the case, and
    the intro, the whole reply and the question are heard, with no "invalid input" for the '#'."""
    caller = await rig.dial()
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "4")
    await rig.menu(caller, "followup_enter_code", code + "#")
    await caller.wait_prompt("followup_add_message", slack=slack)
    await caller.wait_prompt_finished()
    await caller.press("2")
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert row["case_id"] == case_id
    assert heard_after(caller, "followup_enter_code")[:3] == [
        "followup_message_intro", f"reply-{code}", "followup_add_message"]
    assert not any("invalid_input" in uri for uri in caller.heard)
    attempts = await rig.database.query("select success from code_attempts where call_id = ?", [row["id"]])
    assert attempts == [{"success": 1}]


async def test_a_hash_after_the_eight_digit_code_ends_it_and_never_cuts_the_reply(
        held: tuple[Rig, SteeredHasher]) -> None:
    rig, _ = held
    case_id = await replied_case(rig, "31415926")
    await hears_the_whole_reply_after_code_and_hash(rig, "31415926", case_id)


async def test_a_hash_after_the_code_ends_it_even_when_looking_the_code_up_is_slow(
        held: tuple[Rig, SteeredHasher]) -> None:
    """The lookup between the code and the reply (one slow hash per case whose tag matches; the hashing
    threads queued up behind other calls' in a burst) outlasts the window in which a '#' ends the entry.
    The '#' came at once: it still ends the code, and the reply is heard whole."""
    rig, _ = held
    # Ten slow hashes take well over the window (the flow's interdigit, 4 s, is 0.2 s on the wall here).
    case_id = await replied_case(rig, "27182818", same_tag=10)
    # The lookup takes wall time, not media time.
    await hears_the_whole_reply_after_code_and_hash(rig, "27182818", case_id, slack=30)


async def test_a_hash_after_a_full_workplace_code_ends_it_and_the_instructions_play(
        held: tuple[Rig, SteeredHasher]) -> None:
    rig, _ = held
    caller = await rig.dial()
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "1")
    await rig.menu(caller, "category_menu", "1")
    await rig.menu(caller, "workplace_code", make_code(4242) + "#")   # all six digits, then '#'
    instructions = await caller.wait_prompt("record_instructions")
    # The caller says something short while the instructions play: they are still playing after it,
    # so the '#' did not cut them.
    await caller.speak(rig.voice)
    assert not [e for e in caller.events if isinstance(e, PlaybackEvent) and e.type == "PlaybackFinished"
                and e.playback_id == instructions.playback_id], "the '#' cut the recording instructions"
    await rig.leave_message(caller)
    await caller.wait_prompt("case_code_keep")
    await caller.wait_hung_up(slack=20)
    row = await rig.ended_call(caller)
    case = await rig.database.query_one("select workplace_code from cases where id = ?", [row["case_id"]])
    assert case == {"workplace_code": make_code(4242)}
    assert heard_after(caller, "workplace_code")[0] == "record_instructions"
    assert not any("invalid_input" in uri for uri in caller.heard)
