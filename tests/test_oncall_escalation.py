"""Emergencies ring the on-call rota over ARI (against the emulator): press 1 takes the case and
bridges the caller; no answer rings the next person; a restarted engine never rings a step twice;
a case taken in the web UI stops the ringing."""

from __future__ import annotations

import array
import asyncio
import contextlib
import io
import itertools
import json
import wave
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from engine_rig import ARI_PASSWORD, ARI_USER, Rig, running_rig

from ivr.ari.client import AriClient
from ivr.ari.errors import AriError
from ivr.ari.events import parse_event
from ivr.asr.flagging import Flagger
from ivr.cases import lifecycle
from ivr.db import utcnow
from ivr.engine.service import Engine
from ivr.oncall import rota, store

pytestmark = pytest.mark.asyncio(loop_scope="module")

FLAGS = {"oncall_ring_seconds": "20", "oncall_ack_seconds": "30", "oncall_hold_seconds": "200",
         "oncall_round_pause_seconds": "0"}


class StaffPhones:
    """A Stasis app standing in for staff phones (``Local/<name>@oncall-phones``).

    A phone whose name is in ``answering`` picks up, records what it hears, and presses 1 once
    the engine is talking on the line (``press``); the others ring until the engine gives up.
    """

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.client = AriClient(rig.emulator.url, ARI_USER, ARI_PASSWORD)
        self.answering: set[str] = set()
        self.press = True
        self.rings: list[str] = []
        self.answered: dict[str, str] = {}      # name -> our channel id
        self.heard: dict[str, int] = {}         # name -> loudest sample the phone heard
        self._names = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ws = await self.client.connect_events("staffphones")
        self._reader = asyncio.create_task(self._read(ws))

    async def _read(self, ws: Any) -> None:
        async for msg in ws:
            event = parse_event(json.loads(msg.data))
            if event.type == "StasisStart" and event.channel_id:
                name = str(event.raw["channel"]["name"]).split("/")[1].split("@")[0]
                self.rings.append(name)
                task = asyncio.create_task(self._phone(name, event.channel_id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif event.type == "RecordingFinished":
                name = str(event.raw["recording"]["name"])
                wav = await self.client.download_stored_recording(name)
                with wave.open(io.BytesIO(wav)) as w:
                    samples = array.array("h", w.readframes(w.getnframes()))
                self.heard[name.split("-")[1]] = max((abs(x) for x in samples), default=0)

    def engine_leg(self) -> str | None:
        return next((c for c in self.rig.engine.app.calls if c.startswith("oncall-")), None)

    async def _phone(self, name: str, channel_id: str) -> None:
        if name not in self.answering:
            return
        with contextlib.suppress(AriError):
            await self.client.answer(channel_id)
            self.answered[name] = channel_id
            await self.client.record(channel_id, f"staff-{name}-{next(self._names)}", max_duration=60)
            await until(lambda: self.engine_leg() is not None)
            if self.press:
                await self.client.send_dtmf(channel_id, "1")

    async def stop_listening(self, name: str) -> None:
        with contextlib.suppress(AriError):
            await self.client.stop_recording(next(r for r in self.rig.emulator.world.recordings if name in r))

    async def hang_up(self, name: str) -> None:
        with contextlib.suppress(AriError):
            await self.client.hangup(self.answered[name])

    def reset(self, *answering: str, press: bool = True) -> None:
        self.answering, self.press = set(answering), press
        self.rings.clear()
        self.answered.clear()
        self.heard.clear()

    async def stop(self) -> None:
        for task in [self._reader, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.client.close()


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def until_db(rig: Rig, sql: str, params: list[Any], timeout: float = 15.0) -> dict[str, Any]:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while (row := await rig.database.query_one(sql, params)) is None:  # noqa: ASYNC110 - polling the DB
            await asyncio.sleep(0.05)
    return row


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    tmp = tmp_path_factory.mktemp("oncall")
    async with running_rig(tmp, routes={"oncall-phones": "staffphones"}, flags=FLAGS) as r:
        for name, langs in (("alice", "th"), ("bob", "")):
            staff = rota.parse(name, f"Local/{name}@oncall-phones", langs)
            await r.database.write(lambda db, s=staff: rota.add(db, s, actor="test"))
        r.engine.escalations.staff_count = 2  # type: ignore[union-attr]  # the rota was filled after start
        yield r


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def phones(rig: Rig) -> AsyncIterator[StaffPhones]:
    p = StaffPhones(rig)
    await p.start()
    yield p
    await p.stop()


async def emergency_call(rig: Rig, lang: str = "en") -> Any:
    caller = await rig.dial()
    await rig.pick_language(caller, lang)
    await rig.menu(caller, "main_menu", "9")
    await caller.wait_prompt("emergency")
    return caller


async def escalation_of(rig: Rig, caller: Any) -> dict[str, Any]:
    call = await until_db(rig, "select case_id from calls where channel_id = ? and case_id is not null",
                          [caller.hotline_channel_id])
    return await until_db(rig, "select * from escalations where case_id = ?", [call["case_id"]])


def bridged(rig: Rig, *channel_ids: str) -> bool:
    return any(set(channel_ids) <= {c.id for c in b.channels} for b in rig.emulator.world.bridges.values())


async def test_press_1_takes_the_case_and_bridges_the_caller(rig: Rig, phones: StaffPhones) -> None:
    phones.reset("alice")
    caller = await emergency_call(rig, "th")
    await caller.wait_prompt("transfer_connecting")
    esc = await escalation_of(rig, caller)
    done = await until_db(rig, "select * from escalations where id = ? and state = 'acknowledged'", [esc["id"]])
    assert done["acknowledged_by"] == "alice" and done["acknowledged_via"] == "phone"
    await until(lambda: bridged(rig, str(caller.hotline_channel_id), f"oncall-{esc['id']}-1"))
    await phones.stop_listening("alice")
    await until(lambda: "alice" in phones.heard)
    assert phones.heard["alice"] > 1000                    # the staff phone heard the engine speak
    case = await rig.database.query_one("select status, acknowledged_at from cases where id = ?", [esc["case_id"]])
    assert case is not None and case["status"] == "acknowledged" and case["acknowledged_at"]
    audit_rows = await rig.database.query(
        "select username, detail from audit_log where action = 'oncall.acknowledged' and object_id = ?",
        [str(esc["case_id"])])
    assert [r["username"] for r in audit_rows] == ["alice"]
    steps = await rig.database.query("select seq, staff_name, state from escalation_steps where escalation_id = ?",
                                     [esc["id"]])
    assert [(s["seq"], s["staff_name"], s["state"]) for s in steps] == [(1, "alice", "acknowledged")]
    assert phones.rings == ["alice"]                       # Thai caller: the Thai speaker first, nobody else
    await phones.hang_up("alice")                          # the conversation ends
    await caller.wait_hung_up(slack=20)
    assert (await rig.ended_call(caller))["outcome"] == "emergency"


async def test_no_answer_rings_the_next_person(rig: Rig, phones: StaffPhones) -> None:
    phones.reset("bob")
    caller = await emergency_call(rig, "th")
    esc = await escalation_of(rig, caller)
    done = await until_db(rig, "select * from escalations where id = ? and state = 'acknowledged'", [esc["id"]],
                          timeout=30)
    assert done["acknowledged_by"] == "bob"
    steps = await rig.database.query("select staff_name, state from escalation_steps where escalation_id = ?"
                                     " order by seq", [esc["id"]])
    assert [(s["staff_name"], s["state"]) for s in steps] == [("alice", "no_answer"), ("bob", "acknowledged")]
    assert phones.rings == ["alice", "bob"]
    await until(lambda: bridged(rig, str(caller.hotline_channel_id), f"oncall-{esc['id']}-2"))
    await caller.hangup()
    await rig.ended_call(caller)
    # The caller went first: the staff leg is not left alone on the line.
    await until(lambda: not any(c.startswith("oncall-") for c in rig.emulator.world.channels))


async def test_a_restarted_engine_never_rings_the_same_step_twice(rig: Rig, phones: StaffPhones) -> None:
    phones.reset("bob")
    caller = await emergency_call(rig, "th")
    await until(lambda: phones.rings == ["alice"])          # step 1 rings alice...
    # A stop or start that hangs fails here, naming the step, not at pytest's 300 s with the module's
    # engine left half-stopped for the tests after it (seen once in CI, not reproduced since).
    async with asyncio.timeout(30):
        await rig.engine.stop()                             # ...and the engine goes away mid-ring
    replacement = Engine(rig.settings, rig.database, prompts=rig.engine.prompts, time_scale=rig.engine.time_scale)
    rig.engine = replacement
    async with asyncio.timeout(30):
        await replacement.start()
    await replacement.app.wait_connected()
    esc = await escalation_of(rig, caller)
    done = await until_db(rig, "select * from escalations where id = ? and state = 'acknowledged'", [esc["id"]],
                          timeout=30)
    assert done["acknowledged_by"] == "bob"
    steps = await rig.database.query("select seq, staff_name, state from escalation_steps where escalation_id = ?"
                                     " order by seq", [esc["id"]])
    assert [(s["seq"], s["staff_name"], s["state"]) for s in steps] == [
        (1, "alice", "interrupted"), (2, "bob", "acknowledged")]
    assert phones.rings == ["alice", "bob"]                 # alice was not rung again for step 1
    await caller.hangup()
    await rig.ended_call(caller)


async def test_taken_in_the_web_ui_stops_the_ringing(rig: Rig, phones: StaffPhones) -> None:
    phones.reset()                                          # nobody answers
    caller = await emergency_call(rig, "en")
    esc = await escalation_of(rig, caller)
    await until(lambda: len(phones.rings) == 1)
    taken = await rig.database.write(lambda db: store.acknowledge_case(db, esc["case_id"], by="mai", user_id=None))
    assert taken
    await until(lambda: not any(c.startswith("oncall-") for c in rig.emulator.world.channels))
    row = await rig.database.query_one("select * from escalations where id = ?", [esc["id"]])
    assert row is not None and row["acknowledged_via"] == "web" and row["acknowledged_by"] == "mai"
    steps = await rig.database.query("select state from escalation_steps where escalation_id = ?", [esc["id"]])
    assert [s["state"] for s in steps] == ["stopped"]
    assert len(phones.rings) == 1
    await caller.hangup()
    await rig.ended_call(caller)


async def test_an_emergency_found_later_in_the_transcript_rings_the_rota(rig: Rig, phones: StaffPhones) -> None:
    """The transcription worker (another process) finds danger words: the engine's next look rings someone."""
    phones.reset("alice")
    flagger = Flagger()
    text = "they locked us in the room and I am in danger"
    assert flagger.emergency("en", text) and not flagger.emergency("en", "my boss keeps my passport")

    def seed(db: Any) -> int:
        case_id = int(db.execute("insert into cases (language, created_at, updated_at) values ('th', ?, ?)",
                                 [utcnow(), utcnow()]).lastrowid or 0)
        lifecycle.emergency_from_words(db, case_id)
        return case_id

    case_id = await rig.database.write(seed)
    done = await until_db(rig, "select * from escalations where case_id = ? and state = 'acknowledged'", [case_id],
                          timeout=20)
    assert done["acknowledged_by"] == "alice" and phones.rings == ["alice"]
    # By type as well as id: a staff member's rows (oncall.add) share the number space of object ids.
    audit_rows = await rig.database.query(
        "select action from audit_log where object_type = 'case' and object_id = ? order by id", [str(case_id)])
    assert [r["action"] for r in audit_rows] == ["alert.keywords", "oncall.escalation", "oncall.acknowledged"]
