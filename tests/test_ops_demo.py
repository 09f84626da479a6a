"""`ivr demo` keeps to a scratch data dir: no demo user is ever left where `ivr serve` looks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow


def test_demo_without_a_data_dir_leaves_nothing_in_the_default_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update({"IVR_LANGUAGES": "en", "IVR_ADMIN_BIND": "127.0.0.1:0", "IVR_PROMPTS_DIR": str(REPO / "prompts"),
                "IVR_FLOWS_DIR": str(REPO / "callflows"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
                "TMPDIR": str(tmp_path / "tmp")})
    (tmp_path / "tmp").mkdir()
    home = tmp_path / "site"   # where an operator would run `ivr serve`: its ./var is the default data dir
    home.mkdir()
    result = subprocess.run([sys.executable, "-m", "ivr", "demo", "--no-calls", "--exit-after-calls"], cwd=home,
                            env=env, capture_output=True, text=True, timeout=280, check=False)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "user: demo" in result.stdout
    assert not (home / "var").exists(), "the default data dir was not touched"
    assert list((tmp_path / "tmp").iterdir()) == [], "the scratch data dir is gone"
    assert any((tmp_path / "cache" / "ivr" / "demo-prompts" / "en").glob("*.wav")), "built prompts are cached"
