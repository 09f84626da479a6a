"""One scripted demo call of a branch of the default flow, in a language (for `ivr demo`).

    result = await demo_call(emulator.url, user, password, branch="report", language="th",
                             languages=settings.languages, speed=emulator_speed)

The caller dials ``Local/1000@hotline-in`` as a second ARI app (see ivr.sim.caller), picks
the language, walks the branch (speaking a generated tone, or ``voice``, as its message)
and hangs up or waits for the hotline to. Works against the emulator (or a real Asterisk).
"""

from __future__ import annotations

import array
import math
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ivr.sim.caller import CallerHub, ScriptedCaller
from ivr.sim.media import write_wav

BRANCHES = ("report", "message", "callback", "followup", "emergency", "quick_exit", "silent")
WAIT_S = 60.0   # media seconds a demo caller waits for each step (ivr.sim.caller adds its wall slack)


@dataclass
class DemoResult:
    branch: str
    language: str
    channel_id: str | None
    heard: list[str] = field(default_factory=list)   # media URIs the hotline played, in order


async def demo_call(
    url: str, user: str, password: str, *, branch: str, language: str, languages: Sequence[str],
    voice: Path | None = None, speed: float = 1.0, case_code: str | None = None,
    number: str = "+66800000001", workplace_code: str | None = None,
) -> DemoResult:
    """Run one call of ``branch`` ("report", "message", "callback", "followup", "emergency",
    "quick_exit" or "silent") in ``language`` (which must be one of ``languages``)."""
    if branch not in BRANCHES:
        raise ValueError(f"unknown demo branch {branch!r} (known: {', '.join(BRANCHES)})")
    if language not in languages:
        raise ValueError(f"language {language!r} is not one of IVR_LANGUAGES ({','.join(languages)})")
    # Each demo caller has its own ARI app: an app's events go to its newest socket only.
    app = f"ivr-demo-caller-{uuid.uuid4().hex[:8]}"
    hub = CallerHub(url, user, password, app=app, speed=speed, caller_id=f"Demo <{number}>")
    await hub.start()
    with tempfile.TemporaryDirectory(prefix="ivr-demo-") as tmp:
        speech = voice or _tone(Path(tmp) / "message.wav")
        try:
            caller = await hub.dial("1000", "hotline-in")
            await caller.wait_answered(timeout=WAIT_S)
            await _script(caller, branch, language, list(languages), speech.resolve(), case_code, workplace_code)
            await caller.wait_hung_up(timeout=WAIT_S * 3)
            return DemoResult(branch, language, caller.hotline_channel_id, caller.heard)
        finally:
            await hub.stop()


async def _script(
    c: ScriptedCaller, branch: str, lang: str, languages: list[str], voice: Path,
    case_code: str | None, workplace_code: str | None,
) -> None:
    async def menu(prompt: str, keys: str) -> None:
        await c.wait_prompt(prompt, timeout=WAIT_S)
        await c.press(keys)

    async def message() -> None:
        await c.wait_recording(timeout=WAIT_S)
        await c.speak(voice)
        await c.press("#")
        await menu("review_menu", "1")

    if branch == "silent":
        return   # say nothing: the hotline asks, then says goodbye
    # A repeat caller skips the language menu (their language is remembered).
    first = await c.wait_for(lambda e: e.type == "PlaybackStarted" and (
        "choose_language" in str(e.raw) or "main_menu" in str(e.raw)), WAIT_S, "language or main menu")
    if "choose_language" in str(first.raw):
        await c.press(str(languages.index(lang) + 1))
    digit = {"report": "1", "message": "2", "callback": "3", "followup": "4", "emergency": "9"}.get(branch)
    if branch == "quick_exit":
        await menu("main_menu", "*")
        return
    assert digit is not None
    await menu("main_menu", digit)
    if branch == "report":
        await menu("category_menu", "1")
        await menu("workplace_code", (workplace_code or "") + "#")
        await message()
    elif branch == "message":
        await message()
    elif branch == "callback":
        await menu("callback_consent", "1")
        await menu("callback_window", "2")
    elif branch == "followup":
        for _ in range(1 if case_code else 3):   # a wrong code three times: the limit ends the call
            await menu("followup_enter_code", case_code or "00000000")
        if case_code:
            await menu("followup_add_message", "2")
    elif branch == "emergency":
        await c.wait_prompt("emergency", timeout=WAIT_S)
        await message()


def _tone(path: Path, seconds: float = 3.0) -> Path:
    """A stand-in for a caller's voice: a warbling tone, loud enough not to count as silence."""
    rate = 8000
    write_wav(path, array.array("h", (int(9000 * math.sin(2 * math.pi * (300 + 80 * math.sin(i / 800)) * i / rate))
                                      for i in range(int(seconds * rate)))))
    return path
