"""kill -9 of the engine while callers speak: nothing they said is lost, and each call goes on where it was.

The engine runs as a process of its own (tests/engine_proc.py) against the emulator, and is killed
with SIGKILL: no clean-up code of the old engine runs, as after a crash. The emulator does what a
real Asterisk does meanwhile (res_stasis only deactivates the app): the channels stay in Stasis, a
live recording goes on recording and still ends on '#' or silence, and events go nowhere.
Each test kills it at another row of the resume table (callflows/README.md); the first hits
several calls at once, each held where it is by a long sound (speech, a prompt, a reply).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
import pytest_asyncio
from conftest import REPO, TEST_SECRET
from engine_rig import ARI_PASSWORD, ARI_USER, build_prompts, write_wav

from ivr.ari.client import AriClient
from ivr.cases import lifecycle
from ivr.db.writer import Database
from ivr.engine import resume, store
from ivr.engine.integrity import recording_problems
from ivr.protection import casecode
from ivr.settings import Settings, load
from ivr.sim.caller import CallerHub, ScriptedCaller
from ivr.sim.server import Emulator

pytestmark = pytest.mark.asyncio(loop_scope="module")

SPEED = 20.0
# A caller's message, in media seconds: at SPEED a 2 s message lasts 100 ms on the wall, which a CPU stall of
# this process on the shared machine (the engine hashing case codes meanwhile) could swallow whole.
VOICE_S = 5.0
PATIENCE_S = 30   # media seconds: 1.5 s on the wall (see patient_flows)
HERE = Path(__file__).resolve().parent


class EngineProcess:
    """``ivr engine`` in a child process that a test can kill -9 and start again."""

    def __init__(self, env: dict[str, str], log_path: Path, emulator: Emulator) -> None:
        self.env, self.log_path, self.emulator = env, log_path, emulator
        self.proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def start(self, *, slow_hash: bool = False) -> None:
        """``slow_hash``: the case code's hash lands only after a minute (see tests/engine_proc.py)."""
        starts = self.log_text().count("engine ready")
        self._log = open(self.log_path, "ab")  # noqa: ASYNC230 - a local file, kept open for the child's lifetime
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "engine_proc.py"), str(SPEED), *(["slow-hash"] if slow_hash else []),
            env=self.env,
            stdout=self._log, stderr=self._log)
        await until(lambda: self.log_text().count("engine ready") > starts and "hotline" in self.emulator.world.apps,
                    "the engine process to connect", check=self._alive)

    def _alive(self) -> None:
        if self.proc is not None and self.proc.returncode is not None:
            raise AssertionError(f"engine process exited {self.proc.returncode}:\n{self.log_text()[-3000:]}")

    async def kill(self) -> None:
        """SIGKILL: no clean-up runs; the emulator sees the socket drop."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()
        if self._log is not None:
            self._log.close()
        await until(lambda: "hotline" not in self.emulator.world.apps, "the emulator to notice the engine is gone")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        if self._log is not None:
            self._log.close()


async def until(predicate: Callable[[], bool], what: str, *, timeout: float = 20.0,  # noqa: ASYNC109
                check: Callable[[], None] | None = None) -> None:
    """Poll state that has no event to wait on (a child's log, the emulator's app table)."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                if check is not None:
                    check()
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@dataclass
class Hotline:
    settings: Settings
    database: Database
    emulator: Emulator
    engine: EngineProcess
    hub: CallerHub
    voice: Path        # VOICE_S
    long_voice: Path   # 170 s: still speaking across a restart
    reply: Path        # a caseworker's reply, 100 s

    async def dial(self, lang: str, number: str) -> ScriptedCaller:
        caller = await self.hub.dial("1000", "hotline-in", caller_id=f"Worker <{number}>")
        await caller.wait_answered()
        await caller.wait_prompt("choose_language")
        await caller.press(str(self.settings.languages.index(lang) + 1))
        return caller

    async def to_the_beep(self, number: str) -> ScriptedCaller:
        """An English caller who chose "leave a message", as their recording starts."""
        caller = await self.dial("en", number)
        await caller.wait_prompt("main_menu")
        await caller.press("2")
        await caller.wait_recording()
        return caller

    async def to_review(self, number: str) -> ScriptedCaller:
        """A caller who left a message and pressed '#': the review menu is playing."""
        caller = await self.to_the_beep(number)
        await caller.speak(self.voice)
        await caller.press("#")
        await caller.wait_prompt("review_menu")
        return caller

    async def call_row(self, caller: ScriptedCaller) -> dict[str, Any]:
        row = await self.database.query_one("select * from calls where channel_id = ?", [caller.hotline_channel_id])
        assert row is not None
        return row

    async def ended(self, caller: ScriptedCaller) -> dict[str, Any]:
        await caller.wait_hung_up(slack=20)
        async with asyncio.timeout(15):
            while True:   # the database has no event to wait on: poll it
                row = await self.call_row(caller)
                if row["ended_at"] is not None:
                    return row
                await asyncio.sleep(0.05)

    async def takes(self, call_id: str) -> list[dict[str, Any]]:
        return await self.database.query(
            "select r.*, (select count(*) from jobs j where j.recording_id = r.id) as jobs from recordings r"
            " where call_id = ? and kind = 'voicemail' order by id", [call_id])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hotline(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hotline]:
    tmp = tmp_path_factory.mktemp("resume")
    (tmp / "sounds").mkdir()
    emulator = Emulator(user=ARI_USER, password=ARI_PASSWORD, sounds_dir=tmp / "sounds", spool_dir=tmp / "spool",
                        speed=SPEED)
    await emulator.start()
    env = {
        "IVR_DATA_DIR": str(tmp / "var"), "IVR_SECRET_KEY": TEST_SECRET, "IVR_PROMPTS_DIR": str(REPO / "prompts"),
        "IVR_FLOWS_DIR": str(patient_flows(tmp / "callflows")), "IVR_MODELS_DIR": str(tmp / "models"),
        "IVR_ARI_URL": emulator.url, "IVR_ARI_USER": ARI_USER, "IVR_ARI_PASSWORD": ARI_PASSWORD,
        "IVR_LANGUAGES": "en,th",
    }
    settings = load(environ=env, mode="engine")
    build_prompts(settings)
    # Long enough in media time to kill the engine while it plays.
    write_wav(settings.data_dir / "prompts" / "th" / "message_saved.wav", 100.0)
    database = Database(settings.db_path)
    hub = CallerHub(emulator.url, ARI_USER, ARI_PASSWORD, speed=SPEED)
    await hub.start()
    engine = EngineProcess({**os.environ, **env}, tmp / "engine.log", emulator)
    await engine.start()
    voices = tmp / "voice"
    line = Hotline(settings, database, emulator, engine, hub,
                   write_wav(voices / "message.wav", VOICE_S, freq=300, amplitude=12000),
                   write_wav(voices / "long.wav", 170.0, freq=250, amplitude=12000),
                   write_wav(settings.data_dir / "replies" / "reply-1.wav", 100.0, freq=500, amplitude=9000))
    try:
        yield line
    finally:
        await engine.stop()
        await hub.stop()
        await emulator.stop()
        database.close()


