"""`ivr sim` as a user runs it: a separate process, settings from the environment, SIGTERM stops it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sim_support import make_sounds

from ivr.ari.client import AriClient
from ivr.ari.errors import AriError


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update(IVR_ARI_USER="hotline", IVR_ARI_PASSWORD="sim-pw", IVR_DATA_DIR=str(tmp_path / "var"))
    return subprocess.Popen([sys.executable, "-m", "ivr", "sim", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def test_sim_serves_ari_until_sigterm(tmp_path: Path) -> None:
    sounds = make_sounds(tmp_path / "sounds")
    proc = _start(tmp_path, "--port", "0", "--sounds", str(sounds), "--route", "closed=")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+)/ari", line)
        assert url, line
        client = AriClient(url.group(1), "hotline", "sim-pw")
        assert await client.list_channels() == []
        assert await client.list_stored_recordings() == []
        await client.close()
        wrong = AriClient(url.group(1), "hotline", "nope")
        with pytest.raises(AriError) as err:
            await wrong.list_channels()
        assert err.value.status == 401
        await wrong.close()
        assert (tmp_path / "var" / "asterisk-spool").is_dir()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err_text = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "asterisk-emulator stopped" in err_text


def test_sim_refuses_a_missing_sounds_folder(tmp_path: Path) -> None:
    proc = _start(tmp_path, "--sounds", str(tmp_path / "nowhere"))
    _, err = proc.communicate(timeout=20)
    assert proc.returncode != 0
    assert err.strip().splitlines()[-1] == f"Error: --sounds: {tmp_path / 'nowhere'} is not a folder"
