"""The staff prompt-recording line through the emulator: a speaker calls, gives the PIN, picks a language
and a key, hears the current prompt, records, listens, keeps it: a draft that callers do not hear yet."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import REPO
from engine_rig import SPEED, Rig, running_rig, write_wav

from ivr.asterisk.render import Deployment, Trunk, render
from ivr.db.writer import Database
from ivr.languages import LANGUAGES
from ivr.prompts import pins
from ivr.prompts.line import PIN_TRIES, PromptLine
from ivr.prompts.pins import PER_CALLER
from ivr.prompts.texts import catalog_for
from ivr.sim.caller import ScriptedCaller
from ivr.sim.recording import stored_names

PIN = "246810"


@pytest.fixture
async def line(tmp_path: Path) -> AsyncIterator[tuple[Rig, PromptLine]]:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    shutil.copy(REPO / "prompts" / "catalog.yaml", prompts / "catalog.yaml")
    async with running_rig(tmp_path, languages=("en", "th"), routes={"prompt-line": "hotline-prompts"},
                           flags={"prompts_dir": str(prompts), "prompt_line_pin": PIN}) as rig:
        service = PromptLine(rig.settings, rig.database, time_scale=SPEED)
        await service.start()
        await service.app.wait_connected()
        try:
            yield rig, service
        finally:
            await service.stop()


async def test_a_take_recorded_by_phone_becomes_a_draft(line: tuple[Rig, PromptLine]) -> None:
    rig, _ = line
    built = rig.settings.data_dir / "prompts" / "th" / "main_menu.wav"
    before = built.read_bytes()
    caller = await call_line(rig)
    await caller.wait_prompt("_line/line_pin")
    await caller.press("111111#")                                  # a wrong PIN first
    await caller.wait_prompt("_line/line_wrong_pin")
    await caller.wait_prompt("_line/line_pin")
    await caller.press(PIN + "#")
    await caller.wait_prompt("_line/line_language")
    await caller.press(f"{list(LANGUAGES).index('th') + 1}#")
    await caller.wait_prompt("th/choose_language")                 # the language confirmed in its own words
    await caller.wait_prompt("_line/line_key")
    number = catalog_for(rig.settings).keys.index("main_menu") + 1
    await caller.press(f"{number}#")
    await caller.wait_prompt("_line/line_current")
    await caller.wait_prompt("th/main_menu")                       # what callers hear now
    await caller.wait_prompt("_line/line_record")
    # Talking from the instructions on, through the beep: the line's 4 s of silence are 0.2 s on the wall at
    # SPEED, and a stall that long before the speaker began would end the take empty.
    speech = await caller.speak_through_beep(write_wav(rig.voice.with_name("long.wav"), 60.0, freq=300,
                                                       amplitude=12000))
    await caller.press("#")
    await caller.stop_speaking(speech)
    await caller.wait_prompt("recording:")                         # the take, played back
    await caller.wait_prompt("_line/line_review")
    await caller.press("1")
    await caller.wait_prompt("_line/line_kept")
    await caller.wait_prompt("_line/line_key")                     # another key? '#' alone: another language
    await caller.press("#")
    await caller.wait_prompt("_line/line_language")
    await caller.press("#")
    await caller.wait_prompt("_line/line_goodbye")
    await caller.wait_hung_up()

    [draft] = await rig.database.query("select * from prompt_recordings")
    assert (draft["lang"], draft["key"], draft["state"], draft["via"]) == ("th", "main_menu", "draft", "phone")
    assert draft["submitted_by_name"] == "phone:PIN caller" and draft["seconds"] > 1.0
    assert built.read_bytes() == before, "a draft must not reach callers"
    actions = [(r["action"], r["username"]) for r in await rig.database.query(
        "select action, username, detail from audit_log order by id")]
    assert actions == [("prompt_line.call", "phone:PIN caller"), ("prompt_line.pin_failed", "phone:PIN caller"),
                       ("prompt.submit", "phone:PIN caller")]
    details = " ".join(str(r["detail"]) for r in await rig.database.query("select detail from audit_log"))
    assert "66811111111" not in details
    # The take on Asterisk is deleted once brought home.
    assert not [n for n in stored_names(rig.emulator.world.spool_dir) if n.startswith("prompt-line")]


async def call_line(rig: Rig, number: str = "+66811111111") -> ScriptedCaller:
    caller = await rig.hub.dial("1700", "prompt-line", caller_id=f"Speaker <{number}>")
    await caller.wait_answered()
    return caller


async def wrong_pins(caller: ScriptedCaller, n: int, *, locked_after: bool = False) -> None:
    """Key ``n`` wrong PINs; the call then ends (three per call), or the lockout ends it (``locked_after``)."""
    for i in range(n):
        await caller.wait_prompt("_line/line_pin")
        await caller.press("000000#")
        if i < n - 1:
            await caller.wait_prompt("_line/line_wrong_pin")
    await caller.wait_prompt("_line/line_busy" if locked_after else "_line/line_wrong_pin")
    if not locked_after:
        await caller.wait_prompt("_line/line_busy")
    await caller.wait_hung_up()
    # Exactly n PINs were asked for: a lockout ends the call at once, not after the call's own three tries.
    asked = ["line_pin", *["line_wrong_pin", "line_pin"] * (n - 1)]
    assert said(caller) == [*asked, "line_busy"] if locked_after else [*asked, "line_wrong_pin", "line_busy"]


def said(caller: ScriptedCaller) -> list[str]:
    """The line's own words the caller heard, in order."""
    return [uri.rsplit("/", 1)[-1] for uri in caller.heard if "/_line/" in uri]


