"""`ivr serve` and `ivr demo`, run as a user runs them: the real command in a subprocess."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from admin_helpers import Client
from asr_support import korean_model_path
from conftest import REPO

from ivr.admin.server import AdminServer
from ivr.db.writer import Database
from ivr.settings import load


def _ivr(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivr", *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update({"IVR_DATA_DIR": str(tmp_path / "var"), "IVR_ADMIN_BIND": "127.0.0.1:0", **extra})
    return env


def test_serve_without_a_secret_stops_with_one_line(tmp_path: Path) -> None:
    result = _ivr(["serve"], _env(tmp_path), timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: IVR_SECRET_KEY: `ivr serve` needs a secret (set IVR_SECRET_KEY or IVR_SECRET_KEY_FILE)"
    ]


async def test_demo_places_calls_that_become_cases(tmp_path: Path) -> None:
    korean_model_path()  # the demo's fifth caller speaks Korean, for the test model to transcribe
    # Two languages keep the prompt build short (the demo adds Korean); the speed-up keeps the calls short.
    env = _env(tmp_path, IVR_LANGUAGES="en,th", IVR_MODELS_DIR=str(tmp_path / "no-models"))
    result = await asyncio.to_thread(_ivr, ["demo", "--exit-after-calls", "--speed", "4"], env, timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "user: demo" in result.stdout
    for n in range(1, 6):
        assert f"demo call {n}:" in result.stdout and "did not finish" not in result.stdout
    db = sqlite3.connect(tmp_path / "var" / "ivr.db")
    try:
        calls = db.execute("select language, menu_choice, outcome, ended_at from calls order by started_at").fetchall()
        assert sorted(c[1] for c in calls) == ["callback", "emergency", "message", "message", "report"]
        assert {c[0] for c in calls} == {"en", "th", "ko"}
        assert all(c[3] is not None for c in calls), "every call row is closed"
        assert db.execute("select count(*) from cases where source_call_id is not null").fetchone()[0] == 5
        assert db.execute("select count(*) from cases where priority = 3").fetchone()[0] == 1
        stored = db.execute("select count(*) from recordings where state = 'stored'").fetchone()[0]
        assert stored == 4  # report, two messages, emergency; the call-back leaves no message
        # The Korean message has a machine transcript, made by the model the test set-up installs.
        case_id, text = db.execute(
            "select r.case_id, t.text from transcripts t join recordings r on r.id = t.recording_id "
            "join cases c on c.id = r.case_id where c.language = 'ko' and t.engine = 'vosk'").fetchone()
        assert any("\uac00" <= ch <= "\ud7a3" for ch in text), text  # Hangul
        assert "machine transcripts: 1" in result.stdout
        assert not (REPO / "asr_models" / "ko").exists(), "the demo links its model in its own data dir"
        assert db.execute("select role from users where username = 'demo'").fetchone() == ("supervisor",)
        # One login per role is printed, and a small supply chain is seeded with figures above k.
        roles = {r[0] for r in db.execute("select role from users where username like 'demo%'").fetchall()}
        assert roles == {"supervisor", "caseworker", "admin", "brand"}
        for role in roles:
            assert f"{role:<11} user: demo" in result.stdout, role
        assert db.execute("select count(*) from workplaces").fetchone()[0] == 3
        biggest = db.execute("select count(*) from cases where workplace_confirmed = 1 "
                             "group by workplace_id order by 1 desc").fetchone()[0]
        assert biggest > 5 * 12
    finally:
        db.close()
    # Nothing identifying is printed: the demo callers' numbers never reach the output.
    assert "+668000000" not in result.stdout + result.stderr
    # The case page shows the machine transcript to the demo supervisor.
    password = re.search(r"supervisor\s+user: demo\s+password: (\S+)", result.stdout)
    assert password is not None
    settings = load(environ={}, mode="admin", flags={
        "data_dir": str(tmp_path / "var"), "secret_key": (tmp_path / "var" / "demo-secret-key").read_text().strip(),
        "admin_bind": "127.0.0.1:0"})
    database = Database(settings.db_path)
    server = AdminServer(dataclasses.replace(settings, cookie_secure=False), database)
    await server.start()
    client = Client(server.url)
    try:
        status, _ = await client.login("demo", password.group(1))
        assert status == 200
        status, page = await client.get(f"/cases/{case_id}")
        assert status == 200 and "version 1, by the machine" in page and "<dd>Korean</dd>" in page
        assert all(word in page for word in text.split()), text
    finally:
        await client.close()
        await server.stop()
        database.close()
