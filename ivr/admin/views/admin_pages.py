"""Admin pages that are small: the effective settings, and /prompts until its own page lands."""

from __future__ import annotations

from aiohttp import web

from ivr.admin import setting_labels
from ivr.admin.auth import require_role
from ivr.admin.keys import SETTINGS
from ivr.admin.render import render, translator


@require_role("admin")
async def settings_page(request: web.Request) -> web.StreamResponse:
    return render(request, "settings.html",
                  {"rows": setting_labels.shown(request.app[SETTINGS], translator(request))})


@require_role("admin")
async def prompts_placeholder(request: web.Request) -> web.StreamResponse:
    return render(request, "prompts_placeholder.html")


def setup(app: web.Application) -> None:
    app.router.add_get("/settings", settings_page)
