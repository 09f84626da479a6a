# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""The supply pages over real HTTP: registry admin, the case panel, and brand isolation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime

import aiohttp
import pytest
import sqlite_utils
from admin_helpers import (  # noqa: F401
    Client,
    Served,
    admin_template,
    insert_case,
    served_app,
    users,
    web_db,
    web_settings,
)

from ivr.admin.users import add_user
from ivr.db.writer import Database
from ivr.settings import Settings
from ivr.supply import codes, registry
from ivr.supply.registry import Workplace

BIG, SMALL, RIVAL = codes.make_code(10001), codes.make_code(10002), codes.make_code(10003)
SECRET_ACTION = "pay Ko Aung his March wages"


@pytest.fixture
async def server(web_settings: Settings, web_db: Database, users: dict[str, int]) -> AsyncIterator[Served]:
    async with served_app(web_settings, web_db, "ivr.supply.web") as served:
        yield served


@pytest.fixture
async def chain(web_db: Database, web_settings: Settings) -> dict[str, int]:
    """Two brands; Acme has a big workplace (19 confirmed reports last year) and a small one (3)."""
    last_year = datetime.now(web_settings.tz).year - 1

    def seed(db: sqlite_utils.Database) -> dict[str, int]:
        # The test users' password hash, reused: argon2 is slow on purpose.
        hashed = db.execute("select password_hash from users where username = 'admin'").fetchone()[0]
        sup = registry.add_supplier(db, "Thread Co")
        big = registry.save_workplace(db, Workplace(BIG, "Big Mill", "Mae Sot", "", "Thread Co", ("Acme",)))
        small = registry.save_workplace(db, Workplace(SMALL, "Small Shop", "", "", "Thread Co", ("Acme",)))
        registry.save_workplace(db, Workplace(RIVAL, "Rival Plant", "", "", "Thread Co", ("Rival",)))
        first = 0
        for _ in range(12):
            case = insert_case(db, created_at=f"{last_year}-03-05T03:00:00.000000Z", workplace_id=big,
                               workplace_confirmed=1, workplace_code=BIG)
            first = first or case
        for _ in range(7):
            insert_case(db, created_at=f"{last_year}-09-05T03:00:00.000000Z", workplace_id=big,
                        workplace_confirmed=1)
        for _ in range(3):
            insert_case(db, created_at=f"{last_year}-06-05T03:00:00.000000Z", workplace_id=small,
                        workplace_confirmed=1)
        acme, rival = registry.brand_id(db, "Acme"), registry.brand_id(db, "Rival")
        assert acme is not None and rival is not None
        add_user(db, "acme", hashed, "brand", "", acme)
        add_user(db, "rival", hashed, "brand", "", rival)
        db.execute("insert into case_notes (case_id, body, created_at) values (?, 'secret note', '2026')", [first])
        return {"acme": acme, "rival": rival, "supplier": sup, "first_case": first, "year": last_year}

    return await web_db.write(seed)


async def _signed_in(server: Served, username: str) -> Client:
    c = Client(server.url)
    status, _ = await c.login(username)
    if status != 200:
        await c.close()
    assert status == 200
    return c


