"""`engine ready` means the event socket is connected (issue 20, item 21): while Asterisk cannot be
reached the engine says so and keeps retrying."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import pytest
from conftest import free_port

from ivr.db.writer import Database
from ivr.engine.service import Engine
from ivr.settings import Settings
from ivr.sim.server import Emulator


async def test_ready_only_once_asterisk_answers(settings: Settings, database: Database, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    live = dataclasses.replace(settings, ari_url=f"http://127.0.0.1:{port}", ari_password="pw",
                               models_dir=tmp_path / "no-models")
    engine = Engine(live, database)
    caplog.set_level(logging.INFO)
    await engine.start()
    try:
        messages = [r.getMessage() for r in caplog.records]
        assert not any(m.startswith("engine ready") for m in messages)
        assert f"engine not ready: Asterisk at {live.ari_url} cannot be reached yet; retrying" in messages
        (tmp_path / "sounds").mkdir()
        emulator = Emulator(port=port, user=live.ari_user, password="pw", sounds_dir=tmp_path / "sounds",
                            spool_dir=tmp_path / "spool", default_app=live.ari_app)
        await emulator.start()
        try:
            await engine.app.wait_connected(timeout=30)
            assert engine._ready is not None
            await asyncio.wait_for(engine._ready, 10)
            assert any(r.getMessage().startswith("engine ready: flow=hotline") for r in caplog.records)
        finally:
            await emulator.stop()
    finally:
        await engine.stop()
