"""The hotline on a real Asterisk 22, called over SIP/RTP from a second Asterisk playing the carrier.

Each test is what a worker (or the IT person) would check. The caller only acts on what it hears;
the database is read afterwards, to check what was kept.
"""

from __future__ import annotations

import asyncio
import math
import re
import struct
import subprocess
import time
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asterisk_rig import (
    FRAME,
    Caller,
    Pair,
    app_connected,
    db,
    ended_call,
    leave_a_message,
    make_speech,
    now_text,
    rms,
    running_pair,
    speak_and_keep,
    tone_level,
    wav_stats,
    write_tone,
)

from ivr.admin.keys import User
from ivr.admin.replies import save_reply
from ivr.admin.users import add_user
from ivr.db.writer import Database
from ivr.settings import load
from ivr.supply.codes import make_code

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="module")]

LANGUAGES = ("en", "th")
# Modules whose errors mean the hotline's configuration is wrong.
CONFIG_ERROR = re.compile(r"ERROR\[\d+\][^:]*: (res_pjsip\w*|chan_pjsip|res_ari\w*|ari/\w+|res_stasis\w*|app_stasis|"
                          r"stasis\w*|pbx_config|pbx|config|loader|res_http_websocket|http)\.c:")


def office_hours_timezone(now: datetime | None = None) -> str | None:
    """A time zone in which it is now office hours for the default flow's '0' (Mon-Sat 08-20), if any."""
    now = now or datetime.now(UTC)
    for hours in range(-12, 15):
        local = now + timedelta(hours=hours)
        if local.weekday() < 6 and 9 <= local.hour < 19:
            return f"Etc/GMT{-hours:+d}" if hours else "UTC"
    return None


OFFICE_TZ = office_hours_timezone()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pair(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pair]:
    flags = {"IVR_TIMEZONE": OFFICE_TZ} if OFFICE_TZ else {}
    async with running_pair(tmp_path_factory.mktemp("real-asterisk"), languages=",".join(LANGUAGES),
                            flags=flags) as p:
        yield p


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_speech(tmp_path_factory.mktemp("voice") / "message.wav",
                       "My employer took my passport and has not paid me for three months.")


def no_number_anywhere(pair: Pair, number: str) -> list[str]:
    """Files of the hotline side (data dir, engine log, Asterisk's logs, spool, db) that hold the number."""
    needles = {number, number.lstrip("+"), "0" + number[3:]}
    # Searched by grep, in a process of its own: this process reading the live database's files itself would
    # drop the locks of its SQLite connections (POSIX locks are per process; see asterisk_rig.db).
    done = subprocess.run(
        ["grep", "--recursive", "--files-with-matches", "--text", "--fixed-strings",
         *(f"--regexp={n}" for n in sorted(needles)), "--",
         str(pair.data_dir), str(pair.root / "hotline"), str(pair.engine.log)],
        capture_output=True, text=True, check=False)
    assert done.returncode in (0, 1), done.stderr
    return sorted(done.stdout.splitlines())


async def report(caller: Caller, lang_index: int, category_key: str, workplace: str, speech: Path) -> None:
    """A worker reports a problem: language, 1 report, a category, a workplace code, a message, keep it."""
    await caller.wait_quiet()                      # greeting and the language menu
    await caller.press(str(lang_index))
    await caller.wait_quiet()                      # the main menu
    await caller.press("1")
    await caller.wait_sound()                      # the category menu: a worker who knows it barges in
    await caller.press(category_key)
    await caller.wait_quiet()                      # the workplace code question
    await caller.press(workplace + "#")
    await caller.wait_quiet()                      # how to leave a message, then the beep
    await caller.say(speech)
    await caller.press("#")
    await caller.wait_quiet()                      # the review menu
    await caller.press("1")
    await caller.wait_quiet(quiet=2.0, timeout=90)  # message saved, the case code twice, "press 1 to hear it again"
    await caller.hangup()


