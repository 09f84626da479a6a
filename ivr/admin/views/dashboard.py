"""/dashboard (supervisors): figures with server-drawn charts, and each table as CSV (audited)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web
from markupsafe import Markup

from ivr.admin import audit, stats
from ivr.admin.auth import current_user, require_role
from ivr.admin.charts import bar_chart
from ivr.admin.i18n import http_error
from ivr.admin.keys import DATABASE, SETTINGS
from ivr.words import N_

log = logging.getLogger(__name__)

CHARTED = {"calls_per_hour", "calls_per_day", "by_hour_of_day", "by_language", "by_menu_choice", "by_outcome"}
# Axis labels are kept short (the table beside the chart has the full value).
SHORT_LABEL: dict[str, Callable[[str], str]] = {"calls_per_hour": lambda v: v[6:], "calls_per_day": lambda v: v[5:],
                                               "by_hour_of_day": lambda v: v}


def _chart(table: stats.Table, tz_name: str, _: stats.Gettext) -> Markup | None:
    if table.name not in CHARTED or not table.rows:
        return None
    short = SHORT_LABEL.get(table.name, lambda v: v)
    labels = [short(str(r[0])) for r in table.rows]
    series = [[float(r[i]) for r in table.rows] for i in range(1, len(table.columns))]
    return bar_chart(labels, series, title=table.title, names=table.columns[1:] if len(series) > 1 else (),
                     x_title=f"{table.columns[0]} ({tz_name})" if table.name in SHORT_LABEL else table.columns[0],
                     y_title=_("Calls"))


MAX_DAYS = 366
REFRESH_MS = 60_000  # how often an open dashboard fetches fresh figures


def _period(request: web.Request) -> stats.Period:
    """The days chosen with ?from=&to= (local dates), by default the last 30 days up to today."""
    tz = request.app[SETTINGS].tz
    today = datetime.now(tz).date()
    try:
        last = date.fromisoformat(request.query["to"]) if request.query.get("to") else today
        first = date.fromisoformat(request.query["from"]) if request.query.get("from") else \
            last - timedelta(days=stats.DAYS - 1)
    except ValueError:
        raise web.HTTPBadRequest(text=N_("The dates must look like 2026-01-31. Clear them and try again.")) from None
    if first > last:
        raise web.HTTPBadRequest(text=N_("The “from” date is after the “to” date."))
    if (last - first).days >= MAX_DAYS:
        raise http_error(web.HTTPBadRequest, N_("Choose at most %(n)s days at a time."), n=MAX_DAYS)
    return stats.Period(first, last)


async def _figures(request: web.Request, _: stats.Gettext = stats.untranslated) -> dict[str, Any]:
    tz = request.app[SETTINGS].tz
    counts = request.app[CALL_COUNTS]
    period = _period(request)

    def read(db: Any) -> dict[str, Any]:
        figures = stats.dashboard(db, tz, counts, _=_)
        # The chosen days' tables (with the previous period) replace the fixed 30-day ones by language and choice.
        fixed = [t for t in figures["tables"] if t.name not in ("calls_by_language", "calls_by_menu_choice")]
        figures["tables"] = [*stats.period_tables(db, tz, period, _), *fixed]
        figures["period"] = period
        return figures

    return await request.app[DATABASE].read(read)


@require_role("supervisor")
async def dashboard_page(request: web.Request) -> web.StreamResponse:
    from ivr.admin.render import render, translator

    _ = translator(request)  # the page in the user's language; its CSVs keep English column names
    figures = await _figures(request, _)
    charts = {t.name: _chart(t, request.app[SETTINGS].timezone, _) for t in figures["tables"]}
    return render(request, "dashboard.html", {**figures, "charts": charts, "query": request.query_string,
                                              "refresh_ms": REFRESH_MS})


def _cell(value: Any) -> Any:
    # A spreadsheet would run a cell starting with = + - @ as a formula.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


@require_role("supervisor")
async def export_csv(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    figures = await _figures(request)
    table = next((t for t in figures["tables"] if t.name == name), None)
    if table is None:
        raise web.HTTPNotFound(text=N_("There is no table with this name on the dashboard."))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    writer.writerows([_cell(v) for v in row] for row in table.rows)
    user = current_user(request)
    await request.app[DATABASE].write(lambda db: audit.record(db, user, "export", "dashboard", name,
                                                              {"rows": len(table.rows)}))
    return web.Response(
        body=out.getvalue().encode("utf-8"), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


CALL_COUNTS = web.AppKey("ivr_call_counts", stats.CallCounts)


async def _warm(app: web.Application) -> None:
    """Read the settled hours once at start-up, so the first supervisor's dashboard is quick too."""
    counts, now = app[CALL_COUNTS], datetime.now(UTC)
    try:
        await app[DATABASE].read(lambda db: counts.hours(db, now - timedelta(days=stats.DAYS), now))
    except Exception:  # the dashboard reads them itself when it is opened
        log.exception("dashboard warm-up failed")


async def _start_warming(app: web.Application) -> None:
    app[WARMING] = asyncio.create_task(_warm(app))


async def _stop_warming(app: web.Application) -> None:
    task = app.get(WARMING)
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


WARMING = web.AppKey("ivr_dashboard_warming", asyncio.Task[None])


def setup(app: web.Application) -> None:
    app[CALL_COUNTS] = stats.CallCounts()
    app.on_startup.append(_start_warming)
    app.on_cleanup.append(_stop_warming)
    app.router.add_get("/dashboard", dashboard_page)
    app.router.add_get("/dashboard/{name}.csv", export_csv)
