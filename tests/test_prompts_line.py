"""The staff prompt-recording line through the emulator: a speaker calls, gives the PIN, picks a language
and a key, hears the current prompt, records, listens, keeps it: a draft that callers do not hear yet."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import REPO
from engine_rig import SPEED, Rig, running_rig

from ivr.asterisk.render import Deployment, Trunk, render
from ivr.languages import LANGUAGES
from ivr.prompts.line import PIN_FAILURES, PromptLine
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


async def call_line(rig: Rig) -> ScriptedCaller:
    caller = await rig.hub.dial("1700", "prompt-line", caller_id="Speaker <+66811111111>")
    await caller.wait_answered()
    return caller


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
    await caller.wait_recording()
    await caller.speak(rig.voice)
    await caller.press("#")
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


async def test_wrong_pins_are_rate_limited(line: tuple[Rig, PromptLine]) -> None:
    rig, service = line
    for _ in range(PIN_FAILURES - 1):
        service.limits.pin_failed()
    caller = await call_line(rig)
    await caller.wait_prompt("_line/line_pin")
    await caller.press("000000#")
    await caller.wait_prompt("_line/line_busy")                    # the tenth wrong PIN locks the line
    await caller.wait_hung_up()
    again = await call_line(rig)
    await again.wait_prompt("_line/line_busy")                     # even the right PIN is not asked for now
    await again.wait_hung_up()
    assert not await rig.database.query("select * from prompt_recordings")


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