async def test_the_rendered_configuration_loads_without_errors(pair: Pair) -> None:
    errors = [line for line in pair.hotline.log.read_text().splitlines() if CONFIG_ERROR.search(line)]
    assert errors == []
    modules = pair.hotline.cli("module show like pjsip") + pair.hotline.cli("module show like ari")
    for module in ("chan_pjsip.so", "res_pjsip.so", "res_ari.so", "res_ari_channels.so"):
        assert module in modules
    endpoints = pair.hotline.cli("pjsip show endpoints")
    assert "tollfree" in endpoints and "caseworker1" in endpoints
    for context in ("from-trunk", "hotline-in", "hotline-fallback", "hotline-queue", "hotline-staff"):
        assert "There is no existence" not in pair.hotline.cli(f"dialplan show {context}"), context


async def test_a_report_in_two_languages_keeps_the_case_and_the_voice(pair: Pair, speech: Path) -> None:
    since = now_text(pair)
    callers = [await pair.call() for _ in LANGUAGES]
    codes = [make_code(4242), make_code(777)]
    await asyncio.gather(*(report(c, i + 1, "2", codes[i], speech) for i, c in enumerate(callers)))
    rows = await ended_call(pair, since)
    assert len(rows) == 2
    speech_s, _ = wav_stats(speech)
    with db(pair) as conn:
        cases = [dict(r) for r in conn.execute(
            "select * from cases where source_call_id in (?, ?) order by language", [r["id"] for r in rows])]
        assert [(c["language"], c["category"]) for c in cases] == [("en", "documents"), ("th", "documents")]
        assert sorted(c["workplace_code"] for c in cases) == sorted(codes)
        for case in cases:
            recs = conn.execute("select * from recordings where case_id = ? and kind = 'voicemail'",
                                [case["id"]]).fetchall()
            assert [r["state"] for r in recs] == ["stored"]
            seconds, loudest = wav_stats(pair.data_dir / recs[0]["path"])
            # The caller's words, not silence: at least as long as what was said, and a voice's level.
            assert seconds >= speech_s - 0.5, (seconds, speech_s)
            assert loudest > 1000, loudest
            jobs = conn.execute("select state, language from jobs where recording_id = ?", [recs[0]["id"]]).fetchall()
            assert [(j["state"], j["language"]) for j in jobs] == [("queued", case["language"])]
    for caller in callers:
        assert no_number_anywhere(pair, caller.number) == []


def digit_templates(pair: Pair, lang: str) -> dict[str, tuple[int, list[int]]]:
    """What each digit sounds like in ``lang`` (a person knows their digits): its first loud 20 ms frame."""
    out = {}
    for d in "0123456789":
        with wave.open(str(pair.data_dir / "prompts" / lang / f"digit_{d}.wav")) as w:
            data = w.readframes(w.getnframes())
        samples = list(struct.unpack(f"<{len(data) // 2}h", data))
        frames = [samples[i:i + FRAME] for i in range(0, len(samples) - FRAME + 1, FRAME)]
        index = next(i for i, f in enumerate(frames) if rms(f) > 800)
        out[d] = (index, frames[index])
    return out


def heard_digits(caller: Caller, since: float, templates: dict[str, tuple[int, list[int]]]) -> str:
    """The digits the caller heard read out since ``since``: each digit prompt starts a fresh run of
    20 ms frames, so its first loud frame arrives whole and is recognised by correlation."""
    def similar(a: list[int], b: list[int]) -> float:
        num = sum(x * y for x, y in zip(a, b, strict=True))
        den = math.sqrt(sum(x * x for x in a) * sum(y * y for y in b)) or 1.0
        return num / den

    out = ""
    for at, _, frame in caller.ear.frames:
        if at < since or len(frame) != FRAME:
            continue
        best = max(templates, key=lambda d: similar(frame, templates[d][1]))
        if similar(frame, templates[best][1]) > 0.97:
            out += best
    return out


