"""Fixtures every part of the suite shares. Parts add their own in their test modules."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.db.writer import Database
from ivr.settings import Settings, load

REPO = Path(__file__).resolve().parents[1]
# The reference captures and spec of a real Asterisk 22 sit beside the clone.
SHARED = Path(os.environ.get("IVR_SHARED_DIR", REPO.parent / "shared"))
ARI_SHARED = SHARED / "asterisk-ari"

requires_shared = pytest.mark.skipif(
    not ARI_SHARED.is_dir(),
    reason=f"{ARI_SHARED} is absent: the Asterisk 22 spec and captures live beside the clone",
)

TEST_SECRET = "test-secret-key-0123456789abcdef"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 free right now (TCP, or ``socket.SOCK_DGRAM`` for UDP), so runs never collide."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a throwaway deployment in ``tmp_path`` (the environment is ignored)."""
    return load(
        environ={},
        flags={
            "data_dir": str(tmp_path / "var"),
            "secret_key": TEST_SECRET,
            "prompts_dir": str(REPO / "prompts"),
            "flows_dir": str(REPO / "callflows"),
            "models_dir": str(tmp_path / "models"),
        },
        mode="serve",
    )


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings.db_path)
    yield db
    db.close()


# -- real-server tests: a skip is a failure where Asterisk is expected ------------------------------------------

def asterisk_expected() -> str | None:
    """Why a real-server test must not skip here (CI, the shared Asterisk source beside the clone), or None."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        return "CI is set"
    if os.environ.get("IVR_TEST_ASTERISK") == "1":
        return "IVR_TEST_ASTERISK=1"
    if (SHARED / "asterisk").is_dir():
        return f"{SHARED / 'asterisk'} exists"
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
    if report.skipped and item.get_closest_marker("asterisk") is not None:
        expected = asterisk_expected()
        if expected:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            report.outcome = "failed"
            report.longrepr = f"a real-Asterisk test may not skip here ({expected}): {reason}"
    return report
