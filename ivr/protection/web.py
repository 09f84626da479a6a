"""The web UI's call-back panel on the case page, and its two forms: reveal the number, mark done.

Only the caseworker the case is assigned to sees the reveal form, and the server checks
that again: a reveal needs a reason and writes a ``callback.reveal`` audit row in the same
transaction that reads the number. A refused reveal is logged too (``callback.reveal.denied``).
The number appears only in the response to that POST (never in a URL, a redirect or a log
line), and responses carry ``Cache-Control: no-store``.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from ivr.admin import audit as admin_audit
from ivr.admin.auth import CASE_ROLES, current_user, require_role
from ivr.admin.i18n import http_error
from ivr.admin.keys import CASE_PANELS, DATABASE, SETTINGS
from ivr.admin.params import parse_int
from ivr.admin.render import render, shown
from ivr.admin.views.case import visible_case
from ivr.protection import callbacks
from ivr.protection.caller import NumberVault
from ivr.words import N_

log = logging.getLogger(__name__)

PANEL_TEMPLATE = "protection/callback_panel.html"


def _vault(request: web.Request) -> NumberVault:
    return NumberVault(request.app[SETTINGS].key("callback-number"))


async def panel(request: web.Request, case: dict[str, Any]) -> dict[str, Any] | None:
    """The case's call-back requests; None (no panel) when the caller did not ask for one."""
    rows = await request.app[DATABASE].read(lambda db: callbacks.for_case(db, int(case["id"])))
    if not rows:
        return None
    user = current_user(request)
    assignee = case.get("assignee_id") == user.id
    return {
        "callbacks": rows,
        "can_reveal": assignee,
        "can_close": assignee or user.role in callbacks.CLOSERS,
        "min_reason": callbacks.MIN_REASON,
    }


def _callback_id(request: web.Request) -> int:
    value = parse_int(request.match_info["callback_id"], low=1)
    if value is None:
        raise web.HTTPNotFound(text=N_("There is no such call-back request."))
    return value


async def _callback_of(request: web.Request) -> tuple[dict[str, Any], int]:
    """The case (visible to this user) and a call-back that belongs to it, or a plain 404."""
    case = await visible_case(request)
    callback_id = _callback_id(request)
    row = await request.app[DATABASE].query_one(
        "select id from callbacks where id = ? and case_id = ?", [callback_id, case["id"]]
    )
    if row is None:
        raise web.HTTPNotFound(text=N_("This case has no such call-back request."))
    return case, callback_id


@require_role(*CASE_ROLES)
async def reveal(request: web.Request) -> web.StreamResponse:
    case, callback_id = await _callback_of(request)
    user = current_user(request)
    form = await request.post()
    reason = str(form.get("reason", ""))
    database = request.app[DATABASE]
    vault = _vault(request)
    try:
        number = await database.write(lambda db: callbacks.reveal(db, vault, callback_id, user, reason))
    except callbacks.NotAllowed as exc:
        await database.write(lambda db: admin_audit.record(
            db, user, "callback.reveal.denied", "case", case["id"], {"callback_id": callback_id}))
        raise http_error(web.HTTPForbidden, exc.words.text, **exc.words.fields) from None
    except callbacks.CallbackError as exc:
        status = 400 if isinstance(exc, callbacks.ReasonRequired) else 410
        return render(request, "protection/callback_reveal.html",
                      {"case": case, "callback_id": callback_id, "number": None, "error": shown(request, exc)},
                      status=status)
    return render(request, "protection/callback_reveal.html",
                  {"case": case, "callback_id": callback_id, "number": number, "error": ""})


@require_role(*CASE_ROLES)
async def mark_done(request: web.Request) -> web.StreamResponse:
    case, callback_id = await _callback_of(request)
    user = current_user(request)
    try:
        await request.app[DATABASE].write(lambda db: callbacks.mark_done(db, callback_id, user))
    except callbacks.NotAllowed as exc:
        raise http_error(web.HTTPForbidden, exc.words.text, **exc.words.fields) from None
    except callbacks.NumberGone:
        pass  # already closed (two tabs, or expiry): the page shows its state
    raise web.HTTPSeeOther(f"/cases/{case['id']}?done=saved")


def setup(app: web.Application) -> None:
    app[CASE_PANELS].append((PANEL_TEMPLATE, panel))
    app.router.add_post(r"/cases/{id}/callbacks/{callback_id}/reveal", reveal)
    app.router.add_post(r"/cases/{id}/callbacks/{callback_id}/done", mark_done)