async def test_a_follow_up_with_the_case_code_hears_the_caseworker_reply(pair: Pair, speech: Path,
                                                                         tmp_path: Path) -> None:
    templates = digit_templates(pair, "en")
    caller = await pair.call()
    await caller.choose("1")                          # English
    await caller.choose("2")                          # leave a message
    await caller.wait_quiet()
    await caller.say(speech)
    await caller.press("#")
    await caller.wait_quiet()
    kept = await caller.press("1")
    await caller.wait_quiet(quiet=2.0, timeout=90)    # "your case code is ...", twice
    await caller.hangup()
    digits = heard_digits(caller, kept, templates)
    assert len(digits) == 16 and digits[:8] == digits[8:], digits
    code = digits[:8]

    # A caseworker records a reply for the case (in the web UI; here through the same function).
    with db(pair) as conn:
        case_id = conn.execute("select id from cases order by id desc limit 1").fetchone()[0]
    settings = load(environ=pair.env)
    database = Database(settings.db_path)
    try:
        user_id = await database.write(lambda d: add_user(d, "mai", "x", "caseworker"))
        reply = write_tone(tmp_path / "reply.wav", 3.0, 1000.0).read_bytes()
        await save_reply(settings, database, User(user_id, "mai", "caseworker", ()), case_id, "reply.wav", reply)
    finally:
        database.close()

    # The worker calls back from another phone, keys the code and hears the reply.
    # The second time ending the code with '#', as many phone systems teach: the '#' ends the entry and
    # cuts neither the intro nor the reply.
    for keys in (code, code + "#"):
        caller = await pair.call()
        await caller.choose("1")
        await caller.choose("4")                      # follow up
        await caller.wait_quiet()                     # "enter your case code"
        entered = await caller.press(keys)            # as the prompt asks: the eight digits
        await caller.wait_quiet(quiet=2.0, timeout=60)   # the intro, the reply, "press 1 to add a message"
        await caller.hangup()
        heard = caller.ear.heard_since(entered)
        tone_frames = sum(1 for i in range(0, len(heard) - FRAME, FRAME)
                          if rms(heard[i:i + FRAME]) > 1000 and tone_level(heard[i:i + FRAME], 1000.0) > 1.2)
        assert tone_frames * FRAME / 8000 > 2.0, f"the caller who keyed {len(keys)} keys did not hear the reply"


async def test_star_ends_the_call_at_once_from_every_menu(pair: Pair, speech: Path) -> None:
    async def quick_exit(steps: list[str]) -> tuple[float, str]:
        caller = await pair.call()
        for keys in steps:
            await caller.wait_quiet()          # the menu was read out; the hotline waits for a key
            if keys == "say":
                await caller.say(speech)       # after the beep: speak, then end the message with '#'
                keys = "#"
            await caller.press(keys)
        await caller.wait_quiet()
        pressed = await caller.press("*")
        await caller.wait_hung_up(15)
        heard = caller.ear.loud_seconds_since(pressed)
        await caller.close()
        return heard, caller.number

    since = now_text(pair)
    menus = {
        "language menu": [],
        "main menu": ["1"],
        "category menu": ["1", "1"],
        "workplace code": ["1", "1", "3"],
        "review menu": ["1", "2", "say"],
    }
    results = await asyncio.gather(*(quick_exit(steps) for steps in menus.values()))
    rows = await ended_call(pair, since)
    assert [r["outcome"] for r in rows] == ["quick_exit"] * len(menus)
    for name, (heard, _) in zip(menus, results, strict=True):
        # Nothing more is said after '*': no goodbye (what was already on its way is a few frames).
        assert heard < 1.0, (name, heard)


def voicemails(pair: Pair, call_ids: list[str]) -> list[dict[str, Any]]:
    with db(pair) as conn:
        marks = ",".join("?" * len(call_ids))
        return [dict(r) for r in conn.execute(
            f"select r.*, c.language as case_language from recordings r join cases c on c.id = r.case_id "
            f"where r.call_id in ({marks}) and r.kind = 'voicemail'", call_ids)]


