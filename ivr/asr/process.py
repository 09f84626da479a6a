"""The loop inside one transcription worker process.

Each process owns its database connection and its decoders (one Model per language,
loaded the first time a job in that language arrives and kept). Claims, lease
renewals and results are short transactions; decoding happens outside them.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import sqlite_utils

from ivr import log as ivr_log
from ivr.asr import jobs
from ivr.asr.audio import AudioError
from ivr.asr.decode import Cancelled, Decoder, Transcription
from ivr.asr.flagging import Flagger
from ivr.asr.models import ModelError, ModelStore
from ivr.db import connect

log = logging.getLogger(__name__)


class StopFlag(Protocol):
    """Shared flag the parent sets to 1 to stop the workers.

    A lock-free shared byte, not a multiprocessing.Event: a worker killed while waiting
    on an Event leaves it broken, and setting it would then hang the parent forever.
    """

    value: int


class LeaseLost(Exception):
    """Another worker took the job over (our lease ran out)."""


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker process needs, picklable for the ``spawn`` start method."""

    db_path: Path
    data_dir: Path
    models_dir: Path
    max_seconds: int
    lease_seconds: float = 60.0
    poll_seconds: float = 1.0
    log_level: str = "INFO"
    keywords_dir: Path | None = None


class JobRunner:
    """Claims and handles jobs one at a time until told to stop."""

    def __init__(self, config: WorkerConfig, db: sqlite_utils.Database, stop: StopFlag) -> None:
        self.config = config
        self.db = db
        self.stop = stop
        self.store = ModelStore(config.models_dir)
        self.flagger = Flagger(config.keywords_dir) if config.keywords_dir else Flagger()
        self.decoders: dict[str, Decoder] = {}
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def run(self) -> None:
        while not self.stop.value:
            if not self.run_one():
                time.sleep(self.config.poll_seconds)

    def run_one(self) -> bool:
        """Handle one job; False when the queue was empty."""
        job = jobs.claim(self.db, self.owner, self.config.lease_seconds)
        if job is None:
            return False
        log.info("job=%d recording=%s claimed (attempt %d)", job.id, job.recording_id, job.attempts)
        try:
            self.handle(job)
        except Cancelled:
            jobs.release(self.db, job.id, self.owner)
            log.info("job=%d put back in the queue (stopping)", job.id)
        except LeaseLost:
            log.warning("job=%d lease ran out while decoding; another worker has it", job.id)
        except Exception as exc:
            # Never the message text of arbitrary errors in the job row: it could carry content.
            log.exception("job=%d failed unexpectedly", job.id)
            state = "failed" if job.attempts >= jobs.MAX_ATTEMPTS else "queued"
            jobs.finish(self.db, job, self.owner, state, f"internal error ({type(exc).__name__})",
                        needs_human=state == "failed")
        return True

    def _end(self, job: jobs.Job, state: str, reason: str, *, needs_human: bool = False) -> None:
        jobs.finish(self.db, job, self.owner, state, reason, needs_human=needs_human)
        log.info("job=%d %s: %s", job.id, state, reason)

    def decoder(self, lang: str) -> Decoder:
        if lang not in self.decoders:
            path = self.store.require(lang)
            started = time.perf_counter()
            self.decoders[lang] = Decoder(path)
            log.info("loaded model for %s in %.1f s", lang, time.perf_counter() - started)
        return self.decoders[lang]

    def handle(self, job: jobs.Job) -> None:
        if job.recording_id is None or job.path is None:
            return self._end(job, "failed", "recording has no file (deleted, or never stored)")
        if not job.language:
            return self._end(job, "needs_human", "the caller's language is not known", needs_human=True)
        try:
            decoder = self.decoder(job.language)
        except ModelError as exc:
            return self._end(job, "needs_human", str(exc), needs_human=True)
        path = self.config.data_dir / job.path
        last_renew = 0.0

        def progress(_: float) -> bool:
            nonlocal last_renew
            if time.monotonic() - last_renew > self.config.lease_seconds / 4:
                if not jobs.renew(self.db, job.id, self.owner, self.config.lease_seconds):
                    raise LeaseLost()
                last_renew = time.monotonic()
            return not self.stop.value

        progress(0.0)  # loading the model may have taken a while: renew before decoding

        try:
            result = decoder.transcribe(path, max_seconds=self.config.max_seconds, progress=progress)
        except AudioError as exc:
            return self._end(job, "failed", str(exc), needs_human=True)
        self.store_result(job, result)

    def store_result(self, job: jobs.Job, result: Transcription) -> None:
        if result.duration <= 0:
            return self._end(job, "skipped", "recording is empty (no audio)")
        if not result.words:
            if result.silent:
                return self._end(job, "skipped", f"recording is silent ({result.duration:.1f} s, no speech)")
            return self._end(job, "needs_human", "no words recognised; a person should listen", needs_human=True)
        reason = None
        if result.truncated:
            reason = (f"recording is {result.total_duration:.0f} s long; transcribed the first "
                      f"{result.duration:.0f} s, a person should listen to the rest")
        categories = self.flagger.categories(job.language, result.text)
        tid = jobs.store_transcript(
            self.db, job, self.owner, model=result.model, text=result.text, words=result.words,
            confidence=result.confidence, categories=categories, reason=reason, needs_human=result.truncated,
            emergency=self.flagger.emergency(job.language, result.text))
        if tid is None:
            log.warning("job=%d lease lost before saving; another worker has it", job.id)
            return None
        log.info("job=%d done: transcript=%d %.1f s audio in %.1f s, %d words, %d categories flagged%s",
                 job.id, tid, result.duration, result.seconds, len(result.words), len(categories),
                 " (truncated)" if result.truncated else "")
        return None


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies (prctl PR_SET_PDEATHSIG).

    Without it a worker whose ``ivr serve`` was killed with -9 lives on as an orphan, holding
    its model's memory and claiming jobs. False where prctl is not available (not Linux).
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return bool(libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


class ParentWatch:
    """The stop flag, raised as well when the parent process is gone (the fallback where
    PR_SET_PDEATHSIG is missing, or the parent's spawning thread outlived it)."""

    def __init__(self, stop: StopFlag, parent: int) -> None:
        self._stop = stop
        self.parent = parent

    @property
    def value(self) -> int:
        if self._stop.value:
            return 1
        if os.getppid() != self.parent:
            log.warning("parent process %d is gone; stopping", self.parent)
            return 1
        return 0

    @value.setter
    def value(self, new: int) -> None:
        self._stop.value = new


def main(config: WorkerConfig, stop: StopFlag, parent: int | None = None) -> None:
    """Entry point of a worker process; ``parent`` is the pid of the process that started it."""
    # Ctrl-C reaches the whole process group; the parent tells us to stop through ``stop``
    # so a job being decoded is put back cleanly instead of being cut off.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    parent = os.getppid() if parent is None else parent
    if os.getppid() != parent:  # it died before prctl took effect
        return
    ivr_log.setup(config.log_level)
    db = connect(config.db_path)
    try:
        JobRunner(config, db, ParentWatch(stop, parent)).run()
    finally:
        db.conn.close()


__all__ = ["JobRunner", "ModelError", "WorkerConfig", "main"]
