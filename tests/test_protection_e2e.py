"""Worker protection end to end: real calls through the emulator and the engine.

A worker reports and hears a case code; follows up from a borrowed phone with that code;
asks for a call-back. Then neither phone number nor the case code may be found in the
database file, its WAL, or any log line, and the audit chain is intact.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from engine_rig import Rig, running_rig

from ivr.protection import audit, casecode
from ivr.protection.caller import NumberVault, caller_ref

pytestmark = pytest.mark.asyncio(loop_scope="module")

OWN_PHONE = "+66870001234"
BORROWED_PHONE = "+66870005678"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    async with running_rig(tmp_path_factory.mktemp("protection-e2e"), languages=("en",)) as r:
        yield r


def _code_heard(heard: list[str]) -> str:
    """The eight digits read after the first case-code announcement."""
    first = heard.index(next(u for u in heard if "case_code_intro" in u))
    digits = [u.rsplit("digit_", 1)[1][0] for u in heard[first:] if "/digit_" in u]
    return "".join(digits[:8])


async def test_code_and_numbers_never_stored_or_logged(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # 1. Report from the worker's own phone; the code is read back.
    caller = await rig.dial(OWN_PHONE)
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "2")
    await rig.leave_message(caller)
    await caller.wait_prompt("case_code_repeat")
    await caller.wait_hung_up()
    report = await rig.ended_call(caller)
    code = _code_heard(caller.heard)
    assert casecode.is_well_formed(code)
    key = rig.settings.key("case-code")
    assert await rig.database.read(lambda db: casecode.find_case(db, key, code)) == report["case_id"]

    # 2. Follow up from a borrowed phone: one wrong try, then the right code works (bearer secret).
    caller = await rig.dial(BORROWED_PHONE)
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "4")
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    await rig.menu(caller, "followup_enter_code", wrong)
    await rig.menu(caller, "followup_enter_code", code)
    await caller.wait_prompt("followup_add_message")
    await caller.hangup()
    followup = await rig.ended_call(caller)
    assert followup["case_id"] == report["case_id"]
    borrowed_ref = caller_ref(rig.settings.key("caller-ref"), BORROWED_PHONE)
    own_ref = caller_ref(rig.settings.key("caller-ref"), OWN_PHONE)
    assert followup["caller_ref"] == borrowed_ref and report["caller_ref"] == own_ref
    attempts = await rig.database.query("select caller_ref, success from code_attempts order by id")
    assert attempts == [{"caller_ref": borrowed_ref, "success": 0}, {"caller_ref": borrowed_ref, "success": 1}]

    # 3. A call-back request from the own phone (a repeat caller: no language menu); the number is kept, sealed.
    caller = await rig.dial(OWN_PHONE)
    await rig.menu(caller, "main_menu", "3")
    await rig.menu(caller, "callback_consent", "1")
    await rig.menu(caller, "callback_window", "3")
    await caller.wait_prompt("callback_confirmed")
    await caller.wait_hung_up()
    cb_call = await rig.ended_call(caller)
    cb = await rig.database.query_one("select * from callbacks where call_id = ?", [cb_call["id"]])
    assert cb is not None and NumberVault(rig.settings.key("callback-number")).open(cb["number_encrypted"]) == OWN_PHONE

    # Nothing in clear: the database file and WAL, every log line (and its arguments).
    files = sorted(rig.settings.db_path.parent.glob(rig.settings.db_path.name + "*"))
    blob = b"".join([await asyncio.to_thread(p.read_bytes) for p in files])
    assert len(blob) > 10_000
    logged = caplog.text + repr([r.args for r in caplog.records])
    assert f"call={report['id']}" in caplog.text  # the engine did log these calls, by id
    for secret in (code, OWN_PHONE.lstrip("+"), BORROWED_PHONE.lstrip("+"), OWN_PHONE[3:], BORROWED_PHONE[3:]):
        assert secret.encode() not in blob, secret
        assert secret not in logged, secret
    assert await rig.database.read(audit.verify) == []