def patient_flows(into: Path) -> Path:
    """The shipped flows, waiting ``PATIENCE_S`` media seconds where they wait 4 s between a caller's keys
    and 6 s of silence before a message ends.

    At SPEED those are 0.2 and 0.3 s on the wall, and a stall of this process or the engine's that long
    (the 2-core machine running other test workers) would split an 8-digit case code in two, or end a
    message as empty before the scripted caller (who speaks once it sees the recording start) begins. No
    entry or message here ends on a pause: each is cut by its last key or '#', so the longer waits cost
    nothing."""
    into.mkdir(parents=True)
    for source in (REPO / "callflows").iterdir():
        text = source.read_text()
        if source.suffix == ".yaml":
            assert "\ndefaults:\n" in text and "interdigit" not in text and "max_silence: 6," in text, source
            text = text.replace("\ndefaults:\n", f"\ndefaults:\n  interdigit: {PATIENCE_S}\n", 1)
            text = text.replace("max_silence: 6,", f"max_silence: {PATIENCE_S},")
        (into / source.name).write_text(text)
    return into


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_heard(caller: ScriptedCaller) -> str:
    """The 8 digits read after the last 'your reference number is'."""
    heard = caller.heard
    start = max(i for i, uri in enumerate(heard) if "case_code_intro" in uri)
    digits = [uri.rsplit("digit_", 1)[1][0] for uri in heard[start + 1:] if "/digit_" in uri]
    return "".join(digits[:8])


