"""Signing in and out, and the start page that sends each role where it works."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

import sqlite_utils
from aiohttp import web
from yarl import URL

from ivr.admin import audit, limits
from ivr.admin.auth import SESSIONS, public, session_cookie_name, set_cookie
from ivr.admin.keys import DATABASE, NAV_LINKS, SESSION_EXPIRED, SESSION_TOKEN, SETTINGS, USER
from ivr.admin.passwords import hash_password, needs_rehash, verify_password
from ivr.admin.render import UI_PARAMETER, in_language, render, shown
from ivr.words import N_, Words

log = logging.getLogger(__name__)


def _trusted(address: str, proxies: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(p, strict=False) for p in proxies)


def client_address(request: web.Request) -> str:
    """The address to rate-limit.

    X-Forwarded-For is believed only when the peer is one of IVR_TRUSTED_PROXIES (none by default:
    anyone on the machine, or any client of a proxy that passes the header through, could write it).
    Entries are read from the right, skipping the trusted proxies' own; the first other one is the
    client as the nearest trusted proxy saw it.
    """
    peer = request.remote or "unknown"
    proxies = request.app[SETTINGS].trusted_proxies
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return peer


def _safe_next(value: str) -> str:
    """``value`` when it is a path on this site, else "".

    Checked on what a browser will resolve, not on the raw text: browsers drop tabs and newlines
    from a URL and read "\\" as "/", so "/\t/evil.example" leaves the site as "//evil.example".
    The target is resolved against a placeholder origin and must stay on it, with no control
    characters at all.
    """
    if not value or any(ord(c) < 0x20 or c in "\x7f\\" for c in value):
        return ""
    origin = URL("http://this.site")
    try:
        target = origin.join(URL(value))
    except ValueError:
        return ""
    result = str(target.relative())
    if target.origin() != origin or not value.startswith("/") or value.startswith("//") or result.startswith("//"):
        return ""
    return result


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


def _form(request: web.Request, *, error: Words | None = None, username: str = "", expired: bool = False,
          status: int = 200) -> web.Response:
    ctx: dict[str, Any] = {
        "error": shown(request, error) if error else "",
        "username": username,
        "expired": expired,
        "next": _safe_next(request.query.get("next", "")),
        # The form posts back in the language the page was asked for, so a refusal reads the same.
        "action": in_language("/login", request.query.get(UI_PARAMETER, "")),
    }
    return render(request, "login.html", ctx, status=status)


@public
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    address = client_address(request)
    database = request.app[DATABASE]
    # Counted before the slow check, so parallel tries cannot all slip through; success takes it back.
    wait = await database.write(lambda db: limits.attempt(db, username, address))
    if wait is not None:
        log.warning("sign-in refused: too many failures for this username from this address")
        return _form(
            request,
            username=username,
            status=429,
            error=Words(N_("Too many wrong attempts. Please wait %(n)s minute(s) and try again. If you have "
                           "forgotten your password, ask your hotline's administrator (who manages accounts) to reset "
                           "it; a supervisor then gives you a link to choose a new one."), n=limits.minutes(wait)),
        )
    row = await database.query_one(
        "select id, username, password_hash, active, approved from users where username = ? collate nocase",
        [username],
    )
    # argon2 takes a good fraction of a second: never on the event loop.
    ok = await asyncio.to_thread(verify_password, row["password_hash"] if row else None, password)
    ok = ok and bool(row and row["active"])
    if ok and row is not None and not row["approved"]:
        await database.write(lambda db: limits.succeeded(db, username, address))
        return _form(request, username=username, status=403,
                     error=Words(N_("Your account is waiting for a supervisor's approval. Please ask a supervisor.")))
    if not ok or row is None:
        def failed(db: sqlite_utils.Database) -> None:
            if row is not None:
                db.execute("update users set failed_logins = failed_logins + 1 where id = ?", [row["id"]])
            audit.record(db, None, "signin.failed", "user", row["id"] if row else None,
                         username=row["username"] if row else None)

        await database.write(failed)
        log.info("sign-in failed user=%s", row["id"] if row else "unknown")
        return _form(request, username=username, status=401,
                     error=Words(N_("The username or password is not right. Please try again.")))

    await database.write(lambda db: limits.succeeded(db, username, address))
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
    user = request.get(USER)
    # "You have signed out." in the language they used, not their browser's.
    response = web.HTTPSeeOther(in_language("/login?done=signedout", user.ui_language) if user else
                                "/login?done=signedout")
    response.del_cookie(session_cookie_name(request.app), path="/")
    raise response


def setup(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
