"""The on-call pages of the web UI (an extension, see :mod:`ivr.admin.app`).

- ``/oncall``: the rota (admins): add, edit, reorder, remove; a refused change is shown on the form.
- ``/oncall/alerts.json``: unacknowledged emergencies, polled by every open page (the banner).
- ``POST /oncall/cases/{id}/take``: take an emergency from the banner or the case page.
- the case page's panel: who was alerted, how, when, and who took it.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlite_utils
from aiohttp import web

from ivr.admin.auth import CASE_ROLES, current_user, require_role
from ivr.admin.keys import CASE_PANELS, DATABASE, NAV_LINKS, SETTINGS, NavLink
from ivr.admin.render import render, shown
from ivr.admin.views.case import visible_case
from ivr.oncall import rota, store
from ivr.oncall.rota import RotaError
from ivr.settings import Settings
from ivr.words import N_, Words

log = logging.getLogger(__name__)

ROTA_ROLES = ("admin",)
ALERT_ROLES = (*CASE_ROLES, "admin")
PANEL_TEMPLATE = "oncall/case_panel.html"
FIELDS = ("name", "phone", "languages", "days", "hours")


def _staff_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise web.HTTPNotFound(text=N_("There is no such person on the rota."))
    return int(raw)


def rota_gaps(staff: list[rota.Staff], settings: Settings) -> list[Words]:
    """What `ivr check` says of the rota (ivr.oncall.check.rota_problems), in words for the admin reading
    this page in their own language, who can fix it here rather than with a command."""
    if not [s for s in staff if s.active]:
        return [Words(N_("Nobody is on the rota, so an emergency call rings no phone. Add someone below."))]
    return [Words(N_("%(name)s has a phone number, but the hotline has no line to ring numbers on "
                     "(IVR_ONCALL_TRUNK is not set), so they cannot be rung."), name=s.name)
            for s in staff if s.active and s.is_number and not settings.oncall_trunk]


async def _rota_page(request: web.Request, *, error: Words | None = None, form: dict[str, str] | None = None,
                     edit_id: int | None = None, status: int = 200) -> web.Response:
    staff = await request.app[DATABASE].read(lambda db: rota.list_staff(db, active_only=True))
    return render(request, "oncall/rota.html", {
        "staff": staff, "error": shown(request, error) if error else "", "form": form or {f: "" for f in FIELDS},
        "edit_id": edit_id,
        "problems": [shown(request, w) for w in rota_gaps(staff, request.app[SETTINGS])],
        "timezone": request.app[SETTINGS].timezone,
    }, status=status)


@require_role(*ROTA_ROLES)
async def rota_page(request: web.Request) -> web.StreamResponse:
    return await _rota_page(request)


def _form(data: Any) -> dict[str, str]:
    return {f: str(data.get(f, "")) for f in FIELDS}


@require_role(*ROTA_ROLES)
async def add(request: web.Request) -> web.StreamResponse:
    form = _form(await request.post())
    user = current_user(request)
    try:
        staff = rota.parse(**form)
        await request.app[DATABASE].write(lambda db: rota.add(db, staff, actor=user.username, user_id=user.id))
    except RotaError as exc:
        return await _rota_page(request, error=exc.words, form=form, status=400)
    raise web.HTTPSeeOther("/oncall?done=saved")


@require_role(*ROTA_ROLES)
async def save(request: web.Request) -> web.StreamResponse:
    staff_id = _staff_id(request)
    form = _form(await request.post())
    user = current_user(request)
    try:
        staff = rota.parse(**form)
        await request.app[DATABASE].write(
            lambda db: rota.update(db, staff_id, staff, actor=user.username, user_id=user.id))
    except RotaError as exc:
        return await _rota_page(request, error=exc.words, form=form, edit_id=staff_id, status=400)
    raise web.HTTPSeeOther("/oncall?done=saved")


@require_role(*ROTA_ROLES)
async def remove(request: web.Request) -> web.StreamResponse:
    staff_id = _staff_id(request)
    user = current_user(request)
    try:
        await request.app[DATABASE].write(lambda db: rota.remove(db, staff_id, actor=user.username, user_id=user.id))
    except RotaError as exc:
        return await _rota_page(request, error=exc.words, status=400)
    raise web.HTTPSeeOther("/oncall?done=saved")


@require_role(*ROTA_ROLES)
async def move(request: web.Request) -> web.StreamResponse:
    staff_id = _staff_id(request)
    user = current_user(request)
    raw = str((await request.post()).get("position", ""))
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        return await _rota_page(request, error=Words(N_("Give a position: 1 is rung first.")), status=400)
    try:
        await request.app[DATABASE].write(
            lambda db: rota.move(db, staff_id, int(raw), actor=user.username, user_id=user.id))
    except RotaError as exc:
        return await _rota_page(request, error=exc.words, status=400)
    raise web.HTTPSeeOther("/oncall?done=saved")


# -- the banner ------------------------------------------------------------------------------------

@require_role(*ALERT_ROLES)
async def alerts_json(request: web.Request) -> web.StreamResponse:
    """Only ids and an age: the banner names no caller, place or words."""
    count, oldest, ids = await request.app[DATABASE].read(lambda db: store.unacknowledged(db))
    response = web.json_response({"count": count, "oldest_age_s": None if oldest is None else round(oldest),
                                  "cases": ids[:20]})
    response.headers["Cache-Control"] = "no-store"
    return response


@require_role(*CASE_ROLES)
async def take(request: web.Request) -> web.StreamResponse:
    case = await visible_case(request)
    user = current_user(request)
    case_id = int(case["id"])

    def write(db: sqlite_utils.Database) -> bool:
        return store.acknowledge_case(db, case_id, by=user.username, user_id=user.id)

    taken = await request.app[DATABASE].write(write)
    if request.headers.get("Accept", "").startswith("application/json"):
        return web.json_response({"taken": taken})
    raise web.HTTPSeeOther(f"/cases/{case_id}?done=status")


async def panel(request: web.Request, case: dict[str, Any]) -> dict[str, Any] | None:
    case_id = int(case["id"])
    found = await request.app[DATABASE].read(lambda db: store.for_case(db, case_id))
    if found is None:
        return None
    return {**found, "can_take": found["escalation"]["state"] == "running"}


def setup(app: web.Application) -> None:
    app[CASE_PANELS].append((PANEL_TEMPLATE, panel))
    app[NAV_LINKS].append(NavLink(N_("On-call rota"), "/oncall", ROTA_ROLES))
    app.router.add_get("/oncall", rota_page)
    app.router.add_post("/oncall", add)
    app.router.add_post(r"/oncall/{id}", save)
    app.router.add_post(r"/oncall/{id}/remove", remove)
    app.router.add_post(r"/oncall/{id}/move", move)
    app.router.add_get("/oncall/alerts.json", alerts_json)
    app.router.add_post(r"/oncall/cases/{id}/take", take)
