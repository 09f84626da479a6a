"""The supply-chain pages of the web UI (an extension, see :mod:`ivr.admin.app`).

- ``/workplaces``: the registry (admins and supervisors): list, add, edit, suppliers, CSV import and export.
- the case page's workplace panel: confirm or correct the link, refer to a supplier (remediation).
- ``/workplaces/cases``: cases by workplace, supplier or brand, within what the user may see.
- ``/brand``: brand reports (see :mod:`ivr.supply.brand_web`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import sqlite_utils
from aiohttp import web

from ivr.admin import audit
from ivr.admin.auth import CASE_ROLES, current_user, require_role
from ivr.admin.i18n import http_error
from ivr.admin.keys import CASE_PANELS, DATABASE, NAV_LINKS, SETTINGS, NavLink
from ivr.admin.params import parse_int
from ivr.admin.queue import visible_to
from ivr.admin.render import render, shown, translator
from ivr.admin.views.case import visible_case
from ivr.cases import lifecycle
from ivr.supply import brand_web, codes, registry, registry_csv, remediation, search
from ivr.supply.registry import RegistryError, Workplace
from ivr.words import N_, Words, ngettext

log = logging.getLogger(__name__)

REGISTRY_ROLES = ("admin", "supervisor")
PANEL_TEMPLATE = "supply/case_panel.html"
MAX_CSV_BYTES = 5 * 1024 * 1024
PAGE_ROWS = 200  # workplaces per page of /workplaces
SHOWN_PROBLEMS = 100  # on the page; the CLI prints every one


def _int_or_404(raw: str, what: str) -> int:
    """``what`` is marked with N_() by the caller."""
    value = parse_int(raw, low=1)
    if value is None:
        raise http_error(web.HTTPNotFound, N_("There is no such %(what)s."), what=Words(what))
    return value


# -- the registry ----------------------------------------------------------------------

async def _registry_page(request: web.Request, *, error: Words | None = None, problems: list[str] | None = None,
                         notice: Words | None = None, status: int = 200) -> web.Response:
    database = request.app[DATABASE]
    # A page at a time: the whole registry (60 000 rows) was a 20 MB page.
    raw = request.query.get("page", "1")
    page = int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 6 and int(raw) > 0 else 1
    rows = await database.read(lambda db: registry.list_workplaces(db, limit=PAGE_ROWS + 1,
                                                                     offset=(page - 1) * PAGE_ROWS))
    workplaces, has_next = rows[:PAGE_ROWS], len(rows) > PAGE_ROWS
    suppliers = await database.query(
        "select s.id, s.name, s.country, count(w.id) as workplaces from suppliers s "
        "left join workplaces w on w.supplier_id = s.id group by s.id order by s.name")
    brands = await database.read(registry.list_brands)
    next_code = await database.read(lambda db: codes.next_code(registry.used_codes(db)))
    return render(request, "supply/workplaces.html", {
        "workplaces": workplaces, "page": page, "has_next": has_next,
        "suppliers": suppliers, "brands": brands, "next_code": next_code,
        "error": shown(request, error) if error else "", "problems": problems or [],
        **({"notice": shown(request, notice)} if notice else {}),   # base.html prints it, once
        "columns": ",".join(registry_csv.COLUMNS),
    }, status=status)


async def _registry_change(request: web.Request,
                           write: Callable[[sqlite_utils.Database], object]) -> web.StreamResponse:
    """Run one registry change; a refusal re-shows the registry with the reason, success goes back to it."""
    try:
        await request.app[DATABASE].write(write)
    except RegistryError as exc:
        return await _registry_page(request, error=exc.words, status=400)
    raise web.HTTPSeeOther("/workplaces?done=saved")


@require_role(*REGISTRY_ROLES)
async def workplaces_page(request: web.Request) -> web.StreamResponse:
    return await _registry_page(request)


def _workplace_from(form: Any) -> Workplace:
    brands = tuple(b.strip() for b in str(form.get("brands", "")).split(";") if b.strip())
    return Workplace(str(form.get("code", "")).strip(), str(form.get("name", "")), str(form.get("location", "")),
                     str(form.get("sector", "")), str(form.get("supplier", "")), brands)


@require_role(*REGISTRY_ROLES)
async def add_workplace(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    user = current_user(request)
    wp = _workplace_from(form)

    def write(db: sqlite_utils.Database) -> int:
        item = wp if wp.code else Workplace(codes.next_code(registry.used_codes(db)), wp.name, wp.location,
                                            wp.sector, wp.supplier, wp.brands)
        wp_id = registry.save_workplace(db, item)
        lifecycle.link_unlinked_to_workplaces(db)
        audit.record(db, user, "workplace.add", "workplace", wp_id)
        return wp_id

    return await _registry_change(request, write)


@require_role(*REGISTRY_ROLES)
async def edit_page(request: web.Request) -> web.StreamResponse:
    wp_id = _int_or_404(request.match_info["id"], N_("workplace"))
    wp = await request.app[DATABASE].read(lambda db: registry.get_workplace(db, wp_id))
    if wp is None:
        raise web.HTTPNotFound(text=N_("There is no such workplace."))
    return render(request, "supply/workplace_edit.html", {"wp": wp, "error": ""})


@require_role(*REGISTRY_ROLES)
async def save_workplace(request: web.Request) -> web.StreamResponse:
    wp_id = _int_or_404(request.match_info["id"], N_("workplace"))
    form = await request.post()
    user = current_user(request)

    def write(db: sqlite_utils.Database) -> None:
        registry.save_workplace(db, _workplace_from(form), workplace_id=wp_id)
        db.execute("update workplaces set active = ? where id = ?", [1 if form.get("active") else 0, wp_id])
        # A corrected code or a workplace made active again: the cases whose callers keyed it are linked.
        lifecycle.link_unlinked_to_workplaces(db)
        audit.record(db, user, "workplace.edit", "workplace", wp_id)

    try:
        await request.app[DATABASE].write(write)
    except RegistryError as exc:
        wp = {"id": wp_id, **{k: str(form.get(k, "")) for k in registry_csv.COLUMNS},
              "active": bool(form.get("active"))}
        return render(request, "supply/workplace_edit.html", {"wp": wp, "error": shown(request, exc)}, status=400)
    raise web.HTTPSeeOther("/workplaces?done=saved")


@require_role(*REGISTRY_ROLES)
async def add_supplier(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    user = current_user(request)

    def write(db: sqlite_utils.Database) -> None:
        sup_id = registry.add_supplier(db, str(form.get("name", "")), str(form.get("country", "")))
        audit.record(db, user, "supplier.add", "supplier", sup_id)

    return await _registry_change(request, write)


@require_role(*REGISTRY_ROLES)
async def import_csv(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return await _registry_page(request, error=Words(N_("Choose a CSV file to import.")), status=400)
    data = await asyncio.to_thread(upload.file.read, MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        return await _registry_page(request, error=Words(N_("The file is bigger than 5 MB; split it.")), status=400)
    user = current_user(request)

    database = request.app[DATABASE]
    try:
        # A 5 MB file takes over half a second to check: off the event loop, which calls share in `ivr serve`.
        rows, problems = await asyncio.to_thread(registry_csv.read, data)
        result = await registry_csv.import_rows(database, rows, problems)
    except registry_csv.CsvImportError as exc:
        # Each problem names a line of the file, in the reader's language (the CLI prints them in English).
        shown_problems = [shown(request, problem) for problem in exc.found[:SHOWN_PROBLEMS]]
        if len(exc.found) > SHOWN_PROBLEMS:
            shown_problems.append(shown(request, ngettext("… and %(n)s more problem", "… and %(n)s more problems",
                                                          len(exc.found) - SHOWN_PROBLEMS)))
        return await _registry_page(request, error=Words(N_("The file was not imported; nothing changed.")),
                                    problems=shown_problems, status=400)
    await database.write(lambda db: audit.record(db, user, "workplace.import", "workplace", None,
                                                 {"added": result.added, "updated": result.updated}))
    return await _registry_page(
        request, notice=Words(N_("Imported: %(added)s added, %(updated)s updated, %(linked)s case(s) linked to their "
                                 "workplace."), added=result.added, updated=result.updated,
                              linked=result.cases_linked))


@require_role(*REGISTRY_ROLES)
async def export_csv(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    database = request.app[DATABASE]
    # Built in a reader thread, so the single writer (which every call uses) is not held meanwhile.
    text = await database.read(registry_csv.export)
    await database.write(lambda db: audit.record(db, user, "export", "workplaces", None))
    return web.Response(body=text.encode("utf-8"), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="workplaces.csv"'})


# -- cases: the workplace panel, the link, remediation ---------------------------------------

def _panel_data(db: sqlite_utils.Database, case: dict[str, Any], translate: Callable[[str], str]) -> dict[str, Any]:
    linked = registry.get_workplace(db, case["workplace_id"]) if case.get("workplace_id") is not None else None
    keyed = case.get("workplace_code") or ""
    keyed_words = codes.problem_words(keyed) if keyed else None
    keyed_problem = keyed_words.translate(translate) if keyed_words else None
    keyed_match = registry.workplace_id_for_code(db, keyed) if keyed and not keyed_problem else None
    return {
        "linked": linked,
        "confirmed": bool(case.get("workplace_confirmed")),
        "keyed": keyed,
        "keyed_problem": keyed_problem,
        "keyed_unknown": bool(keyed) and keyed_problem is None and keyed_match is None,
        "actions": remediation.for_case(db, int(case["id"])),
        "suppliers": list(db.query("select id, name from suppliers order by name")),
        "kinds": remediation.KINDS,
        "statuses": remediation.STATUSES,
        "default_supplier": linked and linked["supplier_id"],
    }


async def case_panel(request: web.Request, case: dict[str, Any]) -> dict[str, Any] | None:
    translate = translator(request)
    return await request.app[DATABASE].read(lambda db: _panel_data(db, case, translate))


async def _case_form(request: web.Request, action: str | None, fn: Any) -> web.StreamResponse:
    """Run a panel form for a case the user may see; a refusal comes back as a plain 400 with the reason.
    ``action`` is the audit row to write; None when the change writes its own (ivr.cases.lifecycle)."""
    case = await visible_case(request)
    user = current_user(request)
    form = await request.post()

    def write(db: sqlite_utils.Database) -> None:
        fn(db, int(case["id"]), form, user)
        if action is not None:
            audit.record(db, user, action, "case", case["id"])

    try:
        await request.app[DATABASE].write(write)
    except (RegistryError, remediation.RemediationError) as exc:
        raise http_error(web.HTTPBadRequest, N_("%(problem)s. Go back to the case and try again."),
                         problem=exc.words) from None
    raise web.HTTPSeeOther(f"/cases/{case['id']}?done=saved")


def _link(db: sqlite_utils.Database, case_id: int, form: Any, user: Any) -> None:
    choice = str(form.get("link", ""))
    if choice == "none":
        registry.set_case_workplace(db, case_id, None, by=user)
        return
    code = str(form.get("code", "")).strip()
    problem = codes.problem_words(code)
    if problem:
        raise RegistryError(problem)
    wp_id = registry.workplace_id_for_code(db, code)
    if wp_id is None:
        raise RegistryError(N_("No active workplace has the code %(code)s; add it to the registry first"), code=code)
    registry.set_case_workplace(db, case_id, wp_id, by=user)


@require_role(*CASE_ROLES)
async def link_workplace(request: web.Request) -> web.StreamResponse:
    return await _case_form(request, None, _link)


def _add_action(db: sqlite_utils.Database, case_id: int, form: Any, user: Any) -> None:
    supplier = str(form.get("supplier_id", ""))
    remediation.add_action(
        db, case_id=case_id, supplier_id=parse_int(supplier) or -1,
        kind=str(form.get("kind", "")), action=str(form.get("action", "")),
        due_date=str(form.get("due_date", "")), user_id=user.id)


@require_role(*CASE_ROLES)
async def add_action(request: web.Request) -> web.StreamResponse:
    return await _case_form(request, "remediation.add", _add_action)


@require_role(*CASE_ROLES)
async def action_status(request: web.Request) -> web.StreamResponse:
    action_id = _int_or_404(request.match_info["action_id"], N_("remediation action"))

    def run(db: sqlite_utils.Database, case_id: int, form: Any, user: Any) -> None:
        remediation.set_status(db, action_id, str(form.get("status", "")), case_id=case_id)

    return await _case_form(request, "remediation.status", run)


@require_role(*CASE_ROLES)
async def cases_page(request: web.Request) -> web.StreamResponse:
    """Cases by workplace, supplier or brand, limited to those the user may open."""
    database = request.app[DATABASE]
    user = current_user(request)
    error = ""
    rows: list[dict[str, Any]] = []
    try:
        found = await database.read(lambda db: search.parse(db, request.query))
    except search.SearchError as exc:
        error, found = shown(request, exc), search.SupplySearch()
    if not found.empty:
        clause, params = search.where(found)
        allowed, allowed_params = visible_to(user)
        rows = await database.query(
            "select c.id, c.created_at, c.status, c.category, c.language, c.workplace_confirmed, w.code, w.name "
            f"from cases c join workplaces w on w.id = c.workplace_id where {clause} and {allowed} "
            "order by c.created_at desc limit 200", [*params, *allowed_params])
    suppliers = await database.query("select id, name from suppliers order by name")
    brands = await database.query("select id, name from brands order by name")
    return render(request, "supply/cases.html", {
        "rows": rows, "error": error, "suppliers": suppliers, "brands": brands,
        "q": {k: request.query.get(k, "") for k in ("workplace", "supplier", "brand")},
    }, status=400 if error else 200)


def setup(app: web.Application) -> None:
    app.router.add_get("/workplaces", workplaces_page)
    app.router.add_post("/workplaces", add_workplace)
    app.router.add_get("/workplaces/export.csv", export_csv)
    app.router.add_post("/workplaces/import", import_csv)
    app.router.add_post("/workplaces/suppliers", add_supplier)
    app.router.add_get("/workplaces/cases", cases_page)
    app.router.add_get("/workplaces/{id}", edit_page)
    app.router.add_post("/workplaces/{id}", save_workplace)
    app.router.add_post("/cases/{id}/workplace", link_workplace)
    app.router.add_post("/cases/{id}/remediation", add_action)
    app.router.add_post("/cases/{id}/remediation/{action_id}", action_status)
    app[CASE_PANELS].append((PANEL_TEMPLATE, case_panel))
    app[NAV_LINKS].append(NavLink(N_("Workplaces"), "/workplaces", REGISTRY_ROLES))
    brand_web.setup(app)
    log.debug("supply pages ready (k=%d)", app[SETTINGS].brand_k)
