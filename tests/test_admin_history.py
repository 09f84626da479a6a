# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""The case page's activity panel and the admins' /audit page, over real HTTP, from the real audit log."""

from __future__ import annotations

import csv
import io
import re

import sqlite_utils
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
from ivr.oncall import rota
from ivr.protection import audit
from ivr.supply import codes, registry
from ivr.supply.registry import Workplace


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
    # Newest first and said so, in an unnumbered list: an <ol> numbered the latest change "1.".
    panel = page.split('id="activity">', 1)[1].split("</section>", 1)[0]
    assert "<ol" not in panel and '<ul class="history">' in panel and "Newest first." in activity
    assert "super: Assigned: nobody → cw_my" in activity
    assert "super: Status: New → Acknowledged" in activity
    assert activity.index("Assigned") < activity.index("Status")  # newest first
    await web_db.write(lambda db: db.execute("update users set ui_language = 'th' where username = 'super'"))
    _, page = await client.get(f"/cases/{case}")
    assert "รายการล่าสุดอยู่ก่อน" in _activity(page)  # "Newest first.", in the reader's Thai

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


def _cells(page: str) -> list[list[str]]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


async def test_audit_page_names_actions_and_changes_in_the_readers_language(
        client: Client, web_db: Database, users: dict[str, int]) -> None:
    # Admins read /audit in Thai: "signin" and "case.status" were shown as keys, and a status change as JSON.
    case = await web_db.write(lambda db: insert_case(db, language="my"))
    await client.login("super")
    await client.post(f"/cases/{case}/status", {"status": "acknowledged", "version": 1})
    await web_db.write(lambda db: db.execute("update users set ui_language = 'th' where username = 'admin'"))
    await client.login("admin")
    status, page = await client.get("/audit")
    assert status == 200 and '<html lang="th">' in page
    rows = {row[3]: row for row in _cells(page)}
    assert "เข้าสู่ระบบ" in rows and "เปลี่ยนสถานะ" in rows  # "Signed in", "Status changed"
    assert not [a for a in rows if re.fullmatch(r"[a-z_]+(\.[a-z_]+)*", a)], f"action keys shown: {list(rows)}"
    assert rows["เปลี่ยนสถานะ"][5] == "สถานะ: ใหม่ → รับทราบแล้ว"  # "Status: New → Acknowledged", not JSON
    assert rows["เข้าสู่ระบบ"][4] == "ผู้ใช้ super"  # "user super", not "user 3"
    assert '<option value="case.status">เปลี่ยนสถานะ</option>' in page  # the filter names actions too


async def test_audit_names_what_each_row_is_about_in_the_readers_language(
        client: Client, web_db: Database) -> None:
    # "About" showed objects other than cases and users as stored: "brand 1", "oncall_staff 3".
    def seed(db: sqlite_utils.Database) -> dict[str, int]:
        supplier = registry.add_supplier(db, "Thread Co")
        registry.save_workplace(db, Workplace(codes.make_code(10001), "Big Mill", "", "", "Thread Co", ("Acme",)))
        brand = registry.brand_id(db, "Acme")
        assert brand is not None
        kept = rota.add(db, rota.Staff("Ko Aung", "PJSIP/aung"), actor="admin")
        gone = rota.add(db, rota.Staff("Ma Hla", "PJSIP/hla"), actor="admin")
        db.execute("delete from oncall_staff where id = ?", [gone])  # no name left to show
        audit.append(db, action="brand.report", username="admin", object_type="brand", object_id=brand)
        audit.append(db, action="supplier.add", username="admin", object_type="supplier", object_id=supplier)
        audit.append(db, action="prompt.approve", username="admin", object_type="prompt", object_id="th/main_menu")
        db.execute("update users set ui_language = 'th' where username = 'admin'")
        return {"kept": kept, "gone": gone}

    staff = await web_db.write(seed)
    await client.login("admin")
    _, page = await client.get("/audit")
    about = [row[4] for row in _cells(page)]
    for thai in ("แบรนด์ Acme", "ซัพพลายเออร์ Thread Co", "เจ้าหน้าที่เวร Ko Aung",
                 f"เจ้าหน้าที่เวร #{staff['gone']}", "ข้อความเสียง main_menu (ไทย)", "ผู้ใช้ admin"):
        assert thai in about, (thai, about)
    assert not [a for a in about if re.search(r"\b(brand|supplier|oncall_staff|prompt) ", a)], about


def test_every_audited_action_has_a_name() -> None:
    """Every action string the code records (in any module) is in history.AUDIT_ACTIONS, so /audit never
    shows a bare key such as "prompt.stand_in" to an admin."""
    import ast
    from pathlib import Path

    from ivr.admin.history import AUDIT_ACTIONS

    action = re.compile(r"(signin|export)(\.[a-z_]+)*|(case|user|prompt|prompt_line|callback|alert|oncall|workplace|"
                        r"supplier|remediation|brand|recording|reply|transcript|retention)(\.[a-z_]+)+")
    root = Path(__file__).resolve().parents[1] / "ivr"
    found = set()
    for path in root.rglob("*.py"):
        if path.name == "history.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and action.fullmatch(node.value):
                found.add(node.value)
    found -= {"case.html"}  # a template's name, not an action
    assert {"signin", "case.status", "prompt.stand_in", "user.ui_language"} <= found  # the scan finds them
    assert not found - set(AUDIT_ACTIONS), sorted(found - set(AUDIT_ACTIONS))
