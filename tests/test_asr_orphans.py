"""Transcription workers exit when their parent dies (issue 20, item 8): `kill -9` of `ivr serve`
must not leave workers behind (PPID 1, a model in memory each, still claiming jobs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, TEST_SECRET

from ivr.asr.process import ParentWatch


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(condition: object, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {limit:.0f} s: {what}")
        time.sleep(0.1)


def test_workers_exit_when_serve_is_killed(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "catalog.yaml").write_text("prompts:\n  greeting:\n    en: Hello.\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update({"IVR_DATA_DIR": str(tmp_path / "var"), "IVR_SECRET_KEY": TEST_SECRET, "IVR_ADMIN_BIND": "127.0.0.1:0",
                "IVR_LANGUAGES": "en", "IVR_PROMPTS_DIR": str(prompts), "IVR_TRANSCRIBE_WORKERS": "2",
                "IVR_ARI_URL": "http://127.0.0.1:9", "IVR_LOG_LEVEL": "WARNING"})
    serve = subprocess.Popen([sys.executable, "-m", "ivr", "serve"], cwd=REPO, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def workers() -> list[int]:
            # the spawn start method adds a resource tracker; the workers run ivr's main
            return [p for p in children(serve.pid)
                    if b"multiprocessing.spawn" in Path(f"/proc/{p}/cmdline").read_bytes()
                    and b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()]

        wait_until(lambda: len(workers()) == 2, "two worker processes started")
        pids = workers()
        serve.send_signal(signal.SIGKILL)
        serve.wait()
        wait_until(lambda: not any(alive(p) for p in pids), f"workers {pids} gone after kill -9 of their parent")
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


class Flag:
    value = 0


def test_a_worker_whose_parent_is_gone_stops_even_without_pdeathsig() -> None:
    assert ParentWatch(Flag(), os.getppid()).value == 0
    assert ParentWatch(Flag(), os.getppid() + 100000).value == 1  # not our parent any more
