"""Nothing is lost when things break: Asterisk restarts, the engine restarts or fails, the engine was away."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from click.testing import CliRunner
from conftest import TEST_SECRET
from engine_rig import ARI_PASSWORD, ARI_USER, Rig, running_rig, write_wav

from ivr.ari.client import AriClient
from ivr.cli import main
from ivr.engine.fallback import import_fallback
from ivr.engine.service import Engine
from ivr.prompts.resolve import MissingPrompt
from ivr.sim.caller import ScriptedCaller

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    async with running_rig(tmp_path_factory.mktemp("resilience")) as r:
        yield r


async def reconnect_callers(rig: Rig) -> None:
    """The scripted callers' own event socket does not reconnect by itself."""
    await rig.hub.stop()
    await rig.hub.start()


async def test_ari_outage_mid_call_keeps_the_call_going(rig: Rig) -> None:
    caller = await rig.dial()
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "2")
    # The caller talks through the beep (one who began only once the recording started could begin after
    # the flow's 6 s of silence, 0.3 s on the wall, on a loaded machine).
    speech = await caller.speak_through_beep(rig.voice, after=1.0)
    await caller.stop_speaking(speech)   # silent from here: 6 media seconds on, the take ends
    connects = rig.engine.app.connects
    # The ARI connection drops while the caller speaks; their channel survives, and the recording
    # ends on silence while the engine cannot hear it (its RecordingFinished is lost).
    await rig.emulator.restart(keep_channels=True, downtime=0.2)
    await reconnect_callers(rig)
    await rig.engine.app.wait_connected()
    await rig.menu(caller, "review_menu", "1")
    await caller.wait_hung_up(slack=20)
    row = await rig.ended_call(caller)
    assert rig.engine.app.connects > connects
    assert row["outcome"] == "completed"
    recs = await rig.database.query("select state from recordings where call_id = ?", [row["id"]])
    assert recs == [{"state": "stored"}]


async def test_asterisk_restart_drops_the_call_and_the_engine_carries_on(rig: Rig) -> None:
    caller = await rig.dial()
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "1")
    await caller.wait_prompt("category_menu")
    await rig.emulator.restart(keep_channels=False, downtime=0.2)
    await rig.engine.app.wait_connected()
    row = await rig.ended_call(caller, timeout=20)
    assert row["outcome"] == "hangup" and row["menu_choice"] == "report"
    # The callers' socket went with the old server: reconnect it, then a new call works end to end.
    await reconnect_callers(rig)
    again = await rig.dial()
    await rig.pick_language(again, "en")
    await again.wait_prompt("main_menu")
    await again.press("*")
    assert (await rig.ended_call(again))["outcome"] == "quick_exit"


async def test_engine_restart_mid_call_resumes_where_the_caller_was(rig: Rig) -> None:
    caller = await rig.dial()
    await rig.pick_language(caller, "th")
    await caller.wait_prompt("main_menu")
    await rig.engine.stop()
    replacement = Engine(rig.settings, rig.database, prompts=rig.engine.prompts, time_scale=rig.engine.time_scale)
    rig.engine = replacement
    await replacement.start()
    await replacement.app.wait_connected()
    # Picked up again at the main menu, still in Thai, without the language menu.
    await caller.wait_prompt("th/main_menu", slack=15)
    await caller.press("2")
    await rig.leave_message(caller)
    await caller.wait_hung_up(slack=20)
    row = await rig.ended_call(caller)
    assert row["language"] == "th" and row["outcome"] == "completed" and row["menu_choice"] == "message"
    assert await rig.database.query("select id from recordings where call_id = ? and state = 'stored'", [row["id"]])


class BrokenPrompts:
    """The real resolver, except keys that blow up (a bug, a deleted file...)."""

    def __init__(self, real: Any, *broken: str) -> None:
        self.real, self.broken = real, broken

    def media(self, key: str, lang: str) -> list[str]:
        if key in self.broken:
            raise MissingPrompt(f"prompt {key} is not built")
        return list(self.real.media(key, lang))

    def digits(self, digits: str, lang: str) -> list[str]:
        return list(self.real.digits(digits, lang))

    def number(self, n: int, lang: str) -> list[str]:
        return list(self.real.number(n, lang))


