# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""Sign-in, sessions, CSRF, rate limiting and security headers of the web UI, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from admin_helpers import (  # noqa: F401
    PASSWORD,
    Client,
    admin_template,
    client,
    served_app,
    server,
    users,
    web_db,
    web_settings,
)
from aiohttp import web

from ivr.admin.server import AdminServer
from ivr.db.writer import Database
from ivr.settings import Settings


async def test_sign_in_and_out(client: Client, web_db: Database) -> None:
    status, text = await client.get("/settings")
    assert status == 200 and "Sign in" in text  # sent to the sign-in page
    status, text = await client.login("admin")
    assert status == 200 and "Settings" in text  # admin's start page
    cookies = {c.key: c for c in client.session.cookie_jar}
    assert cookies["ivr-session"]["httponly"] and cookies["ivr-session"]["samesite"] == "Strict"
    stored = web_db.query_sync("select token_hash from admin_sessions")
    assert len(stored) == 1 and stored[0]["token_hash"] != cookies["ivr-session"].value
    actions = [r["action"] for r in web_db.query_sync("select action from audit_log order by id")]
    assert actions == ["signin"]

    status, text = await client.post("/logout")
    assert "You have signed out" in text
    assert web_db.query_sync("select count(*) n from admin_sessions")[0]["n"] == 0
    status, text = await client.get("/settings")
    assert "Sign in" in text and "Setting</th>" not in text


async def test_wrong_password_repeated_is_rate_limited(client: Client, web_db: Database) -> None:
    for _ in range(5):
        status, text = await client.login("cw_my", "wrong password!")
        assert status == 401 and "username or password is not right" in text
    status, text = await client.login("cw_my", PASSWORD)  # even the right one waits now
    assert status == 429 and "Too many wrong attempts" in text and "wait 1 minute(s)" in text
    # Who can help, correctly: administrators reset passwords, a supervisor hands over the link.
    assert "ask a supervisor to reset" not in text and "administrator" in text
    failed = web_db.query_sync("select count(*) n from audit_log where action = 'signin.failed'")[0]["n"]
    assert failed == 5
    # Another user from the same address is not blocked by someone else's typos.
    status, text = await client.login("super", PASSWORD)
    assert status == 200 and "Sign in</h1>" not in text


async def test_parallel_wrong_passwords_cannot_pass_the_limit_together(client: Client, web_db: Database) -> None:
    import asyncio

    await client.get("/login")

    async def attempt() -> int:
        async with client.session.post(client.base + "/login", data={
                "username": "cw_km", "password": "wrong password!", "csrf": client.token}) as r:
            return r.status

    statuses = await asyncio.gather(*(attempt() for _ in range(12)))
    # Each try counts before its slow password check, so a burst gets no more than the limit of 5.
    assert sorted(statuses) == [401] * 5 + [429] * 7
    failed = web_db.query_sync("select count(*) n from audit_log where action = 'signin.failed'")[0]["n"]
    assert failed == 5


def test_limiter_waits_grow_per_pair_and_a_right_password_takes_its_try_back(database: Database) -> None:
    from ivr.admin import limits

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    here, there = "192.0.2.1", "198.51.100.9"

    def attempt(user: str, address: str, at: datetime) -> timedelta | None:
        return database.write_sync(lambda db: limits.attempt(db, user, address, at))

    for i in range(limits.FREE_FAILURES):
        assert attempt("lin", there, t0 + timedelta(seconds=i)) is None
    t = t0 + timedelta(seconds=limits.FREE_FAILURES)
    assert attempt("lin", there, t) is not None  # the stranger waits...
    assert attempt("LIN", here, t) is None  # ...the owner, from their own address, does not
    database.write_sync(lambda db: limits.succeeded(db, "lin", here))
    # Not a hard lock: after the wait a try is allowed, and each further failure doubles the wait.
    waits = []
    for _ in range(4):
        t += limits.MAX_WAIT
        assert attempt("lin", there, t) is None
        waits.append(attempt("lin", there, t))
    assert waits == [limits.FIRST_WAIT * 2 ** n for n in range(1, 5)]
    assert limits.wait_after(50) == limits.MAX_WAIT
    rows = database.query_sync("select username, address, failures from signin_failures")
    assert rows == [{"username": "lin", "address": there, "failures": 9}]


async def _unguarded(request: web.Request) -> web.StreamResponse:
    return web.Response(text="inside an extension page that forgot require_role")


def setup(app: web.Application) -> None:
    """This module is also a web UI extension, to show that sign-in is checked for every route."""
    app.router.add_get("/unguarded", _unguarded)
    app.router.add_post("/unguarded", _unguarded)


async def test_sign_in_is_checked_for_every_route(web_settings: Settings, web_db: Database,
                                                  users: dict[str, int]) -> None:
    async with served_app(web_settings, web_db, __name__) as app:
        c = Client(app.url)
        try:
            status, text = await c.get("/unguarded")
            assert status == 200 and "Sign in" in text and "forgot require_role" not in text
            status, text = await c.post("/unguarded")  # a valid pre-sign-in CSRF token, but nobody signed in
            assert status == 401 and "sign in again" in text
            status, text = await c.get("/no-such-page")
            assert status == 404
            status, text = await c.login("cw_my")
            assert status == 200
            status, text = await c.get("/unguarded")
            assert status == 200 and "forgot require_role" in text
        finally:
            await c.close()


