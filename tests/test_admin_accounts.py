# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""Accounts over real HTTP: an admin can never make themselves a case reader.

A case-reading account (new, or a role change) waits for a supervisor's approval; its password
is chosen by its owner through a one-time link only supervisors see. Also: password strength
(zxcvbn) and brand users needing a real brand.
"""

from __future__ import annotations

import re

import pytest
from admin_helpers import (  # noqa: F401
    PASSWORD,
    Client,
    admin_template,
    client,
    server,
    users,
    web_db,
    web_settings,
)

from ivr.admin.server import AdminServer
from ivr.db.writer import Database

LINK = re.compile(r'value="(http://[^"]+(/set-password/[A-Za-z0-9_-]+))"')
NEW_PASSWORD = "quiet river under the mango tree"


async def _supervisor(server: AdminServer) -> Client:
    sup = Client(server.url)
    status, _ = await sup.login("super")
    assert status == 200
    return sup


async def _set_password(server: AdminServer, path: str, password: str) -> tuple[int, str]:
    owner = Client(server.url)
    try:
        await owner.get(path)
        return await owner.post(path, {"password": password, "repeat": password})
    finally:
        await owner.close()


async def test_admin_creates_a_case_reader_only_a_supervisor_can_activate(
        client: Client, server: AdminServer, web_db: Database) -> None:
    await client.login("admin")
    status, text = await client.post("/users", {"username": "eve", "role": "supervisor"})
    assert status == 200 and "must approve" in text and "eve" in text
    assert not LINK.search(text)  # the admin never sees a way to set a case reader's password
    row = web_db.query_sync("select approved, password_hash from users where username = 'eve'")[0]
    assert row == {"approved": 0, "password_hash": ""}
    # The admin's old trick, a password of their choosing, no longer exists on the form or the route.
    status, text = await client.post("/users/eve/password", {"password": NEW_PASSWORD})
    assert "A supervisor gives them a link" in text and not LINK.search(text)
    eve = Client(server.url)
    status, _ = await eve.login("eve", NEW_PASSWORD)
    assert status == 401
    await eve.close()
    # Admins cannot open the approvals page.
    status, _ = await client.get("/approvals")
    assert status == 403

    sup = await _supervisor(server)
    try:
        status, text = await sup.get("/approvals")
        assert "eve" in text and "new <strong>supervisor</strong> account" in text
        eve_id = web_db.query_sync("select id from users where username = 'eve'")[0]["id"]
        status, text = await sup.post(f"/approvals/{eve_id}/approve")
        found = LINK.search(text)
        assert status == 200 and found, text
        path = found.group(2)
        token_hash = web_db.query_sync("select token_hash from password_links")[0]["token_hash"]
        assert path.rsplit("/", 1)[1] not in token_hash  # only a keyed hash is stored
        status, text = await sup.get("/approvals")
        assert "eve" in text and not LINK.search(text)  # shown once
    finally:
        await sup.close()

    status, text = await _set_password(server, path, "password12")
    assert status == 400 and "too easy to guess" in text and "common password" in text
    status, text = await _set_password(server, path, NEW_PASSWORD)
    assert status == 200 and "Your password is set" in text
    status, text = await client.get(path)
    assert status == 404 and "expired or was already used" in text  # one time only
    eve = Client(server.url)
    try:
        status, _ = await eve.login("eve", NEW_PASSWORD)
        assert status == 200 and (await eve.get("/cases"))[0] == 200
        # A reset by the admin signs eve out; only a supervisor can make the new link.
        status, text = await client.post("/users/eve/password")
        assert not LINK.search(text)
        status, text = await eve.get("/cases")
        assert "Sign in</h1>" in text
        status, _ = await eve.login("eve", NEW_PASSWORD)
        assert status == 401
    finally:
        await eve.close()
    actions = [r["action"] for r in web_db.query_sync("select action from audit_log where action like 'user.%'")]
    assert actions == ["user.create", "user.password", "user.approve", "user.link", "user.password.set",
                       "user.password"]


async def test_a_new_account_waiting_for_approval_cannot_sign_in(client: Client, server: AdminServer,
                                                                 web_db: Database) -> None:
    from ivr.admin.users import password_hash

    hashed = password_hash(NEW_PASSWORD, "kim")
    web_db.write_sync(lambda db: db.execute(
        "insert into users (username, password_hash, role, approved, created_at) values "
        "('kim', ?, 'caseworker', 0, '2026-01-01T00:00:00.000000Z')", [hashed]))
    status, text = await client.login("kim", NEW_PASSWORD)
    assert status == 403 and "waiting for a supervisor" in text


async def test_role_changes_to_a_case_role_wait_for_a_supervisor(client: Client, server: AdminServer,
                                                                 web_db: Database) -> None:
    web_db.write_sync(lambda db: db.execute("insert into brands (id, name, created_at) values (7, 'B', 'x')"))
    await client.login("admin")
    status, text = await client.post("/users", {"username": "brandy", "role": "brand", "brand_id": "7"})
    found = LINK.search(text)
    assert status == 200 and found  # a brand account reads no cases: its link goes to the admin
    status, text = await client.post("/users/brandy/edit", {"role": "supervisor", "brand_id": ""})
    assert status == 200 and "must approve" in text
    row = web_db.query_sync("select role, pending_role from users where username = 'brandy'")[0]
    assert row == {"role": "brand", "pending_role": "supervisor"}
    # An admin cannot even ask for a case-reading role for their own account (they know its password).
    status, text = await client.post("/users/admin/edit", {"role": "supervisor"})
    assert status == 400 and "cannot change your own role" in text
    assert web_db.query_sync("select pending_role from users where username = 'admin'")[0]["pending_role"] is None
    # Languages are edited at once; the caseworker keeps reading only them.
    status, text = await client.post("/users/cw_my/edit", {"role": "caseworker", "languages": ["my", "km"]})
    assert status == 200 and "The user was saved" in text
    assert web_db.query_sync("select languages from users where username = 'cw_my'")[0]["languages"] == "my,km"

    sup = await _supervisor(server)
    try:
        status, text = await sup.get("/approvals")
        assert "brandy" in text and "from brand to <strong>supervisor</strong>" in text
        brandy = web_db.query_sync("select id from users where username = 'brandy'")[0]["id"]
        await sup.post(f"/approvals/{brandy}/refuse")
        row = web_db.query_sync("select role, pending_role, active from users where username = 'brandy'")[0]
        assert row == {"role": "brand", "pending_role": None, "active": 1}
        # Approved, the role applies and the old password (which the admin's link let someone set) is void.
        await client.post("/users/brandy/edit", {"role": "caseworker", "languages": ["my"]})
        status, text = await sup.post(f"/approvals/{brandy}/approve")
        assert status == 200 and LINK.search(text)
        row = web_db.query_sync("select role, pending_role, password_hash from users where username = 'brandy'")[0]
        assert row == {"role": "caseworker", "pending_role": None, "password_hash": ""}
    finally:
        await sup.close()


@pytest.mark.parametrize("weak", ["aaaaaaaaaa", "1234567890", " " * 10, "password12"])
def test_common_and_guessable_passwords_are_refused(weak: str) -> None:
    from ivr.admin.users import UserError, password_hash

    with pytest.raises(UserError) as refused:
        password_hash(weak, "lin")
    assert "guess" in str(refused.value) or "only spaces" in str(refused.value)


async def test_a_brand_user_needs_an_existing_brand(client: Client, web_db: Database) -> None:
    await client.login("admin")
    status, text = await client.post("/users", {"username": "nobrand", "role": "brand", "brand_id": "99"})
    assert status == 400 and "There is no brand number 99" in text
    status, text = await client.post("/users", {"username": "nobrand", "role": "brand", "brand_id": "²"})
    assert status == 400 and "must be a number" in text
    assert not web_db.query_sync("select 1 from users where username = 'nobrand'")


async def test_a_reset_lifts_the_sign_in_slow_down(client: Client, server: AdminServer, web_db: Database) -> None:
    stranger = Client(server.url)
    try:
        for _ in range(5):
            await stranger.login("cw_my", "wrong password!")
        status, _ = await stranger.login("cw_my", PASSWORD)
        assert status == 429
    finally:
        await stranger.close()
    assert web_db.query_sync("select failures from signin_failures where username = 'cw_my'") == [{"failures": 5}]
    await client.login("admin")
    await client.post("/users/cw_my/password")
    assert web_db.query_sync("select 1 from signin_failures where username = 'cw_my'") == []


async def users_with_a_brand_account(client: Client, web_db: Database, language: str) -> str:
    """/users read by the admin in ``language``, once the admin has made "acme", the brand Acme's account."""
    web_db.write_sync(lambda db: db.execute("insert into brands (id, name, created_at) values (7, 'Acme', 'x')"))
    web_db.write_sync(lambda db: db.execute("update users set ui_language = ? where username = 'admin'",
                                            [language]))
    await client.login("admin")
    status, _ = await client.post("/users", {"username": "acme", "role": "brand", "brand_id": "7"})
    assert status == 200
    _, page = await client.get("/users")
    return page


