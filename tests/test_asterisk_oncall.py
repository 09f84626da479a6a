"""Emergencies on a real Asterisk 22: the hotline rings carrier-side "staff phones" over SIP.

The caller and the staff phones act only on what they hear; the database is read afterwards.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asterisk_rig import PHONES_APP, Caller, Pair, db, running_pair, write_tone

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="module")]

STAFF = ("staff1", "staff2")
FLAGS = {"IVR_ONCALL_RING_SECONDS": "8", "IVR_ONCALL_ACK_SECONDS": "30", "IVR_ONCALL_HOLD_SECONDS": "120",
         "IVR_ONCALL_ROUND_PAUSE_SECONDS": "2"}


class StaffEar(Caller):
    """A staff phone that has answered: it listens (RTP), presses keys and speaks like the caller does."""

    def __init__(self, pair: Pair, channel_id: str) -> None:
        assert pair.phones is not None
        super().__init__(pair.phones.app, "staff")
        self.channel_id = channel_id
        self.events = self.app.watch(channel_id)

    async def attach(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self.ear, local_addr=("127.0.0.1", 0))
        self._transport = transport
        port = transport.get_extra_info("sockname")[1]
        media_id = f"{self.channel_id}-ear"
        media_events = self.app.watch(media_id)
        await self.client.external_media(PHONES_APP, f"127.0.0.1:{port}", "ulaw", channel_id=media_id)
        self._media_id = media_id
        await media_events.until({"StasisStart"}, 10)
        bridge = await self.client.create_bridge("mixing")
        self._bridge_id = str(bridge["id"])
        await self.client.add_to_bridge(self._bridge_id, [self.channel_id, media_id])


def oncall_cli(pair: Pair, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "ivr", "oncall", *args], env=pair.env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def rows(pair: Pair, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    with db(pair) as conn:
        return [dict(r) for r in conn.execute(sql, params)]


async def until_rows(pair: Pair, sql: str, params: list[Any], timeout: float = 60.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not (found := rows(pair, sql, params)):
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing for {sql} {params}\n{pair.debug()}")
        await asyncio.sleep(0.2)
    return found


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pair(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pair]:
    async with running_pair(tmp_path_factory.mktemp("real-oncall"), languages="en,th", phones=STAFF,
                            flags=FLAGS, engine=False) as p:
        for name in STAFF:
            oncall_cli(p, "add", name, "--phone", f"PJSIP/{name}", "--languages", "en")
        await p.start_engine()
        yield p


async def emergency(pair: Pair) -> Caller:
    caller = await pair.call()
    await caller.wait_quiet()            # greeting and the language menu
    await caller.press("1")              # English
    await caller.wait_quiet()            # the main menu
    await caller.press("9")              # in danger now
    return caller


async def answered(pair: Pair, timeout: float = 40.0) -> StaffEar:  # noqa: ASYNC109
    assert pair.phones is not None
    _, channel = await asyncio.wait_for(pair.phones.calls.get(), timeout)
    ear = StaffEar(pair, channel)
    await ear.attach()
    return ear


async def case_of(pair: Pair, caller: Caller, since: str) -> int:
    found = await until_rows(pair, "select case_id from calls where started_at > ? and case_id is not null"
                                   " order by started_at desc limit 1", [since])
    return int(found[0]["case_id"])


def now_text(pair: Pair) -> str:
    return str(rows(pair, "select strftime('%Y-%m-%dT%H:%M:%fZ', 'now') as t", [])[0]["t"])[:19]


async def test_staff_phone_rings_hears_the_alert_presses_1_and_talks_to_the_caller(pair: Pair, tmp_path: Path) -> None:
    assert pair.phones is not None
    pair.phones.rang.clear()
    pair.phones.answer = {"staff1": True, "staff2": True}
    since = now_text(pair)
    caller = await emergency(pair)
    staff = await answered(pair)
    await staff.wait_quiet(quiet=1.5)    # "Emergency on the hotline. Case number ... Press 1 to take it."
    heard = staff.ear.loud_seconds_since(0)
    assert heard > 2.0, heard
    await staff.press("1")
    case_id = await case_of(pair, caller, since)
    esc = await until_rows(pair, "select * from escalations where case_id = ? and state = 'acknowledged'", [case_id])
    assert esc[0]["acknowledged_by"] == "staff1" and esc[0]["acknowledged_via"] == "phone"
    # Bridged: what the staff member says reaches the caller.
    await staff.wait_quiet(quiet=1.0)    # "Thank you, the case is yours. Connecting you to the caller."
    tone = write_tone(tmp_path / "hello.wav", 1.5, 600)
    spoke = time.monotonic()
    await staff.say(tone)
    await asyncio.sleep(0)               # let the last RTP frames arrive before looking
    assert caller.ear.loud_seconds_since(spoke) > 0.8, pair.debug()
    assert pair.phones.rang == ["staff1"]
    await staff.hangup()
    await caller.wait_hung_up(30)
    await caller.close()
    case = rows(pair, "select status from cases where id = ?", [case_id])
    assert case[0]["status"] == "acknowledged"


async def test_first_phone_not_answering_the_second_rings(pair: Pair) -> None:
    assert pair.phones is not None
    pair.phones.rang.clear()
    pair.phones.answer = {"staff1": False, "staff2": True}
    since = now_text(pair)
    caller = await emergency(pair)
    staff = await answered(pair)
    await staff.wait_quiet(quiet=1.5)
    await staff.press("1")
    case_id = await case_of(pair, caller, since)
    esc = await until_rows(pair, "select * from escalations where case_id = ? and state = 'acknowledged'", [case_id])
    assert esc[0]["acknowledged_by"] == "staff2"
    assert pair.phones.rang == ["staff1", "staff2"]
    await caller.hangup()
    await staff.close()


async def test_engine_killed_mid_escalation_rings_nobody_twice_for_a_step(pair: Pair) -> None:
    assert pair.phones is not None
    pair.phones.rang.clear()
    pair.phones.answer = {"staff1": False, "staff2": True}
    since = now_text(pair)
    caller = await emergency(pair)
    deadline = time.monotonic() + 40
    while pair.phones.rang != ["staff1"]:          # step 1 is ringing staff1...
        assert time.monotonic() < deadline, pair.debug()
        await asyncio.sleep(0.1)
    pair.engine.kill()                             # ...when the engine dies (SIGKILL)
    await pair.start_engine()
    staff = await answered(pair, timeout=60)
    await staff.wait_quiet(quiet=1.5)
    await staff.press("1")
    case_id = await case_of(pair, caller, since)
    esc = await until_rows(pair, "select * from escalations where case_id = ? and state = 'acknowledged'", [case_id])
    steps = rows(pair, "select seq, staff_name, state from escalation_steps where escalation_id = ? order by seq",
                 [esc[0]["id"]])
    assert [(s["seq"], s["staff_name"], s["state"]) for s in steps] == [
        (1, "staff1", "interrupted"), (2, "staff2", "acknowledged")], pair.debug()
    assert pair.phones.rang == ["staff1", "staff2"]
    await caller.hangup()
    await staff.close()


async def test_an_unknown_endpoint_on_the_rota_is_one_clear_line(pair: Pair) -> None:
    from ivr.ari.client import AriClient
    from ivr.oncall import rota
    from ivr.oncall.check import endpoint_problems

    client = AriClient(pair.hotline.url, pair.env["IVR_ARI_USER"], pair.env["IVR_ARI_PASSWORD"])
    try:
        staff = [rota.Staff(name="Known", phone="PJSIP/staff1", id=1),
                 rota.Staff(name="Ghost", phone="PJSIP/ghost", id=2)]
        assert await endpoint_problems(client, staff) == ["oncall: Ghost (#2): Asterisk has no endpoint PJSIP/ghost"]
    finally:
        await client.close()
