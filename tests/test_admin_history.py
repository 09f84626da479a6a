# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""The case page's activity panel and the admins' /audit page, over real HTTP, from the real audit log."""

from __future__ import annotations

import csv
import io
import re

from admin_helpers import (  # noqa: F401
    Client,
    admin_template,
    client,
    insert_case,
    server,
    users,
    web_db,
    web_settings,
)

from ivr.db.writer import Database


def _activity(page: str) -> str:
    found = re.search(r'<section class="card" id="activity">(.*?)</section>', page, re.S)
    assert found, "no activity panel"
    return re.sub(r"<[^>]+>", "", found.group(1))


async def test_case_history_and_audit_page(client: Client, web_db: Database, users: dict[str, int]) -> None:
    case = await web_db.write(lambda db: insert_case(db, language="my"))
    await client.login("super")
    status, page = await client.get(f"/cases/{case}")
    assert status == 200 and "Nothing has been changed" in _activity(page)
    await client.post(f"/cases/{case}/status", {"status": "acknowledged", "version": 1})
    await client.post(f"/cases/{case}/assign", {"assignee": str(users["cw_my"]), "version": 2})
    _, page = await client.get(f"/cases/{case}")
    activity = _activity(page)
    assert "super: Assigned: nobody → cw_my" in activity
    assert "super: Status: New → Acknowledged" in activity
    assert activity.index("Assigned") < activity.index("Status")  # newest first

    await client.login("admin")
    status, page = await client.get("/audit")
    assert status == 200 and "The chain is intact" in page
    _, page = await client.get(f"/audit?case={case}&action=case.status")
    rows = re.findall(r"<tr><td>\d+</td>", page)
    assert len(rows) == 1 and "case #" + str(case) in page
    _, page = await client.get("/audit?user=cw_my")
    assert "No entries match" in page
    _, page = await client.get("/audit?action=case")  # a family of actions: case.view, case.status, ...
    assert "case.view" in page and "case.assign" in page and "signin" not in re.sub(r"<option.*?</option>", "", page)
    status, text = await client.get("/audit?case=abc")
    assert status == 400 and "case number" in text
    async with client.session.get(client.base + f"/audit.csv?case={case}") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
        table = list(csv.reader(io.StringIO(await r.text())))
    assert table[0][:3] == ["id", "at_utc", "at_Asia/Bangkok"]
    assert {row[4] for row in table[1:]} == {"case.view", "case.status", "case.assign"}
    # A row edited behind the app's back shows at the top of the page.
    await web_db.write(lambda db: db.executescript(
        "drop trigger audit_log_no_update; update audit_log set username = 'someone' where id = 2;"))
    _, page = await client.get("/audit")
    assert "tampered" in page and "row 2: edited" in page
    await client.login("super")
    status, _ = await client.get("/audit")
    assert status == 403
