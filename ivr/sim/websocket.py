"""The ARI event WebSocket: ``GET /ari/events?app=NAME[,NAME]&subscribeAll=false``."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web

from ivr.sim.state import World

log = logging.getLogger(__name__)


class AppConnection:
    """One app's socket. ``send`` never blocks: a writer task drains the queue in order."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.writer = asyncio.create_task(self._write())

    def send(self, text: str) -> None:
        self.queue.put_nowait(text)

    async def _write(self) -> None:
        while (text := await self.queue.get()) is not None:
            if self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def close(self) -> None:
        self.queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self.writer
        await self.ws.close()


class EventSockets:
    def __init__(self, world: World) -> None:
        self.world = world
        self.connections: set[AppConnection] = set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        apps = [a for a in request.query.get("app", "").split(",") if a]
        if not apps:
            return web.json_response({"message": "Invalid application provided in query parameters."}, status=400)
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        conn = AppConnection(ws)
        self.connections.add(conn)
        replaced = []
        for app in apps:
            old = self.world.apps.get(app)
            if isinstance(old, AppConnection) and old is not conn:
                replaced.append(old)
            self.world.apps[app] = conn
        for old in replaced:  # a new socket for the same app takes over, as in Asterisk
            await old.close()
        log.info("app %s connected", ",".join(apps))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            for app in apps:
                if self.world.apps.get(app) is conn:
                    del self.world.apps[app]
            self.connections.discard(conn)
            await conn.close()
            log.info("app %s disconnected", ",".join(apps))
        return ws

    async def close_all(self) -> None:
        for conn in list(self.connections):
            await conn.close()
