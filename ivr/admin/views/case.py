"""/cases/{id}: the case page, and the forms on it (transcript, notes, status, assignment, category, reply)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import sqlite_utils
from aiohttp import web
from markupsafe import Markup

from ivr.admin import audit, casework
from ivr.admin.auth import CASE_ROLES, current_user, require_role
from ivr.admin.i18n import http_error
from ivr.admin.keys import CASE_PANELS, DATABASE, SETTINGS, User
from ivr.admin.params import parse_int, path_id
from ivr.admin.render import render, render_text, shown, translator
from ivr.admin.replies import ReplyRefused, save_reply
from ivr.admin.views.queue import assignees
from ivr.cases import TRANSITIONS
from ivr.words import N_, Words

log = logging.getLogger(__name__)


def _case_id(request: web.Request) -> int:
    return path_id(request, "id", "case")


async def visible_case(request: web.Request, case_id: int | None = None) -> dict[str, Any]:
    """The case row if it exists and the signed-in user may see it; else a plain 404 or 403."""
    user = current_user(request)
    case_id = _case_id(request) if case_id is None else case_id
    case = await request.app[DATABASE].read(lambda db: casework.get_case(db, case_id))
    if case is None:
        raise http_error(web.HTTPNotFound, N_("There is no case number %(n)s."), n=case_id)
    if not casework.can_see(user, case):
        # Refusals are audited too: someone trying case numbers is worth a supervisor's look.
        await request.app[DATABASE].write(lambda db: audit.record(db, user, "case.view.refused", "case", case_id))
        raise web.HTTPForbidden(
            text=N_("This case is not assigned to you and is not in your languages, so you cannot open it.")
        )
    return case


async def _panels(request: web.Request, case: dict[str, Any]) -> list[Markup]:
    out = []
    for template, fn in request.app[CASE_PANELS]:
        try:
            ctx = await fn(request, case)
            if ctx is not None:
                out.append(Markup(render_text(request, template, {**ctx, "case": case})))
        except web.HTTPException:
            raise
        except Exception:
            log.exception("case panel %s failed case=%s", template, case["id"])
            out.append(Markup('<section class="card warning">{}</section>').format(
                translator(request)(N_("One part of this page could not be shown."))))
    return out


async def _page(request: web.Request, case: dict[str, Any], *, status: int = 200, **extra: Any) -> web.Response:
    database = request.app[DATABASE]
    data = await database.read(lambda db: casework.case_page_data(db, case))
    ctx = {"case": case, **data, "transitions": TRANSITIONS.get(case["status"], ()),
           "assignees": await assignees(request),
           "panels": await _panels(request, case), "error": "", "conflict": None, **extra}
    return render(request, "case.html", ctx, status=status)


@require_role(*CASE_ROLES)
async def case_page(request: web.Request) -> web.StreamResponse:
    case = await visible_case(request)
    user = current_user(request)
    await request.app[DATABASE].write(lambda db: audit.record(db, user, "case.view", "case", case["id"]))
    return await _page(request, case)


async def _change(request: web.Request, done: str,
                  fn: Callable[[sqlite_utils.Database, User, dict[str, Any], Any], object]) -> web.StreamResponse:
    """Run one change from a form on the case page; a refusal or conflict re-shows the page with the reason."""
    case = await visible_case(request)
    user = current_user(request)
    form = await request.post()
    try:
        await request.app[DATABASE].write(lambda db: fn(db, user, case, form))
    except casework.Conflict as exc:
        fresh = await visible_case(request)
        return await _page(request, fresh, status=409, error=shown(request, exc),
                           conflict={"current": exc.current, "mine": form.get("text", ""),
                                     "recording_id": form.get("recording_id"), "kind": form.get("kind")})
    except casework.Refused as exc:
        return await _page(request, case, status=400, error=shown(request, exc))
    raise web.HTTPSeeOther(f"/cases/{case['id']}?done={done}")


def _int(form: Any, name: str) -> int:
    value = parse_int(form.get(name, ""))
    if value is None:
        raise casework.Refused(N_("The form was incomplete. Reload the page and try again."))
    return value


@require_role(*CASE_ROLES)
async def edit_transcript(request: web.Request) -> web.StreamResponse:
    return await _change(request, "saved", lambda db, user, case, form: casework.save_transcript(
        db, user, case, _int(form, "recording_id"), str(form.get("kind", "")), _int(form, "base_version"),
        str(form.get("text", "")).replace("\r\n", "\n")))


@require_role(*CASE_ROLES)
async def change_status(request: web.Request) -> web.StreamResponse:
    return await _change(request, "status", lambda db, user, case, form: casework.change_status(
        db, user, case["id"], _int(form, "version"), str(form.get("status", ""))))


@require_role(*CASE_ROLES)
async def assign(request: web.Request) -> web.StreamResponse:
    def run(db: sqlite_utils.Database, user: User, case: dict[str, Any], form: Any) -> None:
        raw = str(form.get("assignee", ""))
        target = user.id if raw == "me" else (None if raw in ("", "none") else _int(form, "assignee"))
        casework.assign(db, user, case["id"], _int(form, "version"), target)

    return await _change(request, "assigned", run)


@require_role(*CASE_ROLES)
async def add_note(request: web.Request) -> web.StreamResponse:
    return await _change(request, "note", lambda db, user, case, form: casework.add_note(
        db, user, case["id"], str(form.get("body", ""))))


@require_role(*CASE_ROLES)
async def confirm_category(request: web.Request) -> web.StreamResponse:
    return await _change(request, "category", lambda db, user, case, form: casework.confirm_category(
        db, user, case["id"], str(form.get("category", ""))))


@require_role(*CASE_ROLES)
async def upload_reply(request: web.Request) -> web.StreamResponse:
    case = await visible_case(request)
    user = current_user(request)
    form = await request.post()
    upload = form.get("audio")
    if not isinstance(upload, web.FileField):
        return await _reply_refused(request, case, Words(N_("Choose an audio file, or record a message, first.")))
    data = await asyncio.to_thread(upload.file.read)
    try:
        await save_reply(request.app[SETTINGS], request.app[DATABASE], user, case["id"], upload.filename, data)
    except ReplyRefused as exc:
        return await _reply_refused(request, case, exc.words)
    if request.headers.get("X-CSRF-Token"):
        return web.json_response({"ok": True, "redirect": f"/cases/{case['id']}?done=reply"})
    raise web.HTTPSeeOther(f"/cases/{case['id']}?done=reply")


async def _reply_refused(request: web.Request, case: dict[str, Any], words: Words) -> web.StreamResponse:
    message = shown(request, words)
    if request.headers.get("X-CSRF-Token"):
        return web.json_response({"ok": False, "error": message}, status=400)
    return await _page(request, case, status=400, error=message)


def setup(app: web.Application) -> None:
    app.router.add_get("/cases/{id}", case_page)
    app.router.add_post("/cases/{id}/transcripts", edit_transcript)
    app.router.add_post("/cases/{id}/status", change_status)
    app.router.add_post("/cases/{id}/assign", assign)
    app.router.add_post("/cases/{id}/notes", add_note)
    app.router.add_post("/cases/{id}/category", confirm_category)
    app.router.add_post("/cases/{id}/reply", upload_reply)
