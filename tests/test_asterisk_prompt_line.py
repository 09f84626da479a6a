"""The staff prompt-recording line on a real Asterisk 22, called over SIP/RTP on its own number.

A speaker dials the line's number, keys the PIN, the language and the prompt number, records after
the tone, keeps the take: it is a draft in the hotline's database, and what callers hear is unchanged.
The caller acts only on what it hears (the line going quiet), never on the engine's state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from asterisk_rig import Caller, Pair, app_connected, db, make_speech, running_pair
from conftest import REPO

from ivr.languages import LANGUAGES
from ivr.prompts.catalog import load_catalog

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="module")]

LINE_DID = "1800777000"
PIN = "480213"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pair(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pair]:
    async with running_pair(tmp_path_factory.mktemp("real-prompt-line"), languages="en,th", phones=(),
                            flags={"IVR_PROMPT_LINE_PIN": PIN},
                            render_args=("--prompt-line-did", LINE_DID)) as p:
        await app_connected(p.hotline.url, "hotline-prompts", timeout=120)
        yield p


async def test_a_speaker_records_a_prompt_by_phone(pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> None:
    voice = make_speech(tmp_path_factory.mktemp("voice") / "take.wav", "To tell us about a problem at work, press 1.")
    built = pair.data_dir / "prompts" / "th" / "main_menu.wav"
    before = built.read_bytes()
    number = load_catalog(REPO / "prompts").keys.index("main_menu") + 1
    assert pair.carrier_app is not None

    caller = Caller(pair.carrier_app, pair.number())
    await caller.dial(LINE_DID)
    try:
        await caller.wait_quiet()                          # "Enter the PIN, then press hash."
        await caller.press(PIN + "#")
        await caller.wait_quiet()                          # welcome; "Enter the language number ..."
        await caller.press(f"{list(LANGUAGES).index('th') + 1}#")
        await caller.wait_quiet()                          # Thai's own menu line; "Enter the prompt number ..."
        await caller.press(f"{number}#")
        await caller.wait_quiet(timeout=90)                # what callers hear now; "After the tone ..."; the tone
        await caller.say(voice)
        await caller.press("#")
        await caller.wait_quiet(timeout=60)                # the take played back; "Press 1 to keep it ..."
        await caller.press("1")
        await caller.wait_quiet()                          # "Kept as a draft ..."; "Enter the prompt number ..."
    finally:
        await caller.hangup()

    with db(pair) as conn:
        drafts = [tuple(r) for r in conn.execute("select lang, key, state, via, seconds from prompt_recordings")]
        audit = [r[0] for r in conn.execute("select action from audit_log where action like 'prompt%' order by id")]
    assert [d[:4] for d in drafts] == [("th", "main_menu", "draft", "phone")], pair.debug()
    assert drafts[0][4] > 1.5                              # the speaker's words, not a click
    assert audit == ["prompt_line.call", "prompt.submit"]
    assert built.read_bytes() == before                    # callers still hear the old prompt
