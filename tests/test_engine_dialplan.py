"""A flow variant: transfer by handing the call to the dialplan (its own queue), and a repeat key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import yaml
from conftest import REPO
from engine_rig import Rig, running_rig

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    tmp = tmp_path_factory.mktemp("dialplan")
    flow = yaml.safe_load((REPO / "callflows" / "hotline.yaml").read_text(encoding="utf-8"))
    flow["nodes"]["emergency_transfer"]["wait"]["transfer"].update(context="hotline-queue", extension="caseworkers")
    flow["repeat_key"] = "#"
    (tmp / "flows").mkdir()
    (tmp / "flows" / "hotline.yaml").write_text(yaml.safe_dump(flow), encoding="utf-8")
    # The emulator's dialplan for hotline-queue sends the call to a Stasis app of the caseworkers' own.
    async with running_rig(tmp, flags={"flows_dir": str(tmp / "flows")},
                           routes={"hotline-queue": "caseworker-queue"}) as r:
        yield r


async def test_emergency_is_handed_to_the_dialplan_queue(rig: Rig) -> None:
    queue = await rig.engine.client.connect_events("caseworker-queue")
    try:
        caller = await rig.dial()
        await rig.pick_language(caller, "en")
        await rig.menu(caller, "main_menu", "9")
        await caller.wait_prompt("transfer_connecting")
        row = await rig.ended_call(caller)
        msg = await queue.receive_json(timeout=10)
        while msg["type"] != "StasisStart":
            msg = await queue.receive_json(timeout=10)
        assert msg["channel"]["id"] == caller.hotline_channel_id    # the same caller, now in the queue
    finally:
        await queue.close()
    assert row["outcome"] == "emergency"
    steps = await rig.steps(row["id"])
    assert ("emergency_transfer", "dialplan", "answered") in [(s["node"], s["input"], s["category"]) for s in steps]
    assert await rig.database.query("select id from recordings where call_id = ?", [row["id"]]) == []


async def test_the_repeat_key_asks_again_without_counting_a_wrong_answer(rig: Rig) -> None:
    caller = await rig.dial()
    await rig.pick_language(caller, "en")
    for _ in range(3):                      # three repeats: more than the menu's three tries
        await rig.menu(caller, "main_menu", "#")
    await rig.menu(caller, "main_menu", "2")
    await caller.wait_recording()
    await caller.hangup()
    row = await rig.ended_call(caller)
    assert row["menu_choice"] == "message"
    assert sum("main_menu" in u for u in caller.heard) == 4
    assert not any("invalid_input" in u for u in caller.heard)