@contextlib.asynccontextmanager
async def apologised(rig: Rig) -> AsyncIterator[ScriptedCaller]:
    """A caller who chose "report a problem" and heard the apology: the next prompt is broken, so the
    engine's rescue runs (apologise, then a voicemail without a review menu)."""
    real = rig.engine.prompts
    rig.engine.prompts = BrokenPrompts(real, "category_menu")
    try:
        caller = await rig.dial()
        await rig.pick_language(caller, "en")
        await rig.menu(caller, "main_menu", "1")
        await caller.wait_prompt("apology_message")
        yield caller
    finally:
        rig.engine.prompts = real


async def test_unexpected_error_apologises_and_still_takes_the_message(rig: Rig) -> None:
    async with apologised(rig) as caller:
        await rig.say_message(caller)
        await caller.wait_prompt("message_saved")
        await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert row["outcome"] == "error" and row["case_id"] is not None
    recs = await rig.database.query("select state, case_id from recordings where call_id = ?", [row["id"]])
    assert recs == [{"state": "stored", "case_id": row["case_id"]}]


async def test_a_caller_silent_after_the_apology_gets_a_second_take(rig: Rig) -> None:
    """The rescue voicemail has no review menu: a first take that is only silence is not called saved."""
    async with apologised(rig) as caller:
        await caller.wait_recording()              # says nothing: the take ends on silence
        await caller.wait_prompt("no_input")
        await rig.say_message(caller)
        await caller.wait_prompt("message_saved")
        await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    recs = await rig.database.query("select state from recordings where call_id = ? order by id", [row["id"]])
    assert [r["state"] for r in recs] == ["empty", "stored"]
    heard = [k for uri in caller.heard for k in ("no_input", "message_saved") if k in uri]
    assert heard == ["no_input", "message_saved"]


async def test_a_caller_silent_twice_after_the_apology_is_never_told_it_was_saved(rig: Rig) -> None:
    async with apologised(rig) as caller:
        await caller.wait_prompt("no_input")
        await caller.wait_prompt("goodbye")
        await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert not [uri for uri in caller.heard if "message_saved" in uri], caller.heard
    recs = await rig.database.query("select state from recordings where call_id = ? order by id", [row["id"]])
    assert [r["state"] for r in recs] == ["empty", "empty"]


async def test_engine_start_imports_the_fallback_folder(rig: Rig, tmp_path: Path) -> None:
    folder = rig.settings.fallback_path
    write_wav(folder / "20261124T100000-1.wav", 1.5, freq=350, amplitude=9000)
    (folder / "20261124T100000-1.lang").write_text("th\n")
    write_wav(folder / "20261124T100500-2.wav", 1.0, amplitude=0)               # silence
    (folder / "20261124T101000-3.wav").write_bytes(b"RIFF....not a wav")          # corrupt: left alone
    write_wav(folder / "tmp" / "20261124T102000-4.wav", 1.0)                     # still being recorded
    before = {r["id"] for r in await rig.database.query("select id from cases")}

    await rig.engine.stop()
    replacement = Engine(rig.settings, rig.database, prompts=rig.engine.prompts, time_scale=rig.engine.time_scale)
    rig.engine = replacement
    await replacement.start()

    cases = await rig.database.query("select * from cases order by id")
    new = [c for c in cases if c["id"] not in before]
    assert len(new) == 2
    recs = await rig.database.query(
        "select * from recordings where kind = 'fallback' order by id")
    assert [(r["state"], r["case_id"]) for r in recs] == [("stored", new[0]["id"]), ("empty", new[1]["id"])]
    assert new[0]["language"] == "th"
    jobs = await rig.database.query("select recording_id, language from jobs where recording_id in (?, ?)",
                                    [recs[0]["id"], recs[1]["id"]])
    assert jobs == [{"recording_id": recs[0]["id"], "language": "th"}]
    left = sorted(p.name for p in await asyncio.to_thread(lambda: list(folder.rglob("*.wav"))))
    assert left == ["20261124T101000-3.wav", "20261124T102000-4.wav"]
    # Importing again finds nothing new.
    assert await import_fallback(rig.settings, rig.database) == []


