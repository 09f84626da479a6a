"""Signing in and out, and the start page that sends each role where it works."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

import sqlite_utils
from aiohttp import web

from ivr.admin import audit
from ivr.admin.auth import SESSIONS, public, session_cookie_name, set_cookie
from ivr.admin.keys import DATABASE, LIMITER, NAV_LINKS, SESSION_EXPIRED, SESSION_TOKEN, USER
from ivr.admin.passwords import hash_password, needs_rehash, verify_password
from ivr.admin.render import render

log = logging.getLogger(__name__)


def client_address(request: web.Request) -> str:
    """The address to rate-limit. Behind a reverse proxy on this machine (the usual set-up: it
    terminates TLS) every request comes from loopback, so the proxy's X-Forwarded-For is used;
    its last entry is the one the proxy itself added, which a client cannot forge."""
    peer = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For", "")
    try:
        loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        loopback = False
    if loopback and forwarded:
        return forwarded.split(",")[-1].strip() or peer
    return peer


def _safe_next(value: str) -> str:
    # Only paths on this site: "//evil.example" or "https://..." would leave it.
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return ""


@public
async def home(request: web.Request) -> web.StreamResponse:
    user = request.get(USER)
    if user is None:
        raise web.HTTPSeeOther("/login")
    for link in request.app[NAV_LINKS]:
        if user.role in link.roles:
            raise web.HTTPSeeOther(link.href)
    return render(request, "error.html", {"status": 200, "message": "There is no page for your role yet."})


@public
async def login_form(request: web.Request) -> web.StreamResponse:
    if request.get(USER) is not None:
        raise web.HTTPSeeOther(_safe_next(request.query.get("next", "")) or "/")
    expired = request.query.get("expired") == "1" or bool(request.get(SESSION_EXPIRED))
    return _form(request, expired=expired)


def _form(request: web.Request, *, error: str = "", username: str = "", expired: bool = False,
          status: int = 200) -> web.Response:
    ctx: dict[str, Any] = {
        "error": error,
        "username": username,
        "expired": expired,
        "next": _safe_next(request.query.get("next", "")),
    }
    return render(request, "login.html", ctx, status=status)


@public
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    address = client_address(request)
    limiter = request.app[LIMITER]
    database = request.app[DATABASE]
    if limiter.blocked(username, address):
        log.warning("sign-in refused: too many failures (user or address)")
        return _form(
            request,
            username=username,
            status=429,
            error=f"Too many wrong attempts. Please wait {limiter.wait_minutes} minutes and try again, "
            "or ask a supervisor to reset your password.",
        )
    # Counted before the slow check, so parallel tries cannot all slip past blocked(); success takes it back.
    limiter.failed(username, address)
    row = await database.query_one(
        "select id, username, password_hash, active from users where username = ? collate nocase", [username]
    )
    # argon2 takes a good fraction of a second: never on the event loop.
    ok = await asyncio.to_thread(verify_password, row["password_hash"] if row else None, password)
    ok = ok and bool(row and row["active"])
    if not ok or row is None:
        def failed(db: sqlite_utils.Database) -> None:
            if row is not None:
                db.execute("update users set failed_logins = failed_logins + 1 where id = ?", [row["id"]])
            audit.record(db, None, "signin.failed", "user", row["id"] if row else None,
                         username=row["username"] if row else None)

        await database.write(failed)
        log.info("sign-in failed user=%s", row["id"] if row else "unknown")
        return _form(request, username=username, status=401,
                     error="The username or password is not right. Please try again.")

    limiter.succeeded(username, address)
    user_id = int(row["id"])
    rehashed = await asyncio.to_thread(hash_password, password) if needs_rehash(row["password_hash"]) else None

    def succeeded(db: sqlite_utils.Database) -> None:
        if rehashed:
            db.execute("update users set password_hash = ? where id = ?", [rehashed, user_id])
        audit.record(db, None, "signin", "user", user_id, username=row["username"])

    await database.write(succeeded)
    token = await request.app[SESSIONS].create(user_id)
    log.info("signed in user=%s", user_id)
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", ""))) or "/")
    # No max-age: the cookie goes when the browser closes (shared computers); the server ends
    # the session after its idle and absolute limits in any case.
    set_cookie(response, request.app, session_cookie_name(request.app), token)
    raise response


@public
async def logout(request: web.Request) -> web.StreamResponse:
    token = request.get(SESSION_TOKEN)
    if token:
        await request.app[SESSIONS].end(token)
    response = web.HTTPSeeOther("/login?done=signedout")
    response.del_cookie(session_cookie_name(request.app), path="/")
    raise response


def setup(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
