"""Who is signed in, what their role lets them do, and CSRF protection.

Handlers use :func:`require_role` and :func:`current_user` (and :func:`public` for the few that
need no sign-in); forms include ``{{ csrf_field() }}`` and scripts send the ``X-CSRF-Token``
header with the token from ``<meta name="csrf-token">``. :func:`auth_middleware` enforces
sign-in and CSRF for every route, extensions' included.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from ivr.admin.i18n import http_error
from ivr.admin.keys import SESSION_EXPIRED, SESSION_TOKEN, SETTINGS, USER, User
from ivr.admin.sessions import SessionStore
from ivr.words import N_, Words

# Roles that work on cases (all roles: ivr.admin.users.ROLES). Admins run the installation; they do not read cases.
CASE_ROLES = ("caseworker", "supervisor")

SESSIONS = web.AppKey("ivr_sessions", SessionStore)
PRE_SESSION = web.RequestKey("ivr_pre_session", str)

CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
# Sent by scripts that poll in the background: such requests do not keep a session alive.
POLL_HEADER = "X-Background-Poll"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def session_cookie_name(app: web.Application) -> str:
    # The __Host- prefix makes browsers refuse the cookie unless Secure, host-only, path /.
    return "__Host-ivr-session" if app[SETTINGS].cookie_secure else "ivr-session"


def pre_cookie_name(app: web.Application) -> str:
    return "__Host-ivr-pre" if app[SETTINGS].cookie_secure else "ivr-pre"


def set_cookie(response: web.StreamResponse, app: web.Application, name: str, value: str,
               max_age: int | None = None) -> None:
    response.set_cookie(
        name, value, path="/", secure=app[SETTINGS].cookie_secure, httponly=True, samesite="Strict",
        max_age=max_age,
    )


def csrf_token(request: web.Request) -> str:
    """The token forms must send back: bound to the session, or to the pre-sign-in cookie."""
    seed = request.get(SESSION_TOKEN) or ("pre:" + request.get(PRE_SESSION, ""))
    key = request.app[SETTINGS].key("admin-csrf")
    return hmac.new(key, seed.encode(), hashlib.sha256).hexdigest()


async def _sent_csrf(request: web.Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()  # aiohttp caches it; the handler reads it again for free
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def current_user(request: web.Request) -> User:
    user = request.get(USER)
    if user is None:
        raise _sign_in_again(request)
    return user


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "") or request.headers.get(CSRF_HEADER) is not None


def _sign_in_again(request: web.Request) -> web.HTTPException:
    if _wants_json(request) or request.method not in SAFE_METHODS:
        return web.HTTPUnauthorized(
            text=N_("Your session has ended. Please sign in again."), content_type="text/plain"
        )
    expired = "&expired=1" if request.get(SESSION_EXPIRED) else ""
    return web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}{expired}")


def public(handler: Handler) -> Handler:
    """Mark a handler that people who are not signed in may reach (the sign-in pages). Every other
    route needs a signed-in user, checked once in :func:`auth_middleware`, so a page that forgets
    :func:`require_role` is still closed to strangers."""
    setattr(handler, _PUBLIC, True)
    return handler


_PUBLIC = "_ivr_public"


def _is_public(request: web.Request) -> bool:
    # An unknown address or method stays a plain 404/405, whoever asks.
    return request.match_info.http_exception is not None or getattr(request.match_info.handler, _PUBLIC, False)


ROLE_NAMES = {"caseworker": N_("caseworker"), "supervisor": N_("supervisor"), "admin": N_("administrator"),
              "brand": N_("brand")}


def require_role(*roles: str) -> Callable[[Handler], Handler]:
    """Only signed-in users with one of ``roles`` (any role when none given) reach the handler."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            user = current_user(request)
            if roles and user.role not in roles:
                allowed = Words(ROLE_NAMES.get(roles[0], roles[0]))
                for role in roles[1:]:
                    allowed = Words(N_("%(first)s or %(second)s"), first=allowed,
                                    second=Words(ROLE_NAMES.get(role, role)))
                raise http_error(web.HTTPForbidden,
                                 N_("This page is for %(allowed)s accounts, and yours is a %(yours)s account."),
                                 allowed=allowed,
                                 yours=Words(ROLE_NAMES.get(user.role, user.role)))
            return await handler(request)

        return guarded

    return decorate


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Load the session (if any) and refuse state-changing requests without a valid CSRF token."""
    app = request.app
    if request.path.startswith("/static/"):
        return await handler(request)
    token = request.cookies.get(session_cookie_name(app))
    if token:
        user, expired = await app[SESSIONS].lookup(token, touch=request.headers.get(POLL_HEADER) != "1")
        if user is not None:
            request[USER] = user
            request[SESSION_TOKEN] = token
        request[SESSION_EXPIRED] = expired
    new_pre = None
    if request.get(USER) is None:
        pre = request.cookies.get(pre_cookie_name(app))
        if not pre:
            pre = new_pre = secrets.token_urlsafe(24)
        request[PRE_SESSION] = pre

    if request.method not in SAFE_METHODS:
        sent = await _sent_csrf(request)
        if not sent or not hmac.compare_digest(sent, csrf_token(request)):
            if request.get(SESSION_EXPIRED):
                raise _sign_in_again(request)
            raise web.HTTPForbidden(
                text=N_("This form had expired or did not come from this site. Go back, reload the page and try "
                        "again.")
            )

    if request.get(USER) is None and not _is_public(request):
        raise _sign_in_again(request)

    response = await handler(request)
    if new_pre is not None:
        set_cookie(response, app, pre_cookie_name(app), new_pre)
    if token and request.get(USER) is None:
        response.del_cookie(session_cookie_name(app), path="/")
    return response