async def test_brand_sees_only_its_own_aggregates(server: Served, chain: dict[str, int], web_db: Database) -> None:
    c = await _signed_in(server, "acme")
    try:
        year = chain["year"]
        status, page = await c.get(f"/brand?year={year}")
        assert status == 200 and "Acme: reports from your supply chain" in page
        status, page = await c.get(f"/brand/{chain['acme']}?year={year}")
        assert status == 200
        assert "Big Mill" in page and "Other workplaces (fewer than 5 reports each)" in page
        assert "Small Shop" not in page and "Rival" not in page and "secret note" not in page
        assert f"/cases/{chain['first_case']}" not in page and BIG not in page

        status, text = await c.get(f"/brand/{chain['rival']}?year={year}")
        assert status == 403 and "another brand" in text
        status, text = await c.get(f"/brand/{chain['rival']}/report.csv?year={year}")
        assert status == 403
        status, text = await c.get(f"/brand/{chain['acme']}?year={year}&workplace={SMALL}")
        assert status == 403 and "Small Shop has fewer than 5 confirmed reports" in text
        status, text = await c.get(f"/brand/{chain['acme']}?year={year}&workplace={RIVAL}")
        assert status == 403 and "is in your supply chain" in text
        status, text = await c.get(f"/brand/{chain['acme']}?year={year}&category=wages&month={year}-06")
        assert status == 403 and "hidden" in text
        status, text = await c.get(f"/brand/{chain['acme']}?year={year}&category=wages&month={year}-03")
        assert status == 200 and "12 report(s)" in text
        assert '<text x="155" y="140" text-anchor="middle" class="month">Mar</text>' in page
        assert f'<text x="155" y="160" text-anchor="middle" class="year">{year}</text>' in page
        status, _ = await c.get(f"/brand/{chain['acme']}?year=1999")
        assert status == 400

        async with c.session.get(f"{server.url}/brand/{chain['acme']}/report.csv?year={year}") as r:
            assert r.status == 200 and r.content_type == "text/csv"
            body = await r.text()
        head = next(line for line in body.splitlines() if line.startswith(f"table,row,{year}-01"))
        wages = next(line for line in body.splitlines() if line.startswith("category_month,Wages unpaid or late"))
        by_month = dict(zip(head.split(","), wages.split(","), strict=True))
        assert by_month[f"{year}-03"] == "12" and by_month[f"{year}-06"] == "hidden"
        assert "Small Shop" not in body and "secret" not in body
        # The PDF is printed by the real headless Chromium.
        async with c.session.get(f"{server.url}/brand/{chain['acme']}/report.pdf?year={year}") as r:
            assert r.status == 200 and r.content_type == "application/pdf"
            assert (await r.read()).startswith(b"%PDF-")
        status, _ = await c.get(f"/brand/{chain['rival']}/report.pdf?year={year}")
        assert status == 403

        for path in ("/workplaces", f"/cases/{chain['first_case']}", "/workplaces/cases?brand=1"):
            status, _ = await c.get(path)
            assert status == 403, path
        audit = await web_db.query("select action from audit_log where action in ('brand.report', 'export')")
        assert {r["action"] for r in audit} == {"brand.report", "export"}
    finally:
        await c.close()

    cw = await _signed_in(server, "cw_my")
    try:
        status, _ = await cw.get(f"/brand/{chain['acme']}")
        assert status == 403
    finally:
        await cw.close()

    sup = await _signed_in(server, "super")
    try:  # a supervisor chooses any brand, to see what that brand sees
        status, page = await sup.get("/brand")
        assert status == 200
        assert f'<a href="/brand/{chain["acme"]}">Acme</a>' in page and f'<a href="/brand/{chain["rival"]}">' in page
        status, page = await sup.get(f"/brand/{chain['rival']}?year={chain['year']}")
        assert status == 200 and "Rival" in page
    finally:
        await sup.close()


async def test_registry_pages_import_export(server: Served, chain: dict[str, int], web_db: Database) -> None:
    c = await _signed_in(server, "admin")
    try:
        status, page = await c.get("/workplaces")
        assert status == 200 and "Big Mill" in page
        status, _ = await c.post("/workplaces/suppliers", {"name": "Net Co", "country": "TH"}, csrf="wrong")
        assert status == 403
        status, page = await c.post("/workplaces/suppliers", {"name": "Net Co", "country": "TH"})
        assert status == 200 and "Net Co (TH)" in page
        status, page = await c.post("/workplaces", {"name": "Pier 9", "supplier": "Net Co", "brands": "Acme"})
        assert status == 200 and "Pier 9" in page
        wrong = BIG[:-1] + str((int(BIG[-1]) + 1) % 10)
        status, page = await c.post("/workplaces", {"name": "Bad", "code": wrong})
        assert status == 400 and "check digit" in page

        async def upload(text: bytes) -> tuple[int, str]:
            form = aiohttp.FormData()
            form.add_field("csrf", c.token)
            form.add_field("file", text, filename="w.csv", content_type="text/csv")
            async with c.session.post(f"{server.url}/workplaces/import", data=form) as r:
                return r.status, await r.text()

        status, page = await upload(b"code,name,supplier\n,Dock 1,Net Co\n,Dock 2,Nobody\n")
        assert status == 400 and "line 3: unknown supplier" in page and "nothing changed" in page
        status, page = await upload(b"code,name,supplier\n,Dock 1,Net Co\n")
        assert status == 200 and "1 added" in page
        async with c.session.get(f"{server.url}/workplaces/export.csv") as r:
            assert r.status == 200
            exported = await r.text()
        assert "Dock 1" in exported and "Pier 9" in exported and BIG in exported
        assert not any("Dock 2" in r["name"] for r in await web_db.query("select name from workplaces"))
    finally:
        await c.close()


