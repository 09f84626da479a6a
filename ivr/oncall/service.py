"""Wiring: the engine's escalation service with its ringer and message sender, and start-up lines."""

from __future__ import annotations

import logging

from ivr.ari.client import AriClient
from ivr.db.writer import Database
from ivr.oncall import rota
from ivr.oncall.check import endpoint_problems, rota_problems
from ivr.oncall.escalation import EscalationService
from ivr.oncall.messages import MessageSender
from ivr.oncall.phone import PromptMedia, Ringer
from ivr.settings import Settings

log = logging.getLogger(__name__)


def build_escalations(settings: Settings, database: Database, client: AriClient, prompts: PromptMedia, *,
                      time_scale: float = 1.0) -> EscalationService:
    messages = MessageSender(settings, database)
    return CheckedEscalations(settings, database, Ringer(settings, client, prompts, time_scale=time_scale),
                              messages, time_scale=time_scale)


class CheckedEscalations(EscalationService):
    """The service, saying at start-up (one ERROR line each) what would stop an alert reaching anyone."""

    async def start(self) -> None:
        staff = await self.database.read(lambda db: rota.list_staff(db, active_only=True))
        self.staff_count = len(staff)
        problems = rota_problems(staff, self.settings) + await endpoint_problems(self.ringer.client, staff)
        for line in problems:
            log.error("%s", line)
        channels = ["phone", *(self.messages.channels if self.messages else [])]
        log.info("oncall: %d on the rota; alerts by %s", len(staff), ", ".join(channels))
        await super().start()
