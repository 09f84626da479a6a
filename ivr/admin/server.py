"""The web UI as a Service: binds settings.admin_bind (port 0 picks a free port)."""

from __future__ import annotations

import logging

from aiohttp import web

from ivr.admin.app import create_app
from ivr.db.writer import Database
from ivr.lifecycle import start_site
from ivr.settings import Settings

log = logging.getLogger(__name__)


class AdminServer:
    name = "admin"

    def __init__(self, settings: Settings, database: Database, *, port: int | None = None) -> None:
        self.settings = settings
        self.database = database
        self.host = settings.admin_host
        self._port = settings.admin_port if port is None else port
        self._runner: web.AppRunner | None = None
        self.app: web.Application | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

    async def start(self) -> None:
        self.app = create_app(self.settings, self.database)
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        try:
            await start_site(site, "IVR_ADMIN_BIND", self.host, self._port)
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        if self._port == 0:
            self._port = int(self._runner.addresses[0][1])
        log.info("web UI listening on %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
