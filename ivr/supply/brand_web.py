"""Brand report pages: ``/brand`` (web page), ``/brand/{id}/report.csv`` and ``/brand/{id}/report.pdf``.

A brand user sees only its own brand (``users.brand_id``); supervisors and admins
may open any brand's report to see what the brand sees. Every figure has passed
k-suppression (:mod:`ivr.supply.report`) before it reaches a template.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import sqlite_utils
from aiohttp import web
from babel.dates import format_date

from ivr.admin import audit, fonts
from ivr.admin.auth import current_user, require_role
from ivr.admin.i18n import http_error
from ivr.admin.keys import DATABASE, NAV_LINKS, SETTINGS, NavLink, User
from ivr.admin.params import parse_int
from ivr.admin.render import render, render_text, translator, ui_language
from ivr.cases import CATEGORIES
from ivr.supply import codes, pdf, registry, report
from ivr.supply.report import BrandReport, ReportRefused
from ivr.words import N_

log = logging.getLogger(__name__)

REPORT_ROLES = ("brand", "supervisor", "admin")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _brand_id(request: web.Request, user: User) -> int:
    wanted = parse_int(request.match_info["brand_id"], low=1)
    if wanted is None:
        raise web.HTTPNotFound(text=N_("There is no such brand."))
    if user.role == "brand" and wanted != user.brand_id:
        raise web.HTTPForbidden(text=N_("This report belongs to another brand. You can only see your own supply "
                                        "chain."))
    return wanted


def _year(request: web.Request) -> int:
    this_year = datetime.now(request.app[SETTINGS].tz).year
    raw = request.query.get("year", "").strip()
    if not raw:
        return this_year
    year = parse_int(raw, low=2000, high=this_year)
    if year is None:
        raise http_error(web.HTTPBadRequest, N_("The year must be a year from 2000 to %(last)s, not “%(value)s”."),
                         last=this_year, value=raw)
    return year


async def _requested(request: web.Request) -> tuple[User, BrandReport]:
    """The signed-in user and the report they asked for, after the brand check; 403/404/400 otherwise."""
    user = current_user(request)
    brand_id = _brand_id(request, user)
    year = _year(request)
    settings = request.app[SETTINGS]
    try:
        rep = await request.app[DATABASE].read(
            lambda db: report.build(db, brand_id, year, k=settings.brand_k, tz=settings.tz))
    except ReportRefused as exc:
        raise http_error(web.HTTPNotFound, exc.words.text, **exc.words.fields) from None
    return user, rep


async def _audit(request: web.Request, user: User, action: str, rep: BrandReport) -> None:
    await request.app[DATABASE].write(
        lambda db: audit.record(db, user, action, "brand", rep.brand_id, {"year": rep.year}))


@require_role(*REPORT_ROLES)
async def brand_home(request: web.Request) -> web.StreamResponse:
    """A brand user goes straight to its report; supervisors and admins choose a brand."""
    user = current_user(request)
    if user.role == "brand":
        if user.brand_id is None:
            raise web.HTTPForbidden(text=N_("Your account is not linked to a brand yet. Ask the hotline's "
                                            "administrator."))
        raise web.HTTPSeeOther(f"/brand/{user.brand_id}")
    brands = await request.app[DATABASE].read(registry.list_brands)
    return render(request, "supply/brand_index.html", {"brands": brands})


def _focus(db: sqlite_utils.Database, rep: BrandReport, query: Any) -> dict[str, Any]:
    """What the brand asked to look at (a workplace, or one issue in one month); refused when hidden."""
    out: dict[str, Any] = {}
    code = query.get("workplace", "").strip()
    if code:
        row = db.execute(
            "select w.id, w.name from workplaces w join workplace_brands wb on wb.workplace_id = w.id "
            "where w.code = ? and wb.brand_id = ?", [code, rep.brand_id]).fetchone() if codes.is_valid(code) else None
        if row is None:
            raise ReportRefused(N_("No workplace with the code “%(code)s” is in your supply chain."), code=code)
        out["workplace_row"] = report.workplace_row(rep, int(row[0]), str(row[1]))
    category, month = query.get("category", "").strip(), query.get("month", "").strip()
    if category or month:
        if category not in CATEGORIES or not MONTH.match(month):
            raise ReportRefused(N_("Choose an issue and a month like 2026-03."))
        out["cell"] = {"category": CATEGORIES[category], "month": month,
                       "value": report.figure(rep, "category_month", category, month)}
    return out


@require_role(*REPORT_ROLES)
async def brand_report(request: web.Request) -> web.StreamResponse:
    user, rep = await _requested(request)
    try:
        focus = await request.app[DATABASE].read(lambda db: _focus(db, rep, request.query))
    except ReportRefused as exc:
        raise http_error(web.HTTPForbidden, exc.words.text, **exc.words.fields) from None
    await _audit(request, user, "brand.report", rep)
    return render(request, "supply/brand_report.html",
                  _context(rep, translator(request), ui_language(request), focus))


def month_label(month: str, language: str) -> tuple[str, str]:
    """A report month (``2026-03``) as the chart names it in ``language``: its month and its year
    (``มี.ค.``, ``2026``). A bare ``03`` under a bar did not say which year it was."""
    day = date(int(month[:4]), int(month[5:7]), 1)
    return format_date(day, "LLL", locale=language), format_date(day, "y", locale=language)


def _context(rep: BrandReport, gettext: Callable[[str], str], language: str,
             focus: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report for its page or PDF, its own words in the reader's language (the CSV keeps English)."""
    def say(label: str) -> str:
        return report.translate(rep, label, gettext)

    tables = {key: {"table": t, "title": say(t.title), "note": say(t.note) if t.note else "",
                    "col_labels": [say(c) for c in t.col_labels],
                    "rows": [(say(label), figures) for label, figures in report.table_rows(t)]}
              for key, t in rep.tables.items()}
    if focus and focus.get("cell"):
        focus = {**focus, "cell": {**focus["cell"], "category": gettext(focus["cell"]["category"])}}
    trend = report.table_rows(rep.tables["category_month"])[-1][1][:-1]  # the totals row, without its total
    numbers = [int(v) for v in trend if v.isdigit()]
    peak = max(numbers, default=0) or 1
    bars = [{"month": m, "label": month_label(m, language), "value": v,
             "height": (int(v) * 100 // peak) if v.isdigit() else 0}
            for m, v in zip(rep.months, trend, strict=True)]
    return {"rep": rep, "tables": tables, "bars": bars, "hidden": report.HIDDEN,
            "facts": [(say(name), value) for name, value in rep.facts.items()],
            "focus": {"workplace_row": None, "cell": None, **(focus or {})},
            "categories": CATEGORIES, "years": list(range(rep.year, rep.year - 5, -1))}


@require_role(*REPORT_ROLES)
async def brand_csv(request: web.Request) -> web.StreamResponse:
    user, rep = await _requested(request)
    await _audit(request, user, "export", rep)
    name = f"brand-report-{rep.year}.csv"
    return web.Response(body=report.to_csv(rep).encode("utf-8"), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@require_role(*REPORT_ROLES)
async def brand_pdf(request: web.Request) -> web.StreamResponse:
    user, rep = await _requested(request)
    html = render_text(request, "supply/brand_print.html", _context(rep, translator(request), ui_language(request)))
    # Chromium embeds the fonts a PDF uses: give it the Myanmar, Khmer, Lao and Thai ones from disk.
    html = html.replace("</head>", f"<style>{fonts.stylesheet(files=True)}</style></head>", 1)
    try:
        data = await pdf.html_to_pdf(html)
    except pdf.PdfError as exc:
        log.warning("brand report pdf failed brand=%s: %s", rep.brand_id, exc)
        raise web.HTTPServiceUnavailable(
            text=N_("The PDF could not be made on this server. Download the CSV or print the web page instead."),
            content_type="text/plain") from None
    await _audit(request, user, "export", rep)
    return web.Response(body=data, content_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="brand-report-{rep.year}.pdf"'})


def setup(app: web.Application) -> None:
    app.router.add_get("/brand", brand_home)
    app.router.add_get("/brand/{brand_id}", brand_report)
    app.router.add_get("/brand/{brand_id}/report.csv", brand_csv)
    app.router.add_get("/brand/{brand_id}/report.pdf", brand_pdf)
    app[NAV_LINKS].append(NavLink(N_("Brand reports"), "/brand", REPORT_ROLES))
