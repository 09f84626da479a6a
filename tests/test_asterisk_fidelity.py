"""The emulator and a real Asterisk 22, in the same run: the scenarios behind ../shared/asterisk-ari/captures
give the same event sequences and REST statuses on both (and as captured); the ARI scenario of
tests/ari_scenario.py passes on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from ari_replay import replay, signature
from ari_scenario import Target, run_scenario
from asterisk_rig import ARI_PASSWORD, ARI_USER, AsteriskServer, clear_recordings, reference_server
from conftest import ARI_SHARED, requires_shared
from sim_support import make_sounds

from ivr.sim.server import Emulator

pytestmark = [pytest.mark.asterisk, requires_shared, pytest.mark.asyncio(loop_scope="module")]
CAPTURES = sorted((ARI_SHARED / "captures").glob("*.jsonl")) if ARI_SHARED.is_dir() else []
EMULATOR_SPEED = 4.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsteriskServer]:
    async with reference_server(tmp_path_factory.mktemp("reference")) as s:
        yield s


@pytest.mark.parametrize("capture", CAPTURES, ids=[p.stem for p in CAPTURES])
async def test_the_emulator_and_asterisk_agree(capture: Path, server: AsteriskServer, tmp_path: Path) -> None:
    clear_recordings(server)   # each capture was taken on a fresh server with an empty spool
    real = await replay(capture, server.url, ARI_USER, ARI_PASSWORD, speed=1.0)
    spool = tmp_path / "spool"
    spool.mkdir()
    emulator = Emulator(user=ARI_USER, password=ARI_PASSWORD, sounds_dir=ARI_SHARED / "sounds", spool_dir=spool,
                        routes={"hotline-in": "hotline"}, speed=EMULATOR_SPEED)
    await emulator.start()
    try:
        sim = await replay(capture, emulator.url, ARI_USER, ARI_PASSWORD, speed=EMULATOR_SPEED)
    finally:
        await emulator.stop()
    captured = [status for _, status, _ in real.statuses]
    assert [s for _, _, s in real.statuses] == captured, real.statuses
    assert [s for _, _, s in sim.statuses] == captured, sim.statuses
    assert [m for _, _, m in real.messages] == [m for _, _, m in sim.messages]
    assert [signature(e) for e in real.hotline] == [signature(e) for e in sim.hotline]
    assert [signature(e) for e in real.hotline] == [signature(e) for e in real.real_hotline]


async def test_the_ari_scenario_on_asterisk_and_on_the_emulator(server: AsteriskServer, tmp_path: Path) -> None:
    await run_scenario(Target(server.url, ARI_USER, ARI_PASSWORD, "ivr-test", "1000", "ivr-test-in"))
    emulator = Emulator(user=ARI_USER, password=ARI_PASSWORD, sounds_dir=make_sounds(tmp_path / "sounds"),
                        spool_dir=tmp_path / "spool", routes={"ivr-test-in": "ivr-test"}, speed=10)
    await emulator.start()
    try:
        await run_scenario(Target(emulator.url, ARI_USER, ARI_PASSWORD, "ivr-test", "1000", "ivr-test-in"), speed=10)
    finally:
        await emulator.stop()
