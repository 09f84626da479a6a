"""``Emulator``: an Asterisk 22 stand-in speaking ARI over aiohttp on 127.0.0.1 (see ivr/sim/*.py).

The parts: ``state`` (channels, bridges, the event bus), ``switch`` (Local pairs, Stasis, hang-up
order, DTMF, audio paths), ``playback`` and ``recording`` (media operations), ``routes`` (REST)
and ``websocket`` (events). ``restart()`` stops and starts it on the same port, keeping the
channels (a network outage) or dropping them (a real Asterisk restart).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from pathlib import Path

from aiohttp import web

from ivr.lifecycle import start_site
from ivr.sim.clock import Clock
from ivr.sim.routes import AriError, Handler, Routes
from ivr.sim.state import World
from ivr.sim.switch import Switch
from ivr.sim.websocket import EventSockets

log = logging.getLogger(__name__)


class Emulator:
    """A Service: ``await start()`` binds the port; ``.url`` is then ``http://127.0.0.1:PORT``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        user: str,
        password: str,
        sounds_dir: Path,
        spool_dir: Path,
        routes: dict[str, str | None] | None = None,
        default_app: str = "hotline",
        speed: float = 1.0,
    ) -> None:
        self.name = "asterisk-emulator"
        self.host = host
        self.port = port
        self._credentials = (user, password)
        self.clock = Clock(speed)
        self.world = World(
            sounds_dir=Path(sounds_dir), spool_dir=Path(spool_dir), routes=dict(routes or {}),
            default_app=default_app, clock=self.clock,
        )
        self.switch = Switch(self.world)
        self.sockets = EventSockets(self.world)
        self.routes = Routes(self.world, self.switch)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth, self._errors])
        app.router.add_get("/ari/events", self.sockets.handle)
        self.routes.add_to(app)
        return app

    async def start(self) -> None:
        self.world.spool_dir.mkdir(parents=True, exist_ok=True)
        self._runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await start_site(site, "--port", self.host, self.port)
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        server = getattr(site, "_server", None)
        if self.port == 0 and server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        log.info("emulated Asterisk listening on %s", self.url)

    async def stop(self) -> None:
        await self.sockets.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def restart(self, *, keep_channels: bool, downtime: float = 0.0) -> None:
        """Go away for ``downtime`` wall seconds and come back on the same port.

        ``keep_channels=False`` is a real Asterisk restart: every call is gone, with no event
        (no app is connected to hear one). ``keep_channels=True`` is an outage of the ARI
        connection only: calls stay in Stasis and their prompts keep playing.
        """
        await self.stop()
        if not keep_channels:
            for ch in list(self.world.channels.values()):
                self.switch.drop(ch)
            self.world.playbacks.clear()
            self.world.recordings.clear()
            self.world.bridges.clear()
        await asyncio.sleep(downtime)
        await self.start()

    async def disconnect_apps(self) -> None:
        """Close every event socket (the server stays up), as a network blip would."""
        await self.sockets.close_all()

    # -- middleware -------------------------------------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self._authorised(request):
            return web.json_response(
                {"message": "Authentication required"}, status=401,
                headers={"WWW-Authenticate": 'Basic realm="Asterisk REST Interface"'},
            )
        return await handler(request)

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return (user, password) == self._credentials
        api_key = request.query.get("api_key")
        return api_key is not None and tuple(api_key.split(":", 1)) == self._credentials

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except AriError as exc:
            return web.json_response({"message": exc.message}, status=exc.status)
        except web.HTTPNotFound:
            return web.json_response({"message": "Resource not found"}, status=404)
        except web.HTTPMethodNotAllowed:
            return web.json_response({"message": "Method not allowed"}, status=405)