async def test_the_registry_page_is_paged(server: Served, chain: dict[str, int], web_db: Database) -> None:
    from ivr.supply import registry_csv
    from ivr.supply.web import PAGE_ROWS

    rows = registry_csv.parse(b"code,name,supplier\n" + b"".join(
        f",Paged place {i:04},\n".encode() for i in range(PAGE_ROWS + 10)))
    await registry_csv.import_rows(web_db, rows)
    total = (await web_db.query("select count(*) as n from workplaces"))[0]["n"]
    c = await _signed_in(server, "admin")
    try:
        status, first = await c.get("/workplaces")
        assert status == 200 and first.count("Edit</a>") == PAGE_ROWS
        assert 'href="/workplaces?page=2"' in first and "Page 1" in first
        status, second = await c.get("/workplaces?page=2")
        assert status == 200 and 'href="/workplaces?page=1"' in second and 'href="/workplaces?page=3"' not in second
        shown = sum(page.count("Edit</a>") for page in (first, second))
        assert shown == total  # every workplace on exactly one page
        status, odd = await c.get("/workplaces?page=²")
        assert status == 200 and "Page 1" in odd
    finally:
        await c.close()


async def test_a_workplace_made_active_again_links_the_cases_keyed_meanwhile(
        server: Served, chain: dict[str, int], web_db: Database) -> None:
    late = codes.make_code(10009)

    def seed(db: sqlite_utils.Database) -> tuple[int, int]:
        wp_id = registry.save_workplace(db, Workplace(late, "Closed Pier"))
        db.execute("update workplaces set active = 0 where id = ?", [wp_id])
        return wp_id, insert_case(db, workplace_code=late)

    wp_id, keyed = await web_db.write(seed)
    c = await _signed_in(server, "admin")
    try:
        status, _ = await c.post(f"/workplaces/{wp_id}", {"code": late, "name": "Closed Pier", "active": "1"})
        assert status == 200
    finally:
        await c.close()
    row = await web_db.query_one("select workplace_id, workplace_confirmed from cases where id = ?", [keyed])
    assert row == {"workplace_id": wp_id, "workplace_confirmed": 0}
    entry = await web_db.query_one("select username, detail from audit_log where action = 'case.workplace' "
                                   "and object_id = ?", [str(keyed)])
    assert entry is not None and entry["username"] == "(registry)"
    assert json.loads(entry["detail"]) == {"workplace_id": wp_id, "confirmed": False}


