# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""The queue, the dashboard, /users and the extension point, over real HTTP."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import jinja2
from admin_helpers import (  # noqa: F401
    PASSWORD,
    Client,
    admin_template,
    client,
    insert_case,
    server,
    users,
    web_db,
    web_settings,
)
from aiohttp import web

from ivr.admin.app import create_app
from ivr.admin.keys import CASE_PANELS, JINJA
from ivr.db import connect
from ivr.db.writer import Database
from ivr.settings import Settings


def ago(**kw: Any) -> str:
    return (datetime.now(UTC) - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def case_ids(text: str) -> list[int]:
    import re

    return [int(m) for m in re.findall(r'data-id="(\d+)"', text)]


async def test_queue_visibility_filters_sort_and_paging(client: Client, web_db: Database,
                                                        users: dict[str, int]) -> None:
    ids = web_db.write_sync(lambda db: {
        "my_old": insert_case(db, language="my", created_at=ago(days=3)),
        "my_urgent": insert_case(db, language="my", priority=3, created_at=ago(hours=1)),
        "km": insert_case(db, language="km"),
        "km_mine": insert_case(db, language="km", assignee_id=users["cw_my"], category="debt"),
        "my_closed": insert_case(db, language="my", status="closed"),
        "my_other": insert_case(db, language="my", assignee_id=users["cw_km"]),
    })
    await client.login("cw_my")
    status, text = await client.get("/cases")
    assert status == 200
    assert case_ids(text) == [ids["my_urgent"], ids["my_old"], ids["km_mine"]]  # urgent first, then oldest
    assert "1</span> new emergency case(s)" in text
    _, text = await client.get("/cases?sort=newest")
    assert case_ids(text)[0] == ids["km_mine"]
    _, text = await client.get("/cases?category=debt&assignee=me")
    assert case_ids(text) == [ids["km_mine"]]
    _, text = await client.get("/cases?status=all")
    assert ids["my_closed"] in case_ids(text) and ids["my_other"] not in case_ids(text)
    today = datetime.now(UTC).date()
    _, text = await client.get(f"/cases?from={today - timedelta(days=5)}&to={today - timedelta(days=2)}")
    assert case_ids(text) == [ids["my_old"]]
    for bad, words in (("priority=urgent!", "“priority” cannot be “urgent!”"), ("from=31/01/2026", "a date like"),
                       ("page=-1", "page number"), ("status=lost", "“status” cannot be")):
        status, text = await client.get("/cases?" + bad)
        assert status == 400 and words in text and "Traceback" not in text, bad
    async with client.session.get(client.base + "/cases/live?sort=newest") as r:
        data = await r.json()
        assert data["emergencies"] == 1 and data["newest"] == ids["km_mine"] and f"#{ids['km']}<" not in data["html"]


async def test_queue_pages(client: Client, web_db: Database) -> None:
    statuses = ["new", "acknowledged", "in_progress", "referred", "resolved", "closed"]
    ids = web_db.write_sync(lambda db: [
        insert_case(db, language="my", status=statuses[i % 6], created_at=ago(hours=100 - i)) for i in range(66)])
    await client.login("super")
    _, text = await client.get("/cases")
    assert len(case_ids(text)) == 50 and "Next page" in text
    _, text = await client.get("/cases?page=2")
    assert len(case_ids(text)) == 5 and "Previous page" in text and "Next page" not in text
    open_ids = [i for n, i in enumerate(ids) if statuses[n % 6] != "closed"]  # oldest first, across statuses
    _, first = await client.get("/cases?sort=oldest")
    _, second = await client.get("/cases?sort=oldest&page=2")
    assert case_ids(first) + case_ids(second) == open_ids
    _, text = await client.get("/cases?sort=newest&page=2")
    assert case_ids(text) == open_ids[::-1][50:]


async def test_dashboard_counts_and_csv(client: Client, web_db: Database) -> None:
    def seed(db: Any) -> None:
        for i, (lang, choice, outcome, ended) in enumerate([
            ("my", "wages", "completed", ago(minutes=50)), ("km", None, "abandoned", ago(minutes=40)),
            ("my", "documents", None, None),
        ]):
            db.execute("insert into calls (id, channel_id, started_at, ended_at, language, menu_choice, outcome) "
                       "values (?, 'c', ?, ?, ?, ?, ?)", [f"c{i}", ago(hours=1), ended, lang, choice, outcome])
        insert_case(db, created_at=ago(days=10))
        insert_case(db, status="acknowledged", created_at=ago(hours=5), acknowledged_at=ago(hours=3))

    web_db.write_sync(seed)
    await client.login("super")
    status, text = await client.get("/dashboard")
    assert status == 200
    assert '<p class="big" id="active-calls">1</p>' in text and '<p class="big" id="open-cases">2</p>' in text
    assert "<svg" in text and "Wages unpaid or late: 1" in text
    async with client.session.get(client.base + "/dashboard/calls_per_day.csv") as r:
        assert r.status == 200 and r.content_type == "text/csv"
        rows = list(csv.reader(io.StringIO(await r.text())))
    assert rows[0] == ["Day", "Calls", "Abandoned"] and sum(int(r[1]) for r in rows[1:]) == 3
    assert sum(int(r[2]) for r in rows[1:]) == 1
    async with client.session.get(client.base + "/dashboard/acknowledge.csv") as r:
        text = await r.text()
        assert "Median hours to acknowledge,2.0" in text
    status, _ = await client.get("/dashboard/nothing.csv")
    assert status == 404
    exports = web_db.query_sync("select object_id from audit_log where action = 'export'")
    assert [r["object_id"] for r in exports] == ["calls_per_day", "acknowledge"]


async def test_extension_panel_and_missing_extension(web_settings: Settings, web_db: Database,
                                                     users: dict[str, int]) -> None:
    calls: list[int] = []

    async def panel(request: web.Request, case: dict[str, Any]) -> dict[str, Any]:
        calls.append(case["id"])
        return {"message": "<b>from the panel</b>"}

    app = create_app(web_settings, web_db, extensions=["ivr.no_such_part.web"])
    # An extension brings its own template; here from memory, ahead of admin/templates.
    app[JINJA].loader = jinja2.ChoiceLoader([
        jinja2.DictLoader({"test_panel.html": '<section class="card" id="test-panel">{{ message }}</section>'}),
        app[JINJA].loader,
    ])
    app[CASE_PANELS].append(("test_panel.html", panel))
    case_id = web_db.write_sync(lambda db: insert_case(db, language="my"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    c = Client(f"http://127.0.0.1:{runner.addresses[0][1]}")
    try:
        await c.login("cw_my", PASSWORD)
        status, text = await c.get(f"/cases/{case_id}")
        assert status == 200 and calls == [case_id] and "&lt;b&gt;from the panel&lt;/b&gt;" in text
    finally:
        await c.close()
        await runner.cleanup()


def test_call_counts_remember_settled_hours_and_read_recent_ones(web_db: Database) -> None:
    from zoneinfo import ZoneInfo

    from ivr.admin import stats

    def add(i: int, started: str, outcome: str = "completed") -> None:
        web_db.write_sync(lambda db: db.execute(
            "insert into calls (id, channel_id, started_at, ended_at, language, menu_choice, outcome) "
            "values (?, 'c', ?, ?, 'km', 'debt', ?)", [f"k{i}", started, started, outcome]))

    add(1, ago(days=2))
    add(2, ago(hours=5), "abandoned")
    add(3, ago(days=40))  # outside the window
    counts = stats.CallCounts()
    now = datetime.now(UTC)
    tz = ZoneInfo("Asia/Bangkok")

    db = connect(web_db.path)

    def totals() -> tuple[int, int, dict[str, int]]:
        _, day, by_lang, _ = stats.call_tables(db, tz, datetime.now(UTC), counts)
        return (sum(r[1] for r in day.rows), sum(r[2] for r in day.rows), {r[0]: r[1] for r in by_lang.rows})

    assert totals() == (2, 1, {"Khmer": 2})
    add(4, ago(minutes=10))  # a recent hour is read on every load
    assert totals() == (3, 1, {"Khmer": 3})
    assert counts._settled_until <= stats._hour(now - stats.CallCounts.SETTLE)
    db.conn.close()


async def test_settings_page_names_each_setting_in_the_readers_language(client: Client, web_db: Database) -> None:
    # /settings showed raw names (retention_call_days) and, for a value not set, a blank or "(not set)".
    web_db.write_sync(lambda db: db.execute("update users set ui_language = 'th' where username = 'admin'"))
    await client.login("admin")
    status, page = await client.get("/settings")
    assert status == 200
    rows = {m.group(2): (m.group(1), m.group(3)) for m in re.finditer(
        r'<tr><td>([^<]*)<br><code class="setting-name">([a-z_]+)</code></td><td>(.*?)</td></tr>', page)}
    assert set(rows) == set(Settings().masked())  # every setting, each under its label
    assert rows["retention_call_days"][0] == "จำนวนวันที่เก็บบันทึกการโทร"  # "Days call records are kept"
    assert rows["timezone"] == ("เขตเวลา", "Asia/Bangkok")
    # One way to say "not set", in Thai, whether the value is empty text (smtp_host) or none (alert_ca_file).
    for name in ("smtp_host", "alert_ca_file"):
        assert rows[name][1] == '<span class="muted">ยังไม่ได้ตั้งค่า</span>', rows[name]
    assert rows["cookie_secure"][1] in ("ใช่", "ไม่")  # yes or no, not True or False
    assert not [n for n, (_, value) in rows.items() if value.strip() in ("", "(not set)")]
    assert "(not set)" not in page


def test_every_setting_has_a_label() -> None:
    from ivr.admin.setting_labels import LABELS

    assert set(Settings().masked()) <= set(LABELS), set(Settings().masked()) - set(LABELS)


def test_the_style_sheet_has_no_stray_brace() -> None:
    # A stray "}" after a media block made the browser drop the next rule (the dashboard cards' headings).
    from pathlib import Path

    css = re.sub(r"/\*.*?\*/", "", (Path(__file__).resolve().parents[1] / "admin/static/style.css").read_text(),
                 flags=re.S)
    depth = 0
    for line_no, line in enumerate(css.splitlines(), 1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"style.css: a '}}' with nothing to close near line {line_no}"
    assert depth == 0
