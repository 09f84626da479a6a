"""Heartbeats: each long-running part writes its state to the ``heartbeats`` table every few seconds.

The web UI's ``/healthz`` and ``/metrics`` and ``ivr status`` may run in another process than
the engine or the transcription worker (one systemd unit each, or `ivr serve`); the database is
what they share. A row older than :data:`STALE_AFTER_S` means its process has stopped or hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import sqlite_utils

from ivr.db.connect import utcnow
from ivr.db.writer import Database

log = logging.getLogger(__name__)

EVERY_S = 10.0
STALE_AFTER_S = 3 * EVERY_S

StateFn = Callable[[], dict[str, Any]]


def beat(db: sqlite_utils.Database, name: str, started_at: str, state: dict[str, Any]) -> None:
    db.execute(
        "insert into heartbeats (name, pid, started_at, updated_at, state) values (?, ?, ?, ?, ?) "
        "on conflict (name) do update set pid = excluded.pid, started_at = excluded.started_at, "
        "updated_at = excluded.updated_at, state = excluded.state",
        [name, os.getpid(), started_at, utcnow(), json.dumps(state, sort_keys=True)],
    )


def read_all(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    """name -> {pid, started_at, updated_at, age_s, state}."""
    now = dt.datetime.now(dt.UTC)
    out: dict[str, dict[str, Any]] = {}
    for row in db.query("select * from heartbeats"):
        updated = dt.datetime.fromisoformat(row["updated_at"])
        if updated.tzinfo is None:
            updated = updated.replace(tzinfo=dt.UTC)
        out[row["name"]] = {**row, "age_s": round((now - updated).total_seconds(), 1),
                            "state": json.loads(row["state"] or "{}")}
    return out


class Heartbeat:
    """A Service that writes ``state()`` under ``part`` now and every ``every`` seconds until stopped."""

    def __init__(self, database: Database, part: str, state: StateFn, *, every: float = EVERY_S) -> None:
        self.name = f"heartbeat-{part}"
        self.part = part
        self.database = database
        self.state = state
        self.every = every
        self.started_at = utcnow()
        self._task: asyncio.Task[None] | None = None

    async def beat_once(self) -> None:
        state = self.state()
        part, started = self.part, self.started_at
        await self.database.write(lambda db: beat(db, part, started, state))

    async def start(self) -> None:
        await self.beat_once()
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.beat_once()
            except Exception:   # a locked or full database: the stale row tells the operator
                log.exception("%s: could not write the heartbeat", self.part)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def engine_state(engine: Any) -> StateFn:
    """What the engine reports: ARI connection, last event, calls in progress, reconnects."""
    app = engine.app

    def state() -> dict[str, Any]:
        last = app.last_event_at
        return {"ari_connected": app.connected.is_set(),
                "last_event_age_s": None if last is None else round(time.time() - last, 1),
                "active_calls": len(engine.sessions), "ari_reconnects": max(0, app.connects - 1)}

    return state


def transcribe_state(worker: Any) -> StateFn:
    def state() -> dict[str, Any]:
        return {"processes": worker.settings.transcribe_workers,
                "alive": sum(1 for p in worker.processes if p.is_alive())}

    return state


def admin_state() -> dict[str, Any]:
    return {}


def with_heartbeats(services: list[Any], database: Database) -> list[Any]:
    """``services`` followed by a heartbeat for each engine and transcription worker among them."""
    from ivr.asr.worker import TranscribeWorker
    from ivr.engine.service import Engine

    beats: list[Any] = []
    for service in services:
        if isinstance(service, Engine):
            beats.append(Heartbeat(database, "engine", engine_state(service)))
        elif isinstance(service, TranscribeWorker):
            beats.append(Heartbeat(database, "transcribe", transcribe_state(service)))
    return [*services, *beats]
