"""/cases: the queue, and /cases/live, which the page polls so new cases appear without a reload."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ivr.admin import audit, case_search, queue
from ivr.admin.auth import CASE_ROLES, current_user, require_role
from ivr.admin.i18n import http_error
from ivr.admin.keys import DATABASE, SETTINGS
from ivr.admin.render import render, render_text, shown
from ivr.cases import PRIORITY_EMERGENCY, STATUSES


async def _load(request: web.Request) -> dict[str, Any]:
    user = current_user(request)
    f = queue.parse(request.query)
    database = request.app[DATABASE]
    tz = request.app[SETTINGS].tz
    sql, args = queue.page_sql(f, user, tz)
    rows = await database.query(sql, args)
    if f.q:
        words = case_search.terms(f.q)
        for row in rows:
            row["snippet"] = case_search.snippet(row.pop("search_body") or "", words)
    visible, vargs = queue.visible_to(user)
    urgent = await database.query_one(
        f"select count(*) as n from cases c where {visible} and c.status = 'new' and c.priority = ?",
        [*vargs, PRIORITY_EMERGENCY],
    )
    return {
        "filter": f,
        "rows": rows[: queue.PAGE_SIZE],
        "has_next": len(rows) > queue.PAGE_SIZE,
        "emergencies": urgent["n"] if urgent else 0,
    }


async def assignees(request: web.Request) -> list[dict[str, Any]]:
    """Who a case can be assigned to (the queue's filter and the case page's assign form)."""
    return await request.app[DATABASE].query(
        "select id, username from users where role in ('caseworker', 'supervisor') and active = 1 order by username"
    )


@require_role(*CASE_ROLES)
async def queue_page(request: web.Request) -> web.StreamResponse:
    ctx: dict[str, Any] = {"statuses": STATUSES, "sorts": queue.SORTS, "assignees": await assignees(request)}
    try:
        ctx.update(await _load(request))
    except queue.FilterError as exc:
        ctx.update(filter=queue.QueueFilter(), rows=[], has_next=False, emergencies=0, error=shown(request, exc))
        return render(request, "queue.html", ctx, status=400)
    f = ctx["filter"]
    if f.q:
        # A search shows case text, so it is audited like a view: who searched, and which cases it showed.
        # The words themselves are not kept: they may be a caller's name.
        found = [r["id"] for r in ctx["rows"]]
        detail = {"words": len(case_search.terms(f.q)), "cases": found, "page": f.page}
        await request.app[DATABASE].write(
            lambda db: audit.record(db, current_user(request), "case.search", "case", None, detail))
    return render(request, "queue.html", {**ctx, "error": ""})


@require_role(*CASE_ROLES)
async def live(request: web.Request) -> web.StreamResponse:
    try:
        data = await _load(request)
    except queue.FilterError as exc:
        raise http_error(web.HTTPBadRequest, exc.words.text, **exc.words.fields) from None
    html = render_text(request, "queue_rows.html", data)
    newest = max((r["id"] for r in data["rows"]), default=0)
    return web.json_response({"html": html, "emergencies": data["emergencies"], "newest": newest})


def setup(app: web.Application) -> None:
    app.router.add_get("/cases", queue_page)
    app.router.add_get("/cases/live", live)
