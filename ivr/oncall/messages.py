"""Email and webhook messages for an escalation, each retried with backoff, never blocking the phones.

Each channel's state lives in ``escalation_messages`` (pending, sent, failed, attempts and
the last error), shown on the case page; a restarted engine sends what is still pending.
Errors are logged by type and case id only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import aiohttp

from ivr.db.writer import Database
from ivr.oncall import email, payload, store, webhook
from ivr.settings import Settings

log = logging.getLogger(__name__)

ATTEMPTS = 6
FIRST_WAIT_S = 2.0     # then 4, 8, 16, 32 s


def configured_channels(settings: Settings) -> list[str]:
    out = []
    if settings.smtp_host and settings.alert_email_to:
        out.append("email")
    if settings.alert_webhook_url:
        out.append("webhook")
    return out


def describe(exc: Exception) -> str:
    """A short reason for the case page: the error's kind and an SMTP or HTTP status, no more
    (a server's text or an address with a token in it has no place there)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__} (SMTP {exc.smtp_code})"
    if isinstance(exc, webhook.WebhookError):
        return f"refused ({exc})"
    return type(exc).__name__


class MessageSender:
    def __init__(self, settings: Settings, database: Database, *, first_wait: float = FIRST_WAIT_S,
                 attempts: int = ATTEMPTS) -> None:
        self.settings = settings
        self.database = database
        self.first_wait = first_wait
        self.attempts = attempts
        self.channels = configured_channels(settings)
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, esc_id: int, case_id: int) -> None:
        task = asyncio.create_task(self._send_all(esc_id, case_id), name=f"oncall-messages-{esc_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Until every message started so far is sent or given up (for tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.close()

    def _sender(self, channel: str) -> Callable[[dict[str, Any]], Awaitable[None]] | None:
        if channel == "email":
            return lambda p: email.send(self.settings, p)
        if channel == "webhook":
            if self._http is None:
                self._http = aiohttp.ClientSession()
            http = self._http
            return lambda p: webhook.send(http, self.settings, p)
        return None

    async def _send_all(self, esc_id: int, case_id: int) -> None:
        rows = await self.database.read(lambda db: store.pending_messages(db, esc_id))
        body = await self.database.read(lambda db: payload.build(db, self.settings, case_id))
        await asyncio.gather(*(self._deliver(row, body, case_id) for row in rows))

    async def _deliver(self, row: dict[str, Any], body: dict[str, Any], case_id: int) -> None:
        channel, msg_id = str(row["channel"]), int(row["id"])
        sender = self._sender(channel)
        if sender is None:
            return
        wait = self.first_wait
        for attempt in range(int(row["attempts"]) + 1, self.attempts + 1):
            try:
                await sender(body)
            except Exception as exc:   # a refused login, a timeout, a 500: all retried the same way
                final = attempt >= self.attempts
                error = describe(exc)
                await self.database.write(partial(store.message_result, msg_id=msg_id, ok=False, error=error,
                                                  final=final))
                log.warning("oncall case=%d %s attempt %d failed (%s)%s", case_id, channel, attempt,
                            type(exc).__name__, "; giving up" if final else f"; again in {wait:.0f}s")
                if final:
                    return
                await asyncio.sleep(wait)
                wait *= 2
                continue
            await self.database.write(lambda db: store.message_result(db, msg_id, ok=True, error=None, final=True))
            log.info("oncall case=%d %s sent", case_id, channel)
            return
