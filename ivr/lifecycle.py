"""Running long-lived services together until SIGINT or SIGTERM.

A service is anything with ``async start()`` and ``async stop()``. ``start`` returns
once the service is ready (a port is bound, a socket is connected or retrying);
``stop`` undoes it. Services stop in the reverse of the order they started.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from ivr.db.writer import Database

log = logging.getLogger(__name__)


# The exit status of a service that stopped itself to be started again (EX_TEMPFAIL): systemd's
# Restart=on-failure does so, and an operator reading `systemctl status` sees it was deliberate.
EXIT_RESTART = 75


def exit_for_restart(reason: str) -> None:
    """Stop this process at once so that its service manager starts it again: for a fault that only a
    fresh process mends, such as the database file replaced under it (ivr.db.writer.DatabaseMoved).

    At once, not gracefully: the engine is built to survive ``kill -9`` with calls in progress (they
    resume, the dialplan takes new ones meanwhile), while a graceful stop would try to write more.
    """
    log.critical("stopping to be restarted (exit status %d): %s", EXIT_RESTART, reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(EXIT_RESTART)


def service_database(path: Path) -> Database:
    """The database of a long-running service (engine, web UI, transcription, ``ivr serve``): if its file is
    taken from under it, the service stops to be restarted (:func:`exit_for_restart`) instead of writing on
    into a file no other process reads."""
    return Database(path, on_moved=exit_for_restart)


class PortInUse(Exception):
    """A service cannot bind its port. The message names the setting: ``IVR_ADMIN_BIND 127.0.0.1:8080 is in use``."""

    def __init__(self, setting: str, host: str, port: int) -> None:
        super().__init__(f"{setting} {host}:{port} is in use")


async def start_site(site: Any, setting: str, host: str, port: int) -> None:
    """``await site.start()`` for an aiohttp site, turning a busy port into :class:`PortInUse`."""
    try:
        await site.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(setting, host, port) from None
        raise


class Service(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def run_services(
    services: Sequence[Service],
    *,
    stop: asyncio.Event | None = None,
    after_start: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Start ``services``, wait for a signal (or ``stop``), then stop them all."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    started: list[Service] = []
    try:
        for service in services:
            await service.start()
            started.append(service)
            log.info("%s started", service.name)
        if after_start is not None:
            await after_start()
        await stop.wait()
        log.info("stopping")
    finally:
        for service in reversed(started):
            try:
                await service.stop()
                log.info("%s stopped", service.name)
            except Exception:
                log.exception("%s did not stop cleanly", service.name)
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass
