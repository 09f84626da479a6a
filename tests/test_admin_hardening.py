# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""What a hostile tester found in the web UI: audio served without an audit row, an open redirect
after sign-in, and numbers in a request ("²", 40 digits) that gave a 500 on many routes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from admin_helpers import (  # noqa: F401
    PASSWORD,
    Client,
    admin_template,
    client,
    insert_reported_case,
    server,
    users,
    web_db,
    web_settings,
)

from ivr.admin.server import AdminServer
from ivr.db.writer import Database
from ivr.settings import Settings


@pytest.fixture
def case(web_db: Database, web_settings: Settings, users: dict[str, int]) -> dict[str, Any]:
    return web_db.write_sync(lambda db: insert_reported_case(db, web_settings.data_dir))


def _count(web_db: Database, action: str) -> int:
    return int(web_db.query_sync("select count(*) n from audit_log where action = ?", [action])[0]["n"])


@pytest.mark.parametrize("range_header", ["bytes=-999999999", "bytes=00-", "bytes=0000-", "bytes=1-", None])
async def test_audio_is_audited_whatever_the_range_spelling(server: AdminServer, case: dict[str, Any],
                                                            web_db: Database, range_header: str | None) -> None:
    url = f"{server.url}/recordings/{case['recording_id']}/audio"
    headers = {"Range": range_header} if range_header else {}
    for session in range(2):
        c = Client(server.url)
        try:
            await c.login("super")
            for _ in range(2):  # the player's later requests in one session are not new plays
                async with c.session.get(url, headers=headers) as r:
                    body = await r.read()
                    assert r.status in (200, 206) and len(body) >= case["size"] - 1
        finally:
            await c.close()
        # A direct audio URL (no case page opened) is also a view of the case.
        assert _count(web_db, "recording.play") == session + 1
        assert _count(web_db, "case.view") == session + 1


@pytest.mark.parametrize("target", ["/%09/evil.example/phish", "/%0A/evil.example/phish", "/%0D/evil.example",
                                    "//evil.example/", "/\\evil.example", "https://evil.example/"])
async def test_sign_in_never_redirects_off_the_site(client: Client, target: str) -> None:
    from urllib.parse import unquote

    status, text = await client.get("/login?next=" + target)
    assert status == 200 and "evil.example" not in text  # the form does not carry it on
    async with client.session.post(client.base + "/login", allow_redirects=False, data={
            "username": "admin", "password": PASSWORD, "next": unquote(target), "csrf": client.token}) as r:
        assert r.status == 303 and r.headers["Location"] == "/"
    async with client.session.get(client.base + "/login?next=" + target, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/"


async def test_a_same_site_next_is_kept(client: Client) -> None:
    await client.get("/login?next=%2Fcases%3Fstatus%3Dall")
    async with client.session.post(client.base + "/login", allow_redirects=False, data={
            "username": "super", "password": PASSWORD, "next": "/cases?status=all", "csrf": client.token}) as r:
        assert r.headers["Location"] == "/cases?status=all"


BAD_NUMBERS = ["²", "١٢", "1" + "0" * 39, "-1", "1.5", " 7"]
# Every name a page reads a number or an id from, in a query string or a form.
NUMBER_NAMES = ["page", "assignee", "priority", "workplace", "supplier", "brand", "year", "version",
                "base_version", "recording_id", "supplier_id", "brand_id", "id", "action_id", "month"]
PLACEHOLDER = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


async def test_every_route_answers_bad_numbers_with_400_or_404(server: AdminServer, case: dict[str, Any],
                                                               web_db: Database) -> None:
    """Walks the app's own router, so a route added later is covered without touching this test."""
    assert server.app is not None
    routes = sorted({(r.method, r.resource.canonical) for r in server.app.router.routes()
                     if r.resource is not None and r.method in ("GET", "POST")
                     and not r.resource.canonical.startswith("/static")
                     # /healthz answers 503 by design when the hotline is unhealthy (no engine here)
                     and r.resource.canonical not in ("/login", "/logout", "/healthz")})
    real = {"id": str(case["case_id"])}
    problems: list[str] = []
    clients = {}
    for role in ("super", "admin", "cw_my"):
        c = Client(server.url)
        await c.login(role)
        clients[role] = c
    try:
        for method, pattern in routes:
            names = PLACEHOLDER.findall(pattern)
            addresses = []
            for name in names:  # each placeholder bad in turn, the others real
                for bad in BAD_NUMBERS:
                    addresses.append(PLACEHOLDER.sub(
                        lambda m, n=name, b=bad: b if m.group(1) == n else real.get(m.group(1), "1"), pattern))
            good = PLACEHOLDER.sub(lambda m: real.get(m.group(1), "1"), pattern)
            for role, c in clients.items():
                for address in addresses:
                    status = await _send(c, method, address, {})
                    if status >= 500 or (status not in (400, 403, 404, 405) and _numeric(pattern)):
                        problems.append(f"{role} {method} {address} -> {status}")
                for bad in BAD_NUMBERS:  # every number-like query field / form field at once
                    fields = dict.fromkeys(NUMBER_NAMES, bad)
                    status = await _send(c, method, good, fields)
                    if status >= 500:
                        problems.append(f"{role} {method} {good} with {bad!r} -> {status}")
    finally:
        for c in clients.values():
            await c.close()
    assert not problems, "\n".join(problems)
    assert len(routes) > 30  # the walk really saw the app's routes


def _numeric(pattern: str) -> bool:
    return any(n == "id" or n.endswith("_id") for n in PLACEHOLDER.findall(pattern))


async def _send(c: Client, method: str, path: str, fields: dict[str, str]) -> int:
    if method == "GET":
        async with c.session.get(c.base + path, params=fields, allow_redirects=False) as r:
            await r.read()
            return r.status
    async with c.session.post(c.base + path, data={**fields, "csrf": c.token}, allow_redirects=False) as r:
        await r.read()
        return r.status
