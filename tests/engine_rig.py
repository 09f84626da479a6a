"""A whole hotline on loopback for the engine's tests: emulator, engine, scripted callers.

Prompts are tiny generated WAVs in the built-prompts folder, played through the real
PromptResolver. The emulator runs media time ``SPEED`` times faster than the wall clock
and the engine scales its waits to match, so a call of a minute takes a few seconds.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import hashlib
import itertools
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import REPO, TEST_SECRET

from ivr.db.writer import Database
from ivr.engine.service import FALLBACK_EVERY_S, Engine
from ivr.prompts.build import PLACEHOLDER
from ivr.prompts.catalog import load_catalog
from ivr.prompts.resolve import PromptResolver
from ivr.prompts.store import entry_name, update_manifest
from ivr.protection.casecode import hash_code
from ivr.settings import Settings, load
from ivr.sim import media
from ivr.sim.caller import CallerHub, ScriptedCaller
from ivr.sim.server import Emulator

SPEED = 20.0
ARI_USER, ARI_PASSWORD = "hotline", "emulator-password-123"


def write_wav(path: Path, seconds: float, *, freq: float = 440.0, amplitude: int = 8000) -> Path:
    rate = 8000
    media.write_wav(path, array.array("h", (int(amplitude * math.sin(2 * math.pi * freq * i / rate))
                                            for i in range(int(seconds * rate)))))
    return path


def build_prompts(settings: Settings) -> None:
    """Every catalog key in every enabled language, as a 0.2 s tone."""
    catalog = load_catalog(settings.prompts_dir)
    root = settings.data_dir / "prompts"
    template = write_wav(root / "template.wav", 0.2)
    data = template.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    entries: dict[str, dict[str, object] | None] = {}
    for lang in settings.languages:
        for key in catalog.prompts:
            path = root / lang / f"{key}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            # As `ivr prompts build` records a placeholder it wrote (else it would be an unreviewed file).
            entries[entry_name(lang, key)] = {"kind": PLACEHOLDER, "hash": "rig", "sha256": digest}
    update_manifest(root, entries)


@dataclass
class Rig:
    settings: Settings
    database: Database
    emulator: Emulator
    engine: Engine
    hub: CallerHub
    voice: Path
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def dial(self, number: str | None = None) -> ScriptedCaller:
        """A new caller; each gets a different number unless one is given ('' = withheld)."""
        if number is None:
            number = f"+6681{next(self.numbers):07d}"
        caller = await self.hub.dial("1000", "hotline-in", caller_id=f"Worker <{number}>")
        await caller.wait_answered()
        return caller

    async def ended_call(self, caller: ScriptedCaller | str, timeout: float = 15.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The call row (of a caller, or a hotline channel id) once the engine has closed it."""
        async with asyncio.timeout(timeout):
            while True:
                channel = caller if isinstance(caller, str) else caller.hotline_channel_id
                if channel is not None:
                    row = await self.database.query_one(
                        "select * from calls where channel_id = ? and ended_at is not null", [channel])
                    if row is not None:
                        return row
                await asyncio.sleep(0.05)

    async def steps(self, call_id: str) -> list[dict[str, Any]]:
        return await self.database.query("select * from call_steps where call_id = ? order by seq", [call_id])

    async def pick_language(self, caller: ScriptedCaller, lang: str) -> None:
        await caller.wait_prompt("choose_language")
        await caller.press(str(self.settings.languages.index(lang) + 1))

    async def menu(self, caller: ScriptedCaller, prompt: str, digit: str) -> None:
        await caller.wait_prompt(prompt)
        await caller.press(digit)

    async def say_message(self, caller: ScriptedCaller, voice: Path | None = None) -> None:
        """Talk through the beep and for at least 2 s after it, then end the message with '#'.

        The caller starts talking before the recording does. One who starts only once RecordingStarted
        is seen can start too late in media time on a loaded machine: a 0.3 s stall of this process is
        6 s of silence at SPEED 20, the flow's max_silence, and the take then ends at once, empty.
        """
        speech = await caller.speak_through_beep(voice or self.voice)
        await caller.press("#")
        await caller.stop_speaking(speech)

    async def leave_message(self, caller: ScriptedCaller, *, keep: bool = True) -> None:
        """Speak after the beep, end with '#', and keep it at the review menu."""
        await self.say_message(caller)
        if keep:
            await self.menu(caller, "review_menu", "1")


@contextlib.asynccontextmanager
async def running_rig(
    tmp: Path, *, languages: tuple[str, ...] = ("en", "th"), transfer_endpoint: str = "",
    routes: dict[str, str | None] | None = None, flags: dict[str, str] | None = None,
    hasher: Callable[[str], str] = hash_code, fallback_every: float = FALLBACK_EVERY_S,
) -> AsyncIterator[Rig]:
    async with contextlib.AsyncExitStack() as stack:
        (tmp / "sounds").mkdir(parents=True, exist_ok=True)
        emulator = Emulator(user=ARI_USER, password=ARI_PASSWORD, sounds_dir=tmp / "sounds",
                            spool_dir=tmp / "spool", speed=SPEED, routes=routes)
        await emulator.start()
        stack.push_async_callback(emulator.stop)
        settings = load(environ={}, mode="engine", flags={
            "data_dir": str(tmp / "var"), "secret_key": TEST_SECRET, "prompts_dir": str(REPO / "prompts"),
            "flows_dir": str(REPO / "callflows"), "models_dir": str(tmp / "models"), "ari_url": emulator.url,
            "ari_user": ARI_USER, "ari_password": ARI_PASSWORD, "languages": ",".join(languages),
            "transfer_endpoint": transfer_endpoint, **(flags or {}),
        })
        build_prompts(settings)
        database = Database(settings.db_path)
        stack.callback(database.close)
        engine = Engine(settings, database, prompts=PromptResolver(settings), time_scale=SPEED, hasher=hasher,
                        fallback_every=fallback_every)
        await engine.start()
        await engine.app.wait_connected()
        hub = CallerHub(emulator.url, ARI_USER, ARI_PASSWORD, speed=SPEED)
        stack.push_async_callback(hub.stop)
        await hub.start()
        voice = write_wav(tmp / "voice" / "message.wav", 2.0, freq=300, amplitude=12000)
        rig = Rig(settings, database, emulator, engine, hub, voice)
        # Tests may swap in a new engine (a restart): stop whichever one is current.
        stack.push_async_callback(lambda: rig.engine.stop())
        yield rig
