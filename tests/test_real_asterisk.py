"""The scenario in ari_scenario.py against the emulator (always) and a real Asterisk 22 (when configured).

Set IVR_TEST_ARI_URL (e.g. http://127.0.0.1:8088), IVR_TEST_ARI_USER and IVR_TEST_ARI_PASSWORD to run it
against a real server configured as asterisk_conf/test-extensions.conf describes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ari_scenario import Target, run_scenario
from sim_support import PASSWORD, USER, make_sounds

from ivr.sim.server import Emulator

REAL_URL = os.environ.get("IVR_TEST_ARI_URL", "")


async def test_scenario_on_the_emulator(tmp_path: Path) -> None:
    emulator = Emulator(user=USER, password=PASSWORD, sounds_dir=make_sounds(tmp_path / "sounds"),
                        spool_dir=tmp_path / "spool", routes={"ivr-test-in": "ivr-test"}, speed=10)
    await emulator.start()
    try:
        await run_scenario(Target(emulator.url, USER, PASSWORD, "ivr-test", "1000", "ivr-test-in"), speed=10)
    finally:
        await emulator.stop()


@pytest.mark.real_asterisk
@pytest.mark.skipif(not REAL_URL, reason="IVR_TEST_ARI_URL is not set: no real Asterisk 22 to test against "
                    "(see asterisk_conf/test-extensions.conf)")
async def test_scenario_on_a_real_asterisk() -> None:
    user = os.environ.get("IVR_TEST_ARI_USER", "hotline")
    password = os.environ.get("IVR_TEST_ARI_PASSWORD", "")
    assert password, "IVR_TEST_ARI_PASSWORD must be set with IVR_TEST_ARI_URL"
    await run_scenario(Target(REAL_URL, user, password, "ivr-test", "1000", "ivr-test-in"))
