# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""The on-call pages over real HTTP: the rota form (errors on the form), the banner's JSON, taking
an emergency in the web UI, and the case panel that shows who was alerted and who took it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import sqlite_utils
from admin_helpers import (  # noqa: F401
    Client,
    Served,
    admin_template,
    client,
    insert_case,
    served_app,
    users,
    web_db,
    web_settings,
)

from ivr.db.writer import Database
from ivr.oncall import rota, store
from ivr.settings import Settings


@pytest.fixture
async def server(web_settings: Settings, web_db: Database, users: dict[str, int]) -> AsyncIterator[Served]:
    async with served_app(web_settings, web_db, "ivr.oncall.web") as served:
        yield served


async def test_admin_adds_and_removes_staff_and_bad_input_shows_on_the_form(client: Client, web_db: Database) -> None:
    await client.login("admin")
    status, page = await client.get("/oncall")
    assert status == 200 and "Nobody is on the rota" in page
    status, page = await client.post("/oncall", {"name": "Mai", "phone": "mai", "languages": "my"})
    assert status == 400 and "The phone must be a SIP endpoint" in page
    assert 'value="Mai"' in page and 'value="my"' in page          # what was typed is kept
    status, page = await client.post("/oncall", {"name": "Mai", "phone": "PJSIP/mai", "languages": "my,th",
                                                 "hours": "22:00-06:00"})
    assert status == 200 and "PJSIP/mai" in page and "Burmese, Thai" in page and "22:00-06:00" in page
    staff = await web_db.read(lambda db: rota.list_staff(db))
    status, page = await client.post(f"/oncall/{staff[0].id}", {"name": "Mai", "phone": "PJSIP/mai", "hours": "9"})
    assert status == 400 and "Hours must look like" in page
    status, page = await client.post(f"/oncall/{staff[0].id}/remove")
    assert status == 200 and "Nobody is on the rota" in page
    rows = await web_db.query("select action, username from audit_log where object_type = 'oncall_staff'")
    assert [(r["action"], r["username"]) for r in rows] == [("oncall.add", "admin"), ("oncall.remove", "admin")]


async def test_only_admins_manage_the_rota(client: Client) -> None:
    await client.login("super")
    status, _ = await client.get("/oncall")
    assert status == 403


async def test_banner_json_then_take_it_and_the_panel_shows_who(client: Client, web_db: Database,
                                                                  users: dict[str, int]) -> None:
    def seed(db: sqlite_utils.Database) -> int:
        case_id = insert_case(db, language="my", priority=3, emergency=1)
        staff_id = rota.add(db, rota.parse("Nok", "PJSIP/nok"), actor="test")
        esc = store.open_escalation(db, case_id, ["email"])
        step = store.begin_step(db, esc, staff_id, "Nok")
        assert step is not None
        store.set_step(db, step[0], "no_answer")
        db.execute("update escalation_messages set state = 'pending', attempts = 2,"
                   " last_error = 'SMTPAuthenticationError (SMTP 535)'")
        return case_id

    case_id = await web_db.write(seed)
    await client.login("cw_my")
    async with client.session.get(client.base + "/oncall/alerts.json") as r:
        data = json.loads(await r.text())
        assert r.headers["Cache-Control"] == "no-store"
    assert data["count"] == 1 and data["cases"] == [case_id] and data["oldest_age_s"] >= 0
    status, page = await client.get(f"/cases/{case_id}")
    assert "Nobody has taken this emergency yet" in page and "Nok" in page and "no answer" in page
    assert "SMTPAuthenticationError (SMTP 535)" in page           # a failing channel shows on the case
    status, page = await client.post(f"/oncall/cases/{case_id}/take")
    assert status == 200 and "Taken by cw_my" in page and "in the web UI" in page
    async with client.session.get(client.base + "/oncall/alerts.json") as r:
        assert json.loads(await r.text())["count"] == 0
    rows = await web_db.query("select username from audit_log where action = 'oncall.acknowledged'")
    assert [r["username"] for r in rows] == ["cw_my"]
    case = await web_db.query_one("select status from cases where id = ?", [case_id])
    assert case is not None and case["status"] == "acknowledged"


async def test_signed_out_visitors_get_no_alerts(client: Client, web_db: Database) -> None:
    status, _ = await client.get("/oncall/alerts.json", allow_redirects=False)
    assert status in (302, 303, 401)


async def test_dashboard_shows_emergencies_not_taken_and_the_oldest_age(client: Client, web_db: Database) -> None:
    from datetime import UTC, datetime, timedelta

    from ivr.oncall.status import unacknowledged_emergencies

    old = (datetime.now(UTC) - timedelta(minutes=12)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    await web_db.write(lambda db: [insert_case(db, priority=3, emergency=1, created_at=old),
                                   insert_case(db, priority=3, emergency=1),
                                   insert_case(db, priority=3, emergency=1, status="acknowledged")])
    figures = await web_db.read(lambda db: unacknowledged_emergencies(db))
    assert figures.count == 2 and figures.oldest_age_s is not None and 700 < figures.oldest_age_s < 900
    await client.login("super")
    status, text = await client.get("/dashboard")
    assert status == 200 and '<p class="big" id="emergency-waiting">2</p>' in text
    assert "the oldest waiting 12 minutes" in text


async def test_a_burmese_admin_reads_the_rotas_problems_in_burmese(client: Client, web_db: Database) -> None:
    # The page showed `ivr check`'s English line ("oncall: the on-call rota has nobody ... `ivr oncall add`")
    # to an admin reading Burmese, and its menu link said "On call" in English.
    await web_db.write(lambda db: db.execute("update users set ui_language = 'my' where username = 'admin'"))
    await client.login("admin")
    status, page = await client.get("/oncall")
    assert status == 200 and '<html lang="my">' in page
    assert '<a href="/oncall" aria-current="page">တာဝန်ကျ အလှည့်စာရင်း</a>' in page  # "On-call rota"
    assert "oncall:" not in page and "ivr oncall add" not in page and "On call" not in page
    assert "တာဝန်ကျ အလှည့်စာရင်းတွင် မည်သူမျှ မရှိပါ" in page  # "Nobody is on the rota"
    assert '<table class="rota">' not in page  # the alert says it; no empty table beside it
    await web_db.write(lambda db: rota.add(db, rota.parse("Mai", "+66812345678"), actor="test"))
    _, page = await client.get("/oncall")
    assert "Mai တွင် ဖုန်းနံပါတ် ရှိသော်လည်း" in page and "IVR_ONCALL_TRUNK" in page  # no trunk to ring numbers
    # A wide rota scrolls in its own box: its headings are never squeezed to a letter a line on a phone.
    assert '<div class="scroll" tabindex="0"><table class="rota">' in page
