"""/healthz, /metrics and `ivr status` over a running hotline: emulator, engine, worker, web UI."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from admin_helpers import Client
from click.testing import CliRunner
from conftest import TEST_SECRET
from engine_rig import Rig, running_rig

from ivr.admin.server import AdminServer
from ivr.asr.worker import TranscribeWorker
from ivr.cli import main
from ivr.ops.heartbeat import Heartbeat, with_heartbeats


@dataclass
class Hotline:
    rig: Rig
    admin: AdminServer
    beats: list[Heartbeat]

    async def get(self, path: str, **headers: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.get(self.admin.url + path, headers=headers) as r:
            return r.status, await r.text()

    async def beat(self) -> None:
        for b in self.beats:
            await b.beat_once()


@pytest.fixture
async def hotline(tmp_path: Path) -> AsyncIterator[Hotline]:
    async with running_rig(tmp_path, flags={"transcribe_workers": "1"}) as rig:
        settings = dataclasses.replace(rig.settings, admin_bind="127.0.0.1:0", cookie_secure=False)
        admin = AdminServer(settings, rig.database)
        worker = TranscribeWorker(settings, poll_seconds=0.2)
        services: list[Any] = with_heartbeats([worker, rig.engine], rig.database)
        beats = [s for s in services if isinstance(s, Heartbeat)]
        await worker.start()
        await admin.start()
        for b in beats:
            await b.start()
        try:
            yield Hotline(rig, admin, beats)
        finally:
            for b in beats:
                await b.stop()
            await admin.stop()
            await worker.stop()


def _status(rig: Rig, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--data-dir", str(rig.settings.data_dir), "status", *extra],
                                env={"IVR_SECRET_KEY": TEST_SECRET}, catch_exceptions=False)
    return result.exit_code, result.output


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or (line.startswith(name + "{") and line.split(" ")[0] == name):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_healthy_hotline_then_asterisk_goes_away(hotline: Hotline) -> None:
    rig = hotline.rig
    caller = await rig.dial()
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "9")
    await caller.wait_prompt("emergency")
    await rig.leave_message(caller)
    await caller.wait_hung_up()
    await rig.ended_call(caller)
    browser = Client(hotline.admin.url)
    try:
        await browser.login("nobody", "a wrong password")
    finally:
        await browser.close()
    await hotline.beat()

    status, body = await hotline.get("/healthz")
    health = json.loads(body)
    assert status == 200 and health["ok"], health
    assert health["checks"]["engine"]["ari_connected"] is True
    assert health["checks"]["engine"]["last_event_age_s"] is not None
    assert health["checks"]["transcribe"]["alive"] == 1
    assert health["checks"]["disk"]["free_bytes"] > 0

    status, text = await hotline.get("/metrics")
    assert status == 200
    assert _metric(text, "ivr_healthy") == 1
    assert _metric(text, 'ivr_calls_total{outcome="emergency"}') == 1
    assert _metric(text, "ivr_messages_kept_total") == 1
    assert _metric(text, "ivr_emergencies_unacknowledged") == 1
    assert _metric(text, "ivr_active_calls") == 0
    assert _metric(text, "ivr_signin_failures_total") == 1
    assert "ivr_transcription_queue_depth" in text
    code, out = _status(rig)
    assert code == 0 and out.strip().endswith("healthy")

    # Asterisk stops: the engine says so in its next heartbeat, and everything turns red.
    await rig.emulator.stop()
    async with asyncio.timeout(15):
        while rig.engine.app.connected.is_set():  # noqa: ASYNC110 (a cleared Event cannot be awaited)
            await asyncio.sleep(0.05)
    await hotline.beat()
    status, body = await hotline.get("/healthz")
    assert status == 503 and not json.loads(body)["checks"]["engine"]["ok"]
    code, out = _status(rig)
    assert code == 1 and "BAD  engine" in out and "not connected to Asterisk" in out
    code, out = _status(rig, "--json")
    assert code == 1 and json.loads(out)["ok"] is False
    _, text = await hotline.get("/metrics")
    assert _metric(text, "ivr_healthy") == 0 and _metric(text, 'ivr_check_ok{check="engine"}') == 0

    # Asterisk is back: the engine reconnects by itself, and the metrics count that.
    await rig.emulator.start()
    await rig.engine.app.wait_connected()
    await hotline.beat()
    status, text = await hotline.get("/metrics")
    assert _metric(text, "ivr_ari_reconnects_total") == 1
    assert _metric(text, "ivr_healthy") == 1 and _metric(text, 'ivr_check_ok{check="engine"}') == 1
    assert _metric(text, "ivr_disk_free_bytes") > 0 and _metric(text, "ivr_fallback_files") == 0


async def test_stale_worker_and_stuck_fallback_file_are_unhealthy(hotline: Hotline) -> None:
    rig = hotline.rig
    await rig.database.execute_write("update heartbeats set updated_at = '2020-01-01T00:00:00.000000Z' "
                                     "where name = 'transcribe'")
    folder = rig.settings.fallback_path
    folder.mkdir(parents=True, exist_ok=True)
    stuck = folder / "vm-1.wav"
    stuck.write_bytes(b"RIFF")
    old = time.time() - 3600
    os.utime(stuck, (old, old))
    # An emergency nobody has taken for an hour: the on-call alerts are not getting through.
    await rig.database.execute_write(
        "insert into cases (language, priority, emergency, created_at, updated_at) "
        "values ('my', 3, 1, '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z')")
    code, out = _status(rig)
    assert code == 1
    assert "BAD  transcribe" in out and "stopped or stuck" in out
    assert "BAD  fallback" in out and "1 voicemail file(s)" in out
    assert "BAD  emergencies" in out and "1 emergency case(s) not taken" in out
    _, text = await hotline.get("/metrics")
    assert _metric(text, "ivr_emergencies_unacknowledged") == 1
    assert _metric(text, "ivr_emergency_oldest_age_seconds") > 3600
    assert _metric(text, "ivr_fallback_files") == 1 and _metric(text, 'ivr_check_ok{check="fallback"}') == 0


async def test_only_this_machine_or_the_token_may_look(hotline: Hotline) -> None:
    assert (await hotline.get("/healthz"))[0] == 200
    # Relayed by a proxy on this machine: the request came from elsewhere.
    assert (await hotline.get("/healthz", **{"X-Forwarded-For": "203.0.113.9"}))[0] == 403
    assert (await hotline.get("/metrics", **{"X-Forwarded-For": "203.0.113.9"}))[0] == 403
    # With a token set, a monitoring server elsewhere may look, and only with it.
    settings = dataclasses.replace(hotline.admin.settings, monitor_token="m0nitor-token-123")
    guarded = Hotline(hotline.rig, AdminServer(settings, hotline.rig.database), [])
    await guarded.admin.start()
    try:
        assert (await guarded.get("/metrics"))[0] == 403
        assert (await guarded.get("/metrics", Authorization="Bearer wrong"))[0] == 403
        status, text = await guarded.get("/metrics", Authorization="Bearer m0nitor-token-123")
        assert status == 200 and "ivr_healthy" in text
    finally:
        await guarded.admin.stop()
