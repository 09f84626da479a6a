"""``GET /healthz`` and ``GET /metrics`` in the web UI, and the web process's own heartbeat.

Both answer only a direct request from this machine (loopback, not relayed by a proxy), or,
when ``IVR_MONITOR_TOKEN`` is set, a request with ``Authorization: Bearer <token>``: they show
how busy the hotline is, which is nobody else's business.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from collections.abc import AsyncIterator

from aiohttp import web

from ivr.admin.auth import public
from ivr.admin.keys import DATABASE, SETTINGS
from ivr.ops import health, heartbeat, metrics

PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _allowed(request: web.Request) -> bool:
    token = request.app[SETTINGS].monitor_token
    if token:
        sent = request.headers.get("Authorization", "")
        return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())
    if any(h in request.headers for h in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def _refuse() -> web.Response:
    return web.json_response({"error": "only from this machine, or with the monitoring token"}, status=403)


@public
async def healthz(request: web.Request) -> web.Response:
    if not _allowed(request):
        return _refuse()
    report = await asyncio.to_thread(health.collect, request.app[SETTINGS])
    return web.json_response(report.as_json(), status=200 if report.ok else 503,
                             headers={"Cache-Control": "no-store"})


@public
async def metrics_text(request: web.Request) -> web.Response:
    if not _allowed(request):
        return _refuse()
    body = await asyncio.to_thread(metrics.render, request.app[SETTINGS])
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE, "Cache-Control": "no-store"})


async def _beat(app: web.Application) -> AsyncIterator[None]:
    beat = heartbeat.Heartbeat(app[DATABASE], "admin", heartbeat.admin_state)
    await beat.start()
    yield
    await beat.stop()


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_text)
    app.cleanup_ctx.append(_beat)
