"""/audit for admins (filters, pages, CSV, the chain's state) and the case page's activity panel."""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web

from ivr.admin import audit, history
from ivr.admin.auth import current_user, require_role
from ivr.admin.i18n import http_error
from ivr.admin.keys import CASE_PANELS, DATABASE, NAV_LINKS, SETTINGS, NavLink
from ivr.admin.render import local_time, render, translator
from ivr.protection import audit as chain
from ivr.words import N_


async def activity_panel(request: web.Request, case: dict[str, Any]) -> dict[str, Any] | None:
    _ = translator(request)
    entries = await request.app[DATABASE].read(lambda db: history.case_history(db, int(case["id"]), _=_))
    return {"entries": entries}


def _filter(request: web.Request) -> history.AuditFilter:
    try:
        return history.parse(request.query)
    except history.AuditFilterError as exc:
        raise http_error(web.HTTPBadRequest, N_("%(problem)s Clear the filters and try again."),
                         problem=exc.words) from None


@require_role("admin")
async def audit_page(request: web.Request) -> web.StreamResponse:
    f = _filter(request)
    tz = request.app[SETTINGS].tz
    database = request.app[DATABASE]
    offset = (f.page - 1) * history.PAGE_SIZE
    rows = await database.read(lambda db: history.log_rows(db, f, tz, offset=offset))
    # The same check as `ivr audit verify`: an edited, inserted or deleted row is named here at the top.
    problems = await database.read(lambda db: chain.verify(db))
    head = await database.read(chain.head)
    names = await database.read(history.actions)
    users = await database.read(history.user_names)
    page_rows = rows[: history.PAGE_SIZE]
    objects = await database.read(lambda db: history.object_names(db, page_rows))
    _ = translator(request)
    shown_rows = [history.shown_row(r, users, objects, _) for r in page_rows]
    return render(request, "audit.html", {
        "filter": f, "rows": shown_rows, "has_next": len(rows) > history.PAGE_SIZE,
        "problems": problems, "head": head,
        "actions": [(a, history.action_label(a, _)) for a in names]})


def _cell(value: Any) -> Any:
    # A spreadsheet would run a cell starting with = + - @ as a formula.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


@require_role("admin")
async def audit_csv(request: web.Request) -> web.StreamResponse:
    f = _filter(request)
    settings = request.app[SETTINGS]
    rows = await request.app[DATABASE].read(lambda db: history.log_rows(db, f, settings.tz, limit=None))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at_utc", f"at_{settings.timezone}", "user", "action", "object_type", "object_id",
                     "detail"])
    for r in rows:
        writer.writerow([_cell(v) for v in (r["id"], r["at"], local_time(r["at"], settings.tz, "%Y-%m-%d %H:%M:%S"),
                                            r["username"] or "", r["action"], r["object_type"] or "",
                                            r["object_id"] or "", r["detail"])])
    user = current_user(request)
    await request.app[DATABASE].write(lambda db: audit.record(db, user, "export", "audit_log", None,
                                                              {"rows": len(rows)}))
    return web.Response(body=out.getvalue().encode("utf-8"), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'})


def setup(app: web.Application) -> None:
    app.router.add_get("/audit", audit_page)
    app.router.add_get("/audit.csv", audit_csv)
    app[NAV_LINKS].append(NavLink(N_("Audit log"), "/audit", ("admin",)))
    app[CASE_PANELS].append(("case_history.html", activity_panel))