async def test_a_guesser_is_locked_out_and_others_still_get_in(line: tuple[Rig, PromptLine]) -> None:
    rig, _ = line
    await wrong_pins(await call_line(rig), PIN_TRIES)
    await wrong_pins(await call_line(rig), PER_CALLER - PIN_TRIES, locked_after=True)
    again = await call_line(rig)
    await again.wait_prompt("_line/line_busy")                     # even the right PIN is not asked for now
    await again.wait_hung_up()
    assert said(again) == ["line_busy"]
    other = await call_line(rig, "+66822222222")                   # another number: not this guesser
    await other.wait_prompt("_line/line_pin")
    await other.press(PIN + "#")
    await other.wait_prompt("_line/line_language")
    await other.hangup()
    rows = await rig.database.query("select action, detail from audit_log where action like 'prompt_line.pin%' "
                                    "order by id")
    assert [r["action"] for r in rows] == ["prompt_line.pin_failed"] * PER_CALLER + ["prompt_line.pin_locked"]
    assert json.loads(rows[-1]["detail"])["scope"] == "caller"
    assert "811111111" not in " ".join(r["detail"] for r in rows)
    stored = await rig.database.query("select caller from prompt_line_pin_failures")
    assert len(stored) == PER_CALLER and all("811111111" not in r["caller"] for r in stored)
    assert not await rig.database.query("select * from prompt_recordings")


async def test_many_numbers_guessing_lock_the_pin_for_everyone(line: tuple[Rig, PromptLine]) -> None:
    rig, _ = line
    await rig.database.write(lambda db: [pins.failed(db, f"tag{i}", "phone:PIN caller")
                                         for i in range(pins.ALL_CALLERS - 1)])
    await wrong_pins(await call_line(rig), 1, locked_after=True)     # the tenth wrong PIN in the window
    fresh = await call_line(rig, "+66833333333")
    await fresh.wait_prompt("_line/line_busy")
    await fresh.wait_hung_up()
    assert said(fresh) == ["line_busy"]
    [locked] = await rig.database.query("select detail from audit_log where action = 'prompt_line.pin_locked'")
    assert json.loads(locked["detail"])["scope"] == "everyone"


async def test_wrong_pins_survive_an_engine_restart(line: tuple[Rig, PromptLine]) -> None:
    rig, first = line
    await wrong_pins(await call_line(rig), PIN_TRIES)
    await first.stop()                                             # the engine stops; its memory is gone
    database = Database(rig.settings.db_path)                      # the same SQLite file, opened afresh
    second = PromptLine(rig.settings, database, time_scale=SPEED)
    await second.start()
    await second.app.wait_connected()
    try:
        # Two more wrong PINs reach the per-number limit: the tries before the restart still count.
        await wrong_pins(await call_line(rig), PER_CALLER - PIN_TRIES, locked_after=True)
    finally:
        await second.stop()
        database.close()
    third = PromptLine(rig.settings, Database(rig.settings.db_path), time_scale=SPEED)
    await third.start()
    await third.app.wait_connected()
    try:
        again = await call_line(rig)
        await again.wait_prompt("_line/line_busy")                 # still locked after another restart
        await again.wait_hung_up()
        assert said(again) == ["line_busy"]
    finally:
        await third.stop()
        third.database.close()


def test_a_lockout_ends_after_its_window(tmp_path: Path) -> None:
    database = Database(tmp_path / "ivr.db")
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    try:
        states = database.write_sync(lambda db: [pins.failed(db, "abc", "phone:x", start + timedelta(seconds=i))
                                                 for i in range(pins.PER_CALLER)])
        assert states == [False] * (pins.PER_CALLER - 1) + [True]
        assert database.write_sync(lambda db: pins.locked(db, "abc", start + pins.LOCKOUT))
        assert not database.write_sync(lambda db: pins.locked(db, "other", start + pins.LOCKOUT))
        later = start + timedelta(seconds=pins.PER_CALLER) + pins.LOCKOUT
        assert not database.write_sync(lambda db: pins.locked(db, "abc", later))
        # After the lockout the old failures are out of the window: one wrong PIN does not lock again.
        assert not database.write_sync(lambda db: pins.failed(db, "abc", "phone:x", later))
    finally:
        database.close()


def test_the_dialplan_sends_staff_phones_and_the_pin_number_to_the_line(line: tuple[Rig, PromptLine]) -> None:
    rig, _ = line
    settings = dataclasses.replace(rig.settings, ari_password="secret-123")
    conf = render(settings, Deployment(trunk=Trunk(host="sip.example.net"), phones=("desk1",),
                                       prompt_line_did="021234567"))["extensions.conf"]
    staff = conf.split("[hotline-staff]", 1)[1].split("\n\n", 1)[0]
    assert "exten => 1700,1,Set(CDR_PROP(disable)=1)\n same => n,Stasis(hotline-prompts,staff)" in staff
    pin = conf.split("[prompt-line]", 1)[1]
    assert "Stasis(hotline-prompts,pin)" in pin and "staff" not in pin
    assert "exten => 021234567,1,Goto(prompt-line,1700,1)" in conf.split("[from-trunk]", 1)[1].split("\n\n")[0]
    trunk = conf.split("[from-trunk]", 1)[1].split("\n\n")[0]
    assert trunk.index("021234567") < trunk.index("_X.")        # before the hotline's catch-all
