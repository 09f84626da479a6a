"""Spoken menu answers: the hook listens, recognises with the real Korean Vosk model, and never
keeps the answer; a key pressed while it listens, or an answer it is unsure of, leaves it to the keypad."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import yaml
from asr_support import korean_model_path
from conftest import REPO
from engine_rig import Rig, running_rig

pytestmark = pytest.mark.asyncio(loop_scope="module")

SPEECH = {"ko": {"report": ["신고"], "message": ["메시지"]}}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    tmp = tmp_path_factory.mktemp("speech")
    (tmp / "models").mkdir()
    (tmp / "models" / "ko").symlink_to(korean_model_path())
    flow = yaml.safe_load((REPO / "callflows" / "hotline.yaml").read_text(encoding="utf-8"))
    flow["nodes"]["main_menu"]["wait"]["menu"]["speech"] = SPEECH
    (tmp / "flows").mkdir()
    (tmp / "flows" / "hotline.yaml").write_text(yaml.safe_dump(flow, allow_unicode=True), encoding="utf-8")
    async with running_rig(tmp, languages=("ko", "en"),
                           flags={"flows_dir": str(tmp / "flows"), "models_dir": str(tmp / "models")}) as r:
        yield r


async def test_a_key_cuts_the_listening_short_and_answers(rig: Rig) -> None:
    assert rig.engine.speech is not None
    caller = await rig.dial()
    await rig.pick_language(caller, "ko")
    await caller.wait_prompt("ko/main_menu")
    await caller.wait_recording()              # the hotline listens for a spoken answer
    await caller.press("2")
    await caller.wait_prompt("record_instructions")
    await caller.hangup()
    row = await rig.ended_call(caller)
    assert row["menu_choice"] == "message"
    steps = await rig.steps(row["id"])
    assert [(s["input"], s["category"]) for s in steps if s["node"] == "main_menu"] == [("2", "message")]
    await _no_answers_kept(rig, row["id"])


async def test_an_unclear_answer_falls_back_to_the_keypad(rig: Rig) -> None:
    caller = await rig.dial()
    await rig.pick_language(caller, "ko")
    await caller.wait_recording()
    await caller.speak(rig.voice)               # a tone, not a menu word: no answer
    await caller.wait_for(lambda e: e.type == "RecordingFinished", 10, "end of listening")
    await caller.press("1")
    await caller.wait_prompt("category_menu")
    await caller.hangup()
    row = await rig.ended_call(caller)
    assert row["menu_choice"] == "report"
    await _no_answers_kept(rig, row["id"])


async def _no_answers_kept(rig: Rig, call_id: str) -> None:
    assert await rig.database.query("select id from recordings where call_id = ?", [call_id]) == []
    stored = await rig.engine.client.list_stored_recordings()
    assert not [r for r in stored if "answer" in r["name"]]