async def test_unknown_user_gets_the_same_answer(client: Client) -> None:
    status, text = await client.login("nobody", PASSWORD)
    assert status == 401 and "username or password is not right" in text


async def test_login_form_rejects_missing_or_wrong_csrf(client: Client) -> None:
    await client.get("/login")
    for token in ("", "0" * 64):
        status, text = await client.post("/login", {"username": "admin", "password": PASSWORD}, csrf=token)
        assert status == 403 and "did not come from this site" in text


async def test_expired_session_asks_to_sign_in_again(client: Client, web_db: Database) -> None:
    await client.login("admin")
    old = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    web_db.write_sync(lambda db: db.execute("update admin_sessions set last_seen_at = ?", [old]))
    status, text = await client.get("/settings")
    assert status == 200 and "signed out because you were away" in text
    assert web_db.query_sync("select count(*) n from admin_sessions")[0]["n"] == 0
    # A form posted with the old session gets a plain answer, not a stack trace.
    await client.login("admin")
    web_db.write_sync(lambda db: db.execute("update admin_sessions set expires_at = ?", [old]))
    status, text = await client.post("/logout")
    assert "Traceback" not in text


async def test_security_headers_and_no_inline_script(client: Client, server: AdminServer) -> None:
    async with client.session.get(server.url + "/login") as r:
        body = await r.text()
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["Cache-Control"] == "no-store"
    assert "<script>" not in body and "style=" not in body
    async with client.session.get(server.url + "/static/style.css") as r:
        assert r.status == 200 and r.headers["X-Content-Type-Options"] == "nosniff"


async def test_open_redirect_is_refused(client: Client) -> None:
    await client.get("/login?next=//evil.example/")
    async with client.session.post(
        client.base + "/login",
        data={"username": "admin", "password": PASSWORD, "next": "//evil.example/", "csrf": client.token},
        allow_redirects=False,
    ) as r:
        assert r.status == 303 and r.headers["Location"] == "/"


async def test_unknown_page_is_a_plain_404(client: Client) -> None:
    status, text = await client.get("/no-such-page")
    assert status == 404 and "does not exist" in text and "Traceback" not in text


async def test_background_polling_does_not_keep_a_session_alive(client: Client, web_db: Database) -> None:
    await client.login("super")
    old = (datetime.now(UTC) - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    web_db.write_sync(lambda db: db.execute("update admin_sessions set last_seen_at = ?", [old]))
    async with client.session.get(client.base + "/cases/live", headers={"X-Background-Poll": "1",
                                                                        "Accept": "application/json"}) as r:
        assert r.status == 200
    assert web_db.query_sync("select last_seen_at from admin_sessions")[0]["last_seen_at"] == old
    await client.get("/cases")  # a page the person opened does count
    assert web_db.query_sync("select last_seen_at from admin_sessions")[0]["last_seen_at"] > old
    long_ago = "2000-01-01T00:00:00.000000Z"
    web_db.write_sync(lambda db: db.execute("update admin_sessions set last_seen_at = ?", [long_ago]))
    async with client.session.get(client.base + "/cases/live", headers={"X-Background-Poll": "1",
                                                                        "Accept": "application/json"}) as r:
        assert r.status == 401 and "sign in again" in await r.text()


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(client: Client, web_db: Database) -> None:
    await client.get("/login")
    headers = {"X-Forwarded-For": "198.51.100.7, 203.0.113.5"}
    async with client.session.post(client.base + "/login", headers=headers,
                                   data={"username": "nobody", "password": "x", "csrf": client.token}) as r:
        assert r.status == 401
    # IVR_TRUSTED_PROXIES is empty by default: a loopback peer's header is not believed.
    rows = web_db.query_sync("select address from signin_failures")
    assert rows == [{"address": "127.0.0.1"}]


async def test_forwarded_for_from_a_trusted_proxy(web_settings: Settings, web_db: Database,
                                                  users: dict[str, int]) -> None:
    import dataclasses

    settings = dataclasses.replace(web_settings, trusted_proxies=("127.0.0.1/32",))
    srv = AdminServer(settings, web_db)
    await srv.start()
    c = Client(srv.url)
    try:
        await c.get("/login")
        headers = {"X-Forwarded-For": "198.51.100.7, 203.0.113.5, 127.0.0.1"}
        async with c.session.post(c.base + "/login", headers=headers,
                                  data={"username": "nobody", "password": "x", "csrf": c.token}) as r:
            assert r.status == 401
    finally:
        await c.close()
        await srv.stop()
    # The rightmost entry that is not a trusted proxy: the client as our proxy saw it.
    assert web_db.query_sync("select address from signin_failures") == [{"address": "203.0.113.5"}]


async def test_cookies_are_secure_by_default(web_db: Database, web_settings: Settings) -> None:
    import dataclasses

    import aiohttp

    srv = AdminServer(dataclasses.replace(web_settings, cookie_secure=True), web_db)
    await srv.start()
    try:
        async with aiohttp.ClientSession() as s, s.get(srv.url + "/login") as r:
            cookie = r.headers["Set-Cookie"]
        assert cookie.startswith("__Host-ivr-pre=")
        for part in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
            assert part in cookie
        assert "Max-Age" not in cookie and "Domain" not in cookie
    finally:
        await srv.stop()