async def reads_code_then_ends(line: Hotline, caller: ScriptedCaller) -> dict[str, Any]:
    await caller.wait_prompt("case_code_intro", slack=20)
    await caller.wait_prompt("case_code_keep", slack=20)
    return await line.ended(caller)


async def until_logged(line: Hotline, text: str) -> None:
    await until(lambda: text in line.engine.log_text(), f"the engine to log {text!r}")


async def test_kill_9_with_calls_in_progress(hotline: Hotline) -> None:
    line = hotline
    killed, back = asyncio.Event(), asyncio.Event()
    ready: list[asyncio.Event] = []
    kill_at: dict[str, float] = {}

    def runner(fn: Callable[[asyncio.Event], Awaitable[Any]]) -> asyncio.Task[Any]:
        ready.append(event := asyncio.Event())
        return asyncio.create_task(fn(event))

    # A call that left its message and ended before the kill: a restart must not touch it.
    async def stored(r: asyncio.Event) -> tuple[dict[str, Any], dict[str, Any], str]:
        caller = await line.to_the_beep("+66810000001")
        await caller.speak(line.voice)
        await caller.press("#")
        await caller.wait_prompt("review_menu")
        await caller.press("1")
        row = await line.ended(caller)
        [take] = await line.takes(row["id"])
        r.set()
        return row, take, sha(line.settings.data_dir / take["path"])

    # Killed mid-message; still speaking when the new engine comes, which follows the live take.
    async def mid_message(r: asyncio.Event) -> tuple[ScriptedCaller, float]:
        caller = await line.to_the_beep("+66810000003")
        playback = await caller.client.play(caller.channel_id, ["sound:" + str(line.long_voice.with_suffix(""))])
        speaking_from = line.emulator.clock.now()
        r.set()
        await killed.wait()
        spoken = kill_at["t"] - speaking_from
        await back.wait()
        call_id = (await line.call_row(caller))["id"]
        await until_logged(line, f"call={call_id} resume: recording ivr-{call_id}-1 still running")
        await caller.client.stop_playback(playback["id"])
        await caller.press("#")
        await caller.wait_prompt("message_saved_resumed", slack=20)
        return caller, spoken

    # Killed after the message was stored, while "message saved" plays (Thai): the code is still read.
    async def after_message(r: asyncio.Event) -> ScriptedCaller:
        caller = await line.dial("th", "+66810000005")
        await caller.wait_prompt("th/main_menu")
        await caller.press("2")
        await caller.wait_recording()
        await caller.speak(line.voice)
        await caller.press("#")
        await caller.wait_prompt("th/review_menu")
        await caller.press("1")
        await caller.wait_prompt("th/message_saved")
        r.set()
        await back.wait()
        await caller.wait_prompt("th/message_saved", slack=20)
        return caller

    # Killed while the caller hears a caseworker's reply (follow-up with a case code).
    code = casecode.new_code()
    reply_path = line.settings.data_dir / "replies" / "reply-1.wav"

    def reply_case(db: Any) -> int:
        case_id = lifecycle.open_case(
            db, call_id=None, caller_ref=None, language="en", category="wages", workplace_code=None,
            workplace_id=None, code_hash=casecode.hash_code(code),
            code_tag=casecode.code_tag(line.settings.key("case-code"), code))
        store.insert_recording(db, call_id=None, case_id=case_id, kind="reply", path="replies/reply-1.wav",
                               duration=100.0, size=reply_path.stat().st_size, sha256=sha(reply_path),
                               state="stored", asterisk_name=None)
        return case_id

    reply_case_id = await line.database.write(reply_case)

    async def hearing_reply(r: asyncio.Event) -> ScriptedCaller:
        caller = await line.dial("en", "+66810000006")
        await caller.wait_prompt("main_menu")
        await caller.press("4")
        await caller.wait_prompt("followup_enter_code")
        await caller.press(code)
        await caller.wait_prompt("reply-1")
        r.set()
        await back.wait()
        await caller.wait_prompt("reply-1", slack=20)   # heard again from the start
        await caller.wait_prompt("followup_add_message")
        await caller.press("2")
        return caller

    tasks = [runner(stored), runner(mid_message), runner(after_message), runner(hearing_reply)]
    all_ready = asyncio.ensure_future(asyncio.gather(*(e.wait() for e in ready)))
    done, _ = await asyncio.wait([all_ready, *tasks], timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if not done:
        raise AssertionError(f"callers not ready: {[i for i, e in enumerate(ready) if not e.is_set()]}")
    for task in tasks:   # a caller that failed before the kill says why
        if task.done() and task.exception() is not None:
            all_ready.cancel()
            raise AssertionError("a caller failed before the kill") from task.exception()
    await all_ready
    kill_at["t"] = line.emulator.clock.now()
    await line.engine.kill()
    killed.set()
    await line.engine.start()
    back.set()
    async with asyncio.timeout(90):
        (f_row, f_take, f_sha), (mid, spoken), after, followup = await asyncio.gather(*tasks)

    # The stored message: untouched by the restart, no second take on its call.
    assert [t["id"] for t in await line.takes(f_row["id"])] == [f_take["id"]]
    assert sha(line.settings.data_dir / f_take["path"]) == f_sha == f_take["sha256"]

    # Mid-message: the whole message is in the case (the take never stopped), then the code is read back.
    row = await reads_code_then_ends(line, mid)
    [take] = await line.takes(row["id"])
    assert take["state"] == "stored" and take["case_id"] == row["case_id"] and take["jobs"] == 1
    assert take["duration_s"] >= spoken - 0.5 and spoken > 1.0   # the kill did fall mid-message
    case = await line.database.query_one("select code_hash from cases where id = ?", [row["case_id"]])
    assert case is not None and casecode.verify_code(code_heard(mid), case["code_hash"])

    # After the message: not recorded again, and the code is still read back (from its sealed copy).
    row = await reads_code_then_ends(line, after)
    [take] = await line.takes(row["id"])
    assert take["state"] == "stored" and take["jobs"] == 1
    case = await line.database.query_one("select code_hash from cases where id = ?", [row["case_id"]])
    assert case is not None and casecode.verify_code(code_heard(after), case["code_hash"])
    assert row["code_sealed"] is None   # wiped once read back twice (and with the call's end)

    # The reply: played again; the code was not asked again.
    row = await line.ended(followup)
    assert row["case_id"] == reply_case_id
    assert sum("reply-1" in uri for uri in followup.heard) == 2
    attempts = await line.database.query("select * from code_attempts where call_id = ?", [row["id"]])
    assert len(attempts) == 1

    # Every stored file still matches its row; no empty re-take anywhere.
    assert recording_problems(line.settings.db_path, line.settings.data_dir) == []
    empty = await line.database.query("select id from recordings where state = 'empty'")
    assert empty == []


async def test_a_follow_up_message_cut_by_a_kill_is_kept(hotline: Hotline) -> None:
    line = hotline
    code = casecode.new_code()
    case_id = await line.database.write(lambda db: lifecycle.open_case(
        db, call_id=None, caller_ref=None, language="en", category="debt", workplace_code=None, workplace_id=None,
        code_hash=casecode.hash_code(code), code_tag=casecode.code_tag(line.settings.key("case-code"), code)))
    caller = await line.dial("en", "+66810000007")
    await caller.wait_prompt("main_menu")
    await caller.press("4")
    await caller.wait_prompt("followup_enter_code")
    await caller.press(code)
    await caller.wait_prompt("followup_add_message")
    await caller.press("1")
    await caller.wait_recording()
    await line.engine.kill()
    await caller.speak(line.voice)
    await caller.press("#")
    await caller.wait_recording_finished()
    await line.engine.start()
    await caller.wait_prompt("message_saved_resumed", slack=20)
    await caller.wait_prompt("message_saved")
    row = await line.ended(caller)
    [take] = await line.takes(row["id"])
    assert (take["state"], take["case_id"], take["jobs"]) == ("stored", case_id, 1)
    assert take["duration_s"] >= VOICE_S - 0.5
    assert recording_problems(line.settings.db_path, line.settings.data_dir) == []


async def test_kill_9_during_the_beep(hotline: Hotline) -> None:
    line = hotline
    caller = await line.to_the_beep("+66810000008")
    speaking = asyncio.create_task(caller.speak(line.voice))   # over the beep, as callers do
    await line.engine.kill()
    await speaking
    await caller.press("#")
    await caller.wait_recording_finished()
    await line.engine.start()
    await caller.wait_prompt("message_saved_resumed", slack=20)
    row = await reads_code_then_ends(line, caller)
    [take] = await line.takes(row["id"])
    assert (take["state"], take["case_id"], take["jobs"]) == ("stored", row["case_id"], 1)
    assert take["duration_s"] >= VOICE_S - 0.25 - 0.5   # all but what was said over the 0.25 s beep
    case = await line.database.query_one("select code_hash from cases where id = ?", [row["case_id"]])
    assert case is not None and casecode.verify_code(code_heard(caller), case["code_hash"])


async def test_kill_9_during_review_keeps_the_take_and_a_second_take_never_touches_it(hotline: Hotline) -> None:
    line = hotline
    caller = await line.to_review("+66810000009")
    await line.engine.kill()
    row = await line.call_row(caller)
    [first] = await line.takes(row["id"])
    first_sha = sha(line.settings.data_dir / first["path"])
    await line.engine.start()
    await caller.wait_prompt("message_saved_resumed", slack=20)
    await caller.press("1")                     # add more: a second take
    await caller.wait_recording()
    await caller.speak(line.voice)
    await caller.press("#")
    await caller.wait_prompt("review_menu")
    await caller.press("1")
    row = await reads_code_then_ends(line, caller)
    takes = await line.takes(row["id"])
    assert [(t["state"], t["jobs"], t["case_id"]) for t in takes] == [("stored", 1, row["case_id"])] * 2
    assert [t["asterisk_name"] for t in takes] == [f"ivr-{row['id']}-1", f"ivr-{row['id']}-2"]
    assert sha(line.settings.data_dir / takes[0]["path"]) == first_sha == takes[0]["sha256"]
    assert recording_problems(line.settings.db_path, line.settings.data_dir) == []


async def on_asterisk(line: Hotline) -> set[str]:
    """The names in Asterisk's recording spool, as any ARI client sees them."""
    client = AriClient(line.emulator.url, ARI_USER, ARI_PASSWORD)
    try:
        return {str(r["name"]) for r in await client.list_stored_recordings()}
    finally:
        await client.close()


async def closed_with_takes(line: Hotline, call_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    async with asyncio.timeout(20):
        while True:   # the next engine finishes the call on its own: poll the database
            row = await line.database.query_one("select * from calls where id = ?", [call_id])
            assert row is not None
            if row["ended_at"] is not None:
                return row, await line.takes(call_id)
            await asyncio.sleep(0.05)


async def test_a_caller_who_hangs_up_while_no_engine_runs_still_leaves_the_message(hotline: Hotline) -> None:
    """Killed mid-message, and the caller hangs up before the next engine is there: no channel comes back
    to resume, yet the take Asterisk kept is filed in the case and Asterisk's copy goes."""
    line = hotline
    caller = await line.to_the_beep("+66810000010")
    call_id = (await line.call_row(caller))["id"]
    await line.engine.kill()
    await caller.speak(line.voice)
    await caller.hangup()
    await caller.wait_recording_finished()
    assert f"ivr-{call_id}-1" in await on_asterisk(line)   # only Asterisk holds the message now
    await line.engine.start()
    row, takes = await closed_with_takes(line, call_id)
    assert row["outcome"] == "hangup" and row["code_sealed"] is None
    assert [(t["state"], t["jobs"], t["case_id"]) for t in takes] == [("stored", 1, row["case_id"])]
    assert row["case_id"] is not None and takes[0]["duration_s"] >= VOICE_S - 0.5
    assert f"ivr-{call_id}-1" not in await on_asterisk(line)   # deleted once filed
    assert recording_problems(line.settings.db_path, line.settings.data_dir) == []


async def test_a_caller_who_hangs_up_during_review_while_no_engine_runs_keeps_the_take(hotline: Hotline) -> None:
    line = hotline
    caller = await line.to_review("+66810000011")
    await line.engine.kill()
    call_id = (await line.call_row(caller))["id"]
    [before] = await line.takes(call_id)
    assert before["jobs"] == 0 and before["released_at"] is None   # under review: not yet final
    await caller.hangup()
    await line.engine.start()
    row, takes = await closed_with_takes(line, call_id)
    assert [(t["id"], t["state"], t["jobs"], t["case_id"]) for t in takes] == [
        (before["id"], "stored", 1, row["case_id"])]
    assert takes[0]["released_at"] is not None and takes[0]["sha256"] == before["sha256"]


async def open_case_without_hash(line: Hotline, number: str) -> tuple[ScriptedCaller, dict[str, Any]]:
    """A caller chooses 'leave a message' on an engine whose hashing threads are held up: they hear the
    recording instructions while their case is open and its code's hash not yet stored."""
    await line.engine.stop()
    await line.engine.start(slow_hash=True)
    caller = await line.dial("en", number)
    await caller.wait_prompt("main_menu")
    await caller.press("2")
    await caller.wait_prompt("record_instructions")
    row = await line.call_row(caller)
    case = await line.database.query_one("select * from cases where id = ?", [row["case_id"]])
    assert case is not None and case["code_hash"] is None and case["code_tag"] is not None
    assert row["code_sealed"] is not None
    return caller, row


async def test_kill_9_before_the_code_hash_is_stored_leaves_a_code_that_works(hotline: Hotline) -> None:
    """Killed between the case being opened and its code's hash being stored; the caller stays on the line.
    The next engine hashes the sealed code, and the code the caller then hears finds their case."""
    line = hotline
    caller, row = await open_case_without_hash(line, "+66810000020")
    await line.engine.kill()
    await line.engine.start()
    await caller.wait_recording(slack=20)    # resumed: the instructions again, then the beep
    await caller.speak(line.voice)
    await caller.press("#")
    await caller.wait_prompt("review_menu")
    await caller.press("1")
    ended = await reads_code_then_ends(line, caller)
    heard = code_heard(caller)
    assert ended["case_id"] == row["case_id"] and ended["code_sealed"] is None
    case = await line.database.query_one("select code_hash from cases where id = ?", [row["case_id"]])
    assert case is not None and casecode.verify_code(heard, case["code_hash"])
    found = await line.database.read(lambda db: casecode.find_case(db, line.settings.key("case-code"), heard))
    assert found == row["case_id"]


async def test_kill_9_before_the_code_hash_is_stored_and_the_caller_hangs_up(hotline: Hotline) -> None:
    """The same kill, and the caller hangs up before the next engine comes: the orphan sweep hashes the
    sealed code before it closes the call (which wipes it), so the case's code still works."""
    line = hotline
    caller, row = await open_case_without_hash(line, "+66810000021")
    await line.engine.kill()
    code = resume.open_code(line.settings, row["code_sealed"])   # what the caller would have been read
    assert code is not None
    await caller.hangup()
    await line.engine.start()
    ended, _ = await closed_with_takes(line, row["id"])
    assert ended["outcome"] == "hangup" and ended["code_sealed"] is None
    case = await line.database.query_one("select code_hash from cases where id = ?", [row["case_id"]])
    assert case is not None and casecode.verify_code(code, case["code_hash"])
