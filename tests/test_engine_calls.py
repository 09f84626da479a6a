"""Complete calls through the emulator for every branch of the default flow, in two languages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from engine_rig import ARI_PASSWORD, ARI_USER, SPEED, Rig, running_rig, write_wav

from ivr.cases.lifecycle import open_case
from ivr.engine.demo import BRANCHES, demo_call
from ivr.engine.store import insert_recording
from ivr.protection.caller import NumberVault
from ivr.protection.casecode import code_tag, hash_code
from ivr.supply.codes import make_code

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    async with running_rig(tmp_path_factory.mktemp("engine")) as r:
        yield r


@pytest.mark.parametrize("lang", ["en", "th"])
async def test_report_with_workplace_code_reads_the_code_back_twice(rig: Rig, lang: str) -> None:
    caller = await rig.dial()
    await caller.wait_prompt("greeting")
    await rig.pick_language(caller, lang)
    await rig.menu(caller, f"{lang}/main_menu", "1")
    await rig.menu(caller, "category_menu", "2")          # documents held by the employer
    await caller.wait_prompt("workplace_code")
    await caller.press(make_code(12345) + "#")
    await rig.leave_message(caller)
    await caller.wait_prompt("case_code_intro")
    await caller.wait_prompt("case_code_repeat")
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert row["outcome"] == "completed"
    assert row["language"] == lang
    assert row["menu_choice"] == "report"
    case = await rig.database.query_one("select * from cases where id = ?", [row["case_id"]])
    assert case is not None and case["category"] == "documents" and case["language"] == lang
    assert case["code_hash"].startswith("scrypt$")
    # The opening is on record, by the engine, with ids only (no caller reference, no code).
    opened = await rig.database.query(
        "select username, user_id, detail from audit_log where action = 'case.open' and object_id = ?",
        [str(case["id"])])
    assert [(o["username"], o["user_id"]) for o in opened] == [("(engine)", None)]
    detail = json.loads(opened[0]["detail"])
    assert (detail["source"], detail["call"], detail["category"]) == ("call", row["id"], "documents")
    assert case["caller_ref"] not in opened[0]["detail"] and make_code(12345) not in opened[0]["detail"]
    recs = await rig.database.query("select * from recordings where case_id = ?", [case["id"]])
    assert [r["state"] for r in recs] == ["stored"]
    path = rig.settings.data_dir / recs[0]["path"]
    assert (await asyncio.to_thread(path.stat)).st_size == recs[0]["size_bytes"]
    jobs = await rig.database.query("select * from jobs where recording_id = ?", [recs[0]["id"]])
    assert [(j["state"], j["language"]) for j in jobs] == [("queued", lang)]
    # Asterisk's copy is gone once ours is verified.
    stored = await rig.engine.client.list_stored_recordings()
    assert recs[0]["asterisk_name"] not in [r["name"] for r in stored]
    # The code was read digit by digit, twice: 8 digits after each of the two intros.
    heard = caller.heard
    first = heard.index(next(u for u in heard if "case_code_intro" in u))
    assert sum("/digit_" in u for u in heard[first:]) >= 16
    steps = await rig.steps(row["id"])
    assert ("category_menu", "documents") in [(s["node"], s["category"]) for s in steps]


@pytest.mark.parametrize("lang", ["en", "th"])
async def test_leave_a_message_listen_then_record_again(rig: Rig, lang: str) -> None:
    caller = await rig.dial()
    await rig.pick_language(caller, lang)
    await rig.menu(caller, "main_menu", "2")
    await rig.leave_message(caller, keep=False)
    await rig.menu(caller, "review_menu", "2")              # listen
    await caller.wait_prompt("recording:")
    await rig.menu(caller, "review_menu", "3")              # record again
    await rig.leave_message(caller)                         # ... and keep the second take
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert (row["outcome"], row["menu_choice"], row["language"]) == ("completed", "message", lang)
    recs = await rig.database.query("select * from recordings where call_id = ? order by id", [row["id"]])
    assert [r["state"] for r in recs] == ["deleted", "stored"]
    assert recs[0]["path"] is None and recs[1]["case_id"] == row["case_id"]
    assert not await asyncio.to_thread(
        lambda: list((rig.settings.data_dir / "recordings").glob(f"{recs[0]['asterisk_name']}*")))
    jobs = await rig.database.query("select recording_id from jobs where recording_id in (?, ?)",
                                    [recs[0]["id"], recs[1]["id"]])
    assert [j["recording_id"] for j in jobs] == [recs[1]["id"]]


@pytest.mark.parametrize("lang", ["en", "th"])
async def test_callback_seals_the_number_with_a_window(rig: Rig, lang: str) -> None:
    number = f"+66899{'1' if lang == 'en' else '2'}00011"
    caller = await rig.dial(number)
    await rig.pick_language(caller, lang)
    await rig.menu(caller, "main_menu", "3")
    await rig.menu(caller, "callback_consent", "1")
    await rig.menu(caller, "callback_window", "3")
    await caller.wait_prompt("callback_confirmed")
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert row["outcome"] == "completed" and row["menu_choice"] == "callback"
    cb = await rig.database.query_one("select * from callbacks where call_id = ?", [row["id"]])
    assert cb is not None and cb["window"] == "evening" and cb["case_id"] == row["case_id"]
    db_bytes = b"".join([await asyncio.to_thread(p.read_bytes) for p in rig.settings.db_path.parent.glob("ivr.db*")])
    assert number not in str(cb) and number.lstrip("+").encode() not in db_bytes
    assert NumberVault(rig.settings.key("callback-number")).open(cb["number_encrypted"]) == number
    case = await rig.database.query_one("select callback_requested from cases where id = ?", [row["case_id"]])
    assert case == {"callback_requested": 1}


async def test_callback_from_a_withheld_number_offers_a_message(rig: Rig) -> None:
    caller = await rig.dial("anonymous")
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "3")
    await caller.wait_prompt("callback_no_number")
    await rig.leave_message(caller)
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert row["caller_ref"] is None and row["case_id"] is not None
    assert await rig.database.query("select * from callbacks where call_id = ?", [row["id"]]) == []


async def _case_with_reply(rig: Rig, code: str) -> int:
    reply = write_wav(rig.settings.data_dir / "replies" / f"reply-{code}.wav", 0.5, freq=660)

    def make(db: Any) -> int:
        case_id = open_case(db, call_id=None, caller_ref=None, language="en", category="wages",
                              workplace_code=None, workplace_id=None, code_hash=hash_code(code),
                              code_tag=code_tag(rig.settings.key("case-code"), code))
        db.execute("update cases set status = 'resolved' where id = ?", [case_id])
        insert_recording(db, call_id=None, case_id=case_id, kind="reply", path=str(reply.relative_to(
            rig.settings.data_dir)), duration=0.5, size=reply.stat().st_size, sha256=None, state="stored",
            asterisk_name=None)
        return case_id

    return int(await rig.database.write(make))


@pytest.mark.parametrize("lang", ["en", "th"])
async def test_followup_with_a_valid_code_plays_the_reply_and_adds_a_message(rig: Rig, lang: str) -> None:
    code = "48151623" if lang == "en" else "42424217"
    case_id = await _case_with_reply(rig, code)
    caller = await rig.dial()
    await rig.pick_language(caller, lang)
    await rig.menu(caller, "main_menu", "4")
    await rig.menu(caller, "followup_enter_code", code)
    await caller.wait_prompt("followup_message_intro")
    await caller.wait_prompt(f"reply-{code}")
    await rig.menu(caller, "followup_add_message", "1")
    await rig.leave_message(caller)
    await caller.wait_prompt("message_saved")
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert row["case_id"] == case_id and row["menu_choice"] == "followup"
    voicemails = await rig.database.query(
        "select * from recordings where case_id = ? and kind = 'voicemail'", [case_id])
    assert [v["call_id"] for v in voicemails] == [row["id"]]
    case = await rig.database.query_one("select status from cases where id = ?", [case_id])
    assert case == {"status": "in_progress"}      # reopened: the worker said more
    steps = await rig.steps(row["id"])
    assert code not in str(steps)                  # the code never reaches call_steps
    assert ("followup_lookup", "found") in [(s["node"], s["category"]) for s in steps]


@pytest.mark.parametrize("lang", ["en", "th"])
async def test_followup_with_wrong_codes_stops_after_three(rig: Rig, lang: str) -> None:
    caller = await rig.dial()
    await rig.pick_language(caller, lang)
    await rig.menu(caller, "main_menu", "4")
    for wrong in ("11111111", "22222222", "33333333"):
        await rig.menu(caller, "followup_enter_code", wrong)
    await caller.wait_prompt("followup_too_many")
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert row["case_id"] is None
    assert sum("followup_invalid_code" in u for u in caller.heard) == 2
    attempts = await rig.database.query("select success from code_attempts where call_id = ?", [row["id"]])
    assert [a["success"] for a in attempts] == [0, 0, 0]


@pytest.mark.parametrize("lang", ["en", "th"])
async def test_emergency_alerts_staff_and_takes_a_message(rig: Rig, lang: str) -> None:
    caller = await rig.dial()
    await rig.pick_language(caller, lang)
    await rig.menu(caller, "main_menu", "9")
    await caller.wait_prompt("emergency")
    await rig.leave_message(caller)                 # no transfer endpoint: straight to a message
    await caller.wait_prompt("case_code_intro")
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert row["outcome"] == "emergency" and row["menu_choice"] == "emergency"
    case = await rig.database.query_one("select * from cases where id = ?", [row["case_id"]])
    assert case is not None and (case["emergency"], case["priority"]) == (1, 3)
    alert = await rig.database.query_one(
        "select * from audit_log where action = 'alert.emergency' and object_id = ?", [str(case["id"])])
    assert alert is not None and alert["username"] == "(engine)"
    assert await rig.database.query("select id from recordings where case_id = ?", [case["id"]])


async def test_no_input_at_all_ends_politely_as_abandoned(rig: Rig) -> None:
    caller = await rig.dial()
    await caller.wait_prompt("goodbye", slack=20)
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert row["outcome"] == "abandoned" and row["menu_choice"] is None and row["case_id"] is None
    assert sum("main_menu" in u for u in caller.heard) == 3          # asked three times
    assert sum("no_input" in u for u in caller.heard) == 2


async def test_three_invalid_digits_in_a_row(rig: Rig) -> None:
    caller = await rig.dial()
    await rig.pick_language(caller, "en")
    for digit in "785":
        await rig.menu(caller, "main_menu", digit)
    await caller.wait_prompt("goodbye")
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert row["outcome"] == "abandoned"
    assert sum("invalid_input" in u for u in caller.heard) == 3
    steps = await rig.steps(row["id"])
    assert [(s["node"], s["input"], s["category"]) for s in steps if s["node"] == "main_menu"] == [
        ("main_menu", "5", "invalid")]


async def test_star_ends_the_call_at_once(rig: Rig) -> None:
    caller = await rig.dial()
    await rig.pick_language(caller, "th")
    await caller.wait_prompt("main_menu")
    await caller.press("*")
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert row["outcome"] == "quick_exit"
    assert not any("goodbye" in u for u in caller.heard)     # no lingering farewell


async def test_star_while_recording_keeps_the_message(rig: Rig) -> None:
    caller = await rig.dial()
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "2")
    await caller.speak_through_beep(rig.voice)
    await caller.press("*")
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    assert row["outcome"] == "quick_exit"
    recs = await rig.database.query("select state, case_id from recordings where call_id = ?", [row["id"]])
    assert recs == [{"state": "stored", "case_id": row["case_id"]}] and row["case_id"] is not None


async def test_repeat_caller_keeps_their_language(rig: Rig) -> None:
    number = "+66812340099"
    first = await rig.dial(number)
    await rig.pick_language(first, "th")
    await first.wait_prompt("main_menu")
    await first.hangup()
    await rig.ended_call(first)
    again = await rig.dial(number)
    await again.wait_prompt("th/main_menu")
    await again.press("*")
    row = await rig.ended_call(again)
    assert row["repeat_caller"] == 1 and row["language"] == "th"
    assert not any("choose_language" in u for u in again.heard)


async def test_silent_message_is_kept_but_marked_empty(rig: Rig) -> None:
    caller = await rig.dial()
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "2")
    await caller.wait_recording()
    await rig.menu(caller, "review_menu", "1")       # said nothing; silence ended the take
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    recs = await rig.database.query("select * from recordings where call_id = ?", [row["id"]])
    assert [r["state"] for r in recs] == ["empty"]
    assert await asyncio.to_thread((rig.settings.data_dir / recs[0]["path"]).exists)
    assert await rig.database.query("select id from jobs where recording_id = ?", [recs[0]["id"]]) == []


# Where to hang up, and what must be true afterwards: (steps before hanging up, outcome, message kept?)
HANGUPS = {
    "greeting (play)": ([("wait", "greeting")], "abandoned", False),
    "language menu": ([("wait", "choose_language")], "abandoned", False),
    "main menu": ([("lang", "en"), ("wait", "main_menu")], "abandoned", False),
    "category menu": ([("lang", "en"), ("press", "main_menu", "1"), ("wait", "category_menu")], "hangup", False),
    "workplace digits": ([("lang", "en"), ("press", "main_menu", "1"), ("press", "category_menu", "1"),
                          ("wait", "workplace_code"), ("keys", "12")], "hangup", False),
    "recording": ([("lang", "en"), ("press", "main_menu", "2"), ("record", "")], "hangup", True),
    "review menu": ([("lang", "en"), ("press", "main_menu", "2"), ("record", "#"), ("wait", "review_menu")],
                    "hangup", True),
    "code read-back (say digits)": ([("lang", "en"), ("press", "main_menu", "2"), ("record", "#"),
                                     ("press", "review_menu", "1"), ("wait", "digit_")], "hangup", True),
    "emergency": ([("lang", "th"), ("press", "main_menu", "9"), ("wait", "emergency")], "emergency", False),
}


@pytest.mark.parametrize("where", list(HANGUPS))
async def test_hang_up_at_every_kind_of_node(rig: Rig, where: str) -> None:
    script, outcome, kept = HANGUPS[where]
    caller = await rig.dial()
    for step in script:
        if step[0] == "wait":
            await caller.wait_prompt(step[1])
        elif step[0] == "lang":
            await rig.pick_language(caller, step[1])
        elif step[0] == "press":
            await rig.menu(caller, step[1], step[2])
        elif step[0] == "keys":
            await caller.press(step[1])
        elif step[0] == "record":
            speech = await caller.speak_through_beep(rig.voice)
            if step[1]:   # the take ends with that key; else the caller hangs up while still talking
                await caller.press(step[1])
                await caller.stop_speaking(speech)
    await caller.hangup()
    row = await rig.ended_call(caller)
    assert row["outcome"] == outcome
    recs = await rig.database.query("select state, case_id from recordings where call_id = ?", [row["id"]])
    if kept:
        # The message survives the hang-up, filed under a case a caseworker will see.
        assert recs == [{"state": "stored", "case_id": row["case_id"]}] and row["case_id"] is not None
        jobs = await rig.database.query("select j.id from jobs j join recordings r on r.id = j.recording_id"
                                        " where r.call_id = ?", [row["id"]])
        assert len(jobs) == 1
    else:
        assert recs == []
    assert row["ended_at"] is not None and row["duration_s"] >= 0


DEMO_OUTCOMES = {"report": "completed", "message": "completed", "callback": "completed", "followup": "completed",
                 "emergency": "emergency", "quick_exit": "quick_exit", "silent": "abandoned"}


@pytest.mark.parametrize(("branch", "lang"), [(b, "th" if i % 2 else "en") for i, b in enumerate(BRANCHES)])
async def test_demo_call_runs_each_branch(rig: Rig, branch: str, lang: str) -> None:
    result = await demo_call(rig.emulator.url, ARI_USER, ARI_PASSWORD, branch=branch, language=lang,
                             languages=rig.settings.languages, speed=SPEED,
                             number=f"+6690000{BRANCHES.index(branch):04d}", workplace_code=make_code(23456))
    assert result.channel_id is not None and result.heard
    row = await rig.ended_call(result.channel_id)
    assert row["outcome"] == DEMO_OUTCOMES[branch]
    if branch not in ("silent", "quick_exit"):
        assert row["language"] == lang
    if branch == "report":
        case = await rig.database.query_one("select workplace_code from cases where id = ?", [row["case_id"]])
        assert case == {"workplace_code": make_code(23456)}


async def test_log_lines_carry_the_call_id_but_no_number_or_code(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    number = "+66877766655"
    caplog.set_level("INFO")
    caller = await rig.dial(number)
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "1")
    await rig.menu(caller, "category_menu", "3")
    await rig.menu(caller, "workplace_code", make_code(34567) + "#")
    await rig.leave_message(caller)
    await caller.wait_hung_up()
    row = await rig.ended_call(caller)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("ivr.engine")]
    assert any(f"call={row['id']} call ended outcome=completed" in line for line in lines)
    text = "\n".join(lines)
    assert "877766655" not in text and make_code(34567) not in text
