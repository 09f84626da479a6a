"""Shared set-up for the ARI and emulator tests: sounds, an emulator, a Stasis app and callers."""

from __future__ import annotations

import math
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from ivr.ari.client import AriClient
from ivr.ari.stasis import Call, StasisApp
from ivr.sim.caller import CallerHub
from ivr.sim.media import RATE, write_wav
from ivr.sim.server import Emulator

USER, PASSWORD = "asterisk-test", "not-a-real-secret"


def _tone(seconds: float, freq: float = 440.0, amp: int = 6000) -> array:
    return array("h", (int(amp * math.sin(2 * math.pi * freq * i / RATE)) for i in range(int(seconds * RATE))))


def _silence(seconds: float) -> array:
    return array("h", bytes(2 * int(seconds * RATE)))


def make_sounds(root: Path) -> Path:
    """A sounds folder laid out like Asterisk's, with the names the captures use (made-up audio)."""
    write_wav(root / "en" / "hello-world.wav", _tone(1.4))
    write_wav(root / "en" / "vm-intro.wav", _tone(5.6, 330.0))
    write_wav(root / "en" / "beep.wav", _tone(0.4, 1000.0))
    # "speech": six 0.8 s bursts with short pauses, 6.6 s in all
    speech = array("h")
    for _ in range(6):
        speech += _tone(0.8, 220.0) + _silence(0.3)
    write_wav(root / "accept" / "vm1.wav", speech)
    return root


@dataclass
class Rig:
    emulator: Emulator
    client: AriClient
    app: StasisApp
    callers: CallerHub


@asynccontextmanager
async def rig(
    tmp_path: Path,
    handler: Callable[[Call], Awaitable[None]],
    *,
    sounds: Path | None = None,
    speed: float = 20.0,
    **app_options: float,
) -> AsyncIterator[Rig]:
    emulator = Emulator(
        user=USER, password=PASSWORD, sounds_dir=sounds or make_sounds(tmp_path / "sounds"),
        spool_dir=tmp_path / "spool", speed=speed,
    )
    await emulator.start()
    client = AriClient(emulator.url, USER, PASSWORD, timeout=5.0)
    app = StasisApp(client, "hotline", handler, **app_options)  # type: ignore[arg-type]
    callers = CallerHub(emulator.url, USER, PASSWORD, speed=speed)
    await app.start()
    await callers.start()
    try:
        yield Rig(emulator, client, app, callers)
    finally:
        await callers.stop()
        await app.stop()
        await client.close()
        await emulator.stop()


@asynccontextmanager
async def stub_server(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port); yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