async def test_live_transfer_in_office_hours_and_voicemail_when_nobody_answers(pair: Pair, speech: Path,
                                                                             tmp_path: Path) -> None:
    assert pair.phones is not None
    key = "0" if OFFICE_TZ else "9"     # '0' needs office hours; in none (a Sunday everywhere) '9' transfers too
    since = now_text(pair)
    # Nobody picks up: the caller is offered voicemail and leaves a message.
    pair.phones.answer["caseworker1"] = False
    caller = await pair.call()
    await caller.choose("1")
    await caller.choose(key)
    await caller.wait_quiet()                          # "connecting you"; then it rings, in silence
    await caller.wait_sound(timeout=60)                # "nobody is free", how to leave a message, the beep
    await caller.wait_quiet()
    await speak_and_keep(caller, speech)
    first = await ended_call(pair, since)
    assert "caseworker1" in pair.phones.rang
    assert [r["state"] for r in voicemails(pair, [first[0]["id"]])] == ["stored"]

    # The caseworker answers: caller and caseworker hear each other.
    since = now_text(pair)
    pair.phones.answer["caseworker1"] = True
    tone = write_tone(tmp_path / "caseworker.wav", 3.0, 1000.0)
    caller = await pair.call()
    await caller.choose("1")
    await caller.choose(key)
    phone, channel = await asyncio.wait_for(pair.phones.calls.get(), 60)
    assert phone == "caseworker1"
    await pair.phones.play(channel, tone)              # the caseworker speaks
    await caller.wait_sound(timeout=20)
    heard = await caller.listen(2.0)
    assert tone_level(heard, 1000.0) > 1.0, "the caller did not hear the caseworker"
    await pair.phones.hangup(channel)                  # the caseworker ends the conversation
    await caller.wait_hung_up(20)
    await caller.close()
    rows = await ended_call(pair, since)
    with db(pair) as conn:
        steps = [(r["node"], r["category"]) for r in conn.execute(
            "select node, category from call_steps where call_id = ?", [rows[0]["id"]])]
    node = "operator_transfer" if OFFICE_TZ else "emergency_transfer"
    assert (node, "answered") in steps


async def test_with_the_engine_down_the_dialplan_takes_the_message(pair: Pair, speech: Path) -> None:
    pair.engine.stop()
    try:
        caller = await pair.call()
        await caller.wait_quiet()                      # the apology, then the beep
        await caller.say(speech)
        await caller.hangup()
        # The operator starts the engine again once the dialplan has filed the message.
        folder = pair.data_dir / "fallback"
        deadline = time.monotonic() + 30
        while not list(folder.glob("*.wav")):
            assert time.monotonic() < deadline, "the dialplan kept no message"
            await asyncio.sleep(0.1)
    finally:
        await pair.start_engine()
    deadline = time.monotonic() + 30
    while True:
        with db(pair) as conn:
            rows = [dict(r) for r in conn.execute(
                "select r.path, r.state, c.language, c.id as case_id from recordings r join cases c on c.id = r.case_id"
                " where r.kind = 'fallback'")]
        if rows or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    left = sorted(p.name for p in (pair.data_dir / "fallback").iterdir())
    assert [(r["state"], r["language"]) for r in rows] == [("stored", LANGUAGES[0])], \
        f"fallback folder: {left}\n{pair.debug()}"
    seconds, loudest = wav_stats(pair.data_dir / rows[0]["path"])
    assert seconds >= wav_stats(speech)[0] - 0.5 and loudest > 1000
    assert not list((pair.data_dir / "fallback").glob("*.wav"))
    assert no_number_anywhere(pair, caller.number) == []


async def test_asterisk_restarted_mid_call(pair: Pair, speech: Path) -> None:
    since = now_text(pair)
    caller = await pair.call()
    await caller.wait_quiet()                          # in the language menu
    pair.hotline.kill()
    await caller.hangup()                              # the line went dead; the caller gives up
    pair.hotline.start()
    up = await pair.hotline.wait_ready()
    connected = await app_connected(pair.hotline.url, pair.env["IVR_ARI_APP"], timeout=60)
    print(f"\nengine reconnected {connected - up:.2f} s after Asterisk answered again")
    rows = await ended_call(pair, since)
    assert len(rows) == 1 and rows[0]["outcome"], rows
    # The next call works, all the way to a kept message.
    since = now_text(pair)
    caller = await pair.call()
    await leave_a_message(caller, speech)
    rows = await ended_call(pair, since)
    assert [r["state"] for r in voicemails(pair, [rows[0]["id"]])] == ["stored"]