async def test_a_brand_account_is_tied_to_a_brand_by_its_name(client: Client, server: AdminServer,
                                                               web_db: Database) -> None:
    # The form asked the admin for the brand's internal number ("Brand number"), which no page shows.
    page = await users_with_a_brand_account(client, web_db, "th")
    assert 'name="brand_id" inputmode="numeric"' not in page
    assert '<option value="7">Acme</option>' in page  # the new-user form offers brands by name
    assert '<option value="7" selected>Acme</option>' in page  # acme's own edit form has it chosen
    assert "ไม่มี (ไม่ใช่ผู้ใช้แบรนด์)" in page  # "None (not a brand user)", in the admin's Thai
    row = re.search(r"<td>acme</td>\s*<td>(.*?)</td>", page, re.S)
    assert row and "(Acme)" in row.group(1)  # the list says which brand


async def test_the_users_list_says_what_languages_mean_and_keeps_deactivate_apart(
        client: Client, web_db: Database) -> None:
    # An admin or brand account showed "all" under Languages, and the red "Deactivate" sat right beside
    # "Reset password", one slip of a thumb away.
    page = await users_with_a_brand_account(client, web_db, "my")
    rows = {m.group(1): m.group(2) for m in re.finditer(r"<tr[^>]*>\s*<td>([a-z_]+)</td>(.*?)</tr>", page, re.S)}
    assert set(rows) == {"cw_my", "cw_km", "super", "admin", "acme"}

    def languages(username: str) -> str:
        cell = re.search(r'<td data-label="ဘာသာစကားများ">(.*?)</td>', rows[username], re.S)
        assert cell, rows[username]
        return re.sub(r"<[^>]+>", "", cell.group(1)).strip()

    assert languages("cw_my") == "မြန်မာ"  # a caseworker's own languages, by name
    assert languages("super") == "ဘာသာစကား အားလုံး"  # "every language": supervisors see every case
    for nobody in ("admin", "acme"):  # they see no cases: a dash and why, not "all"
        assert languages(nobody) == "— (ကိစ္စများကို မမြင်ရ)", languages(nobody)
    assert "အားလုံး" not in languages("admin")
    # Deactivate is folded away after the Edit form, behind its own "Deactivate…" with what it does.
    actions = rows["cw_km"]
    reset, edit_ends = actions.index('/users/cw_km/password"'), actions.index("</details>")
    zone = actions.index('<details class="danger-zone"><summary>ပိတ်ရန်…</summary>')
    assert reset < edit_ends < zone < actions.index('/users/cw_km/deactivate"')
    assert "cw_km သည် နောက်ထပ် ဝင်ရောက်၍ မရတော့ဘဲ" in actions
    assert '<button class="danger">cw_km ကို ပိတ်ရန်</button>' in actions
    assert "/users/admin/deactivate" not in page  # never yourself