async def test_case_panel_links_and_refers(server: Served, chain: dict[str, int], web_db: Database) -> None:
    keyed = await web_db.write(lambda db: insert_case(db, workplace_code=BIG))
    await web_db.write(lambda db: registry.link_case_from_code(db, keyed))
    c = await _signed_in(server, "super")
    try:
        status, page = await c.get(f"/cases/{keyed}")
        assert status == 200 and "Big Mill" in page and "not yet confirmed" in page
        status, _ = await c.post(f"/cases/{keyed}/workplace", {"link": "code", "code": SMALL})
        assert status == 200
        row = await web_db.query_one("select workplace_id, workplace_confirmed from cases where id = ?", [keyed])
        small = await web_db.query_one("select id from workplaces where code = ?", [SMALL])
        assert row == {"workplace_id": small and small["id"], "workplace_confirmed": 1}
        status, text = await c.post(f"/cases/{keyed}/workplace", {"link": "code", "code": "123456"})
        assert status == 400 and "check digit" in text

        status, _ = await c.post(f"/cases/{keyed}/remediation", {
            "supplier_id": str(chain["supplier"]), "kind": "wages_paid", "action": SECRET_ACTION,
            "due_date": "2030-01-31"})
        assert status == 200
        status, text = await c.post(f"/cases/{keyed}/remediation", {
            "supplier_id": str(chain["supplier"]), "kind": "wages_paid", "action": "x", "due_date": "soon"})
        assert status == 400 and "not a date" in text
        action = await web_db.query_one("select id from remediation where case_id = ?", [keyed])
        assert action is not None
        status, page = await c.post(f"/cases/{keyed}/remediation/{action['id']}", {"status": "done"})
        assert status == 200 and SECRET_ACTION in page
        assert (await web_db.query_one("select status from remediation"))["status"] == "done"  # type: ignore[index]

        status, page = await c.get(f"/workplaces/cases?brand={chain['acme']}")
        assert status == 200 and f"/cases/{keyed}" in page
        status, page = await c.get(f"/workplaces/cases?supplier={chain['supplier']}&workplace={RIVAL}")
        assert status == 200 and f"/cases/{keyed}" not in page
        status, page = await c.get("/workplaces/cases?workplace=12")
        assert status == 400 and "must be 6 digits" in page
    finally:
        await c.close()


async def test_a_thai_reader_gets_the_report_and_registry_refusals_in_thai(
        server: Served, chain: dict[str, int]) -> None:
    year = chain["year"]
    c = await _signed_in(server, "acme")
    try:
        status, _ = await c.post("/language", {"ui_language": "th", "back": "/brand"})
        assert status == 200
        status, page = await c.get(f"/brand/{chain['acme']}?year={year}")
        assert status == 200
        for thai in ("<h2>รายงานตามประเด็นและเดือน</h2>", "<h2>รายงานตามสถานที่ทำงานและประเด็น</h2>",
                     "<h2>เคสที่แก้ไขแล้ว แยกตามสถานที่ทำงาน</h2>",
                     "สถานที่ทำงานอื่น (แห่งละน้อยกว่า 5 รายงาน)",  # the pooled row
                     "<dt>ค่ามัธยฐานจำนวนวันจากรายงานถึงการแก้ไข</dt>", "ค่าจ้างไม่จ่ายหรือจ่ายช้า"):
            assert thai in page, thai
        for english in ("Reports by issue and month", "Other workplaces", "Median days", "Not yet resolved"):
            assert english not in page, english
        assert "Big Mill — Mae Sot" in page  # names stay as they are
        # The chart's months say their year, in Thai: March over the year, not a bare "03".
        assert '<text x="155" y="140" text-anchor="middle" class="month">มี.ค.</text>' in page
        assert f'<text x="155" y="160" text-anchor="middle" class="year">{year}</text>' in page
        assert ">03</text>" not in page
        assert page.count("<div") == page.count("</div>")  # the chart closed one box more than it opened
        # A pooled workplace: the refusal, in Thai, names it.
        status, text = await c.get(f"/brand/{chain['acme']}?year={year}&workplace={SMALL}")
        assert status == 403 and f"Small Shop มีรายงานที่ยืนยันแล้วน้อยกว่า 5 รายการในปี {year}" in text
        # The CSV keeps English, for spreadsheets.
        status, text = await c.get(f"/brand/{chain['acme']}/report.csv?year={year}")
        assert status == 200 and "Other workplaces (fewer than 5 reports each)" in text
    finally:
        await c.close()
    c = await _signed_in(server, "admin")
    try:
        await c.post("/language", {"ui_language": "th", "back": "/workplaces"})
        status, page = await c.post("/workplaces/suppliers", {"name": "Thread Co"})
        assert status == 400 and "มีซัพพลายเออร์ &#39;Thread Co&#39; อยู่แล้ว" in page and "already exists" not in page
        status, page = await c.post("/workplaces", {"code": "12345", "name": "X"})
        assert status == 400 and "รหัสสถานที่ทำงาน &#39;12345&#39; ต้องมี 6 หลัก ไม่ใช่ 5" in page
    finally:
        await c.close()