async def test_ivr_engine_import_fallback_only_files_them_with_no_asterisk(tmp_path: Path) -> None:
    # docs/deploy.md, "The engine stops": the operator files the waiting voicemails now, Asterisk or not
    # (the ARI address here answers nothing).
    data = tmp_path / "var"
    (data / "fallback").mkdir(parents=True)
    write_wav(data / "fallback" / "20261124T100000-1.wav", 1.5, freq=350, amplitude=9000)
    (data / "fallback" / "20261124T100000-1.lang").write_text("th\n")
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["--data-dir", str(data), "--ari-url", "http://127.0.0.1:9", "engine",
                                   "--import-fallback-only"], env={"IVR_SECRET_KEY": TEST_SECRET})
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "imported 1 fallback voicemail(s)"
    conn = sqlite3.connect(data / "ivr.db")
    try:
        rows = conn.execute("select c.language, r.state from cases c join recordings r on r.case_id = c.id"
                            " where r.kind = 'fallback'").fetchall()
    finally:
        conn.close()
    assert rows == [("th", "stored")]
    assert list((data / "fallback").glob("*.wav")) == []


async def test_when_even_the_voicemail_rescue_fails_the_dialplan_fallback_takes_the_caller(tmp_path: Path) -> None:
    # The dialplan's fallback context (asterisk_conf/extensions.conf) runs an app nobody serves here:
    # reaching it is what counts; the emulator then hangs up as Asterisk would.
    async with running_rig(tmp_path, routes={"hotline-fallback": "dialplan-voicemail"}) as r:
        r.engine.prompts = BrokenPrompts(r.engine.prompts, "category_menu", "record_instructions")
        caller = await r.dial()
        await r.pick_language(caller, "en")
        await r.menu(caller, "main_menu", "1")
        await caller.wait_prompt("apology_message")
        await caller.wait_for(lambda e: e.type == "ChannelDialplan" and e.channel_id == caller.hotline_channel_id
                              and (e.raw["channel"].get("dialplan") or {}).get("context") == "hotline-fallback",
                              10, "the hotline leg continuing in hotline-fallback")
        row = await r.ended_call(caller)
    assert row["outcome"] == "error"


async def test_a_running_engine_imports_voicemails_the_dialplan_takes_meanwhile(rig: Rig) -> None:
    await rig.engine.stop()
    replacement = Engine(rig.settings, rig.database, prompts=rig.engine.prompts, time_scale=rig.engine.time_scale,
                         fallback_every=0.2)
    rig.engine = replacement
    await replacement.start()
    before = {r["id"] for r in await rig.database.query("select id from cases")}
    # E.g. taken while the event socket was down: Asterisk moves it out of tmp/ when the call ends.
    write_wav(rig.settings.fallback_path / "20261124T110000-9.wav", 1.5, freq=370, amplitude=9000)
    async with asyncio.timeout(10):
        while True:   # the database has no event to wait on: poll it
            new = [r for r in await rig.database.query("select id from cases") if r["id"] not in before]
            if new:
                break
            await asyncio.sleep(0.1)
    recs = await rig.database.query("select state from recordings where case_id = ?", [new[0]["id"]])
    assert recs == [{"state": "stored"}]


async def test_a_call_the_old_engine_never_answered_is_answered_when_resumed(rig: Rig) -> None:
    # The engine went away between the call's StasisStart and its answer: the channel waits in the app, ringing.
    await rig.engine.stop()
    holder = AriClient(rig.emulator.url, ARI_USER, ARI_PASSWORD)
    socket = await holder.connect_events(rig.settings.ari_app)
    caller = await rig.hub.dial("1000", "hotline-in", caller_id="Worker <+66810000999>")
    await until_ringing_in_app(rig)
    await socket.close()
    await holder.close()
    replacement = Engine(rig.settings, rig.database, prompts=rig.engine.prompts, time_scale=rig.engine.time_scale)
    rig.engine = replacement
    await replacement.start()
    await caller.wait_answered()          # without an answer the caller would hear ringing, then nothing
    await caller.wait_prompt("choose_language")
    await caller.press("*")
    assert (await rig.ended_call(caller))["outcome"] == "quick_exit"


async def until_ringing_in_app(rig: Rig) -> None:
    async with asyncio.timeout(10):
        while True:   # the emulator's state has no event to wait on: poll it
            if any(c.stasis_app == rig.settings.ari_app and c.state != "Up"
                   for c in rig.emulator.world.channels.values()):
                return
            await asyncio.sleep(0.05)
