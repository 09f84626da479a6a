"""`ivr transcribe`: the transcription worker as a Service.

It starts ``settings.transcribe_workers`` processes (spawned, so no thread or event
loop state is copied) that each claim jobs from the database. A process that dies is
replaced; the job it held is claimed again when its lease runs out. On stop the
processes put any job they are decoding back in the queue.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from pathlib import Path

from ivr.asr.process import WorkerConfig, main
from ivr.db import connect
from ivr.db.connect import check_usable
from ivr.db.schema import migrate
from ivr.settings import Settings

log = logging.getLogger(__name__)


def rss_kib(pid: int) -> int | None:
    """Resident memory of a process, from /proc (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class RestartPolicy:
    """How long to wait before replacing a worker process that died.

    A process that dies soon after starting (a broken model, a bad install) would otherwise
    be restarted every second forever; each quick death doubles the wait, up to ``longest``,
    and a process that ran for ``healthy`` seconds resets it.
    """

    shortest: float = 1.0
    longest: float = 60.0
    healthy: float = 120.0
    wait: float = 0.0

    def after_death(self, lived: float) -> float:
        if lived >= self.healthy or self.wait == 0.0:
            self.wait = self.shortest
        else:
            self.wait = min(self.wait * 2, self.longest)
        return self.wait


class TranscribeWorker:
    name = "transcribe"

    def __init__(self, settings: Settings, *, lease_seconds: float = 60.0, poll_seconds: float = 1.0,
                 stop_timeout: float = 30.0) -> None:
        self.settings = settings
        self.config = WorkerConfig(
            db_path=settings.db_path, data_dir=settings.data_dir, models_dir=settings.models_dir,
            max_seconds=settings.transcribe_max_seconds, lease_seconds=lease_seconds,
            poll_seconds=poll_seconds, log_level=settings.log_level)
        self.stop_timeout = stop_timeout
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = self._ctx.RawValue("b", 0)  # see ivr.asr.process.StopFlag
        self.processes: list[SpawnProcess] = []
        self._policies: list[RestartPolicy] = []
        self._started: dict[int, float] = {}
        self._monitor: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # The schema must exist before the processes poll it (a worker may start first).
        db = connect(self.settings.db_path)
        try:
            migrate(db)
            check_usable(db, self.settings.db_path)
        finally:
            db.conn.close()
        self._stop.value = 0
        self.processes = [self._spawn(i) for i in range(self.settings.transcribe_workers)]
        self._policies = [RestartPolicy() for _ in self.processes]
        self._monitor = asyncio.create_task(self._watch(), name="transcribe-monitor")

    def _spawn(self, index: int) -> SpawnProcess:
        proc = self._ctx.Process(target=main, args=(self.config, self._stop, os.getpid()),
                                 name=f"ivr-transcribe-{index}",
                                 daemon=True)
        proc.start()
        self._started[index] = time.monotonic()
        log.info("worker process %d started (pid %s)", index, proc.pid)
        return proc

    async def _watch(self) -> None:
        due: dict[int, float] = {}  # slot -> when its dead process may be replaced
        while not self._stop.value:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for index, proc in enumerate(self.processes):
                if proc.is_alive() or self._stop.value:
                    continue
                if index not in due:
                    wait = self._policies[index].after_death(now - self._started[index])
                    due[index] = now + wait
                    log.warning("worker process %d (pid %s) exited with %s; starting another in %.0f s",
                                index, proc.pid, proc.exitcode, wait)
                if now >= due[index]:
                    del due[index]
                    self.processes[index] = self._spawn(index)

    def memory(self) -> dict[int, int | None]:
        """RSS in KiB of each worker process, by pid."""
        return {p.pid: rss_kib(p.pid) for p in self.processes if p.pid is not None}

    async def stop(self) -> None:
        self._stop.value = 1
        if self._monitor is not None:
            self._monitor.cancel()
            try:
                await self._monitor
            except asyncio.CancelledError:
                pass
        loop = asyncio.get_running_loop()
        for proc in self.processes:
            await loop.run_in_executor(None, proc.join, self.stop_timeout)
            if proc.is_alive():
                log.warning("worker process pid %s did not stop in time; terminating", proc.pid)
                proc.terminate()
                await loop.run_in_executor(None, proc.join, 5.0)
        self.processes = []
