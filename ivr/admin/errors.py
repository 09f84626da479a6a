"""Security headers on every response, and plain-words error pages instead of tracebacks."""

from __future__ import annotations

import logging
import secrets
import time

from aiohttp import web

from ivr.admin.auth import CSRF_HEADER, Handler
from ivr.words import N_, Words

log = logging.getLogger(__name__)

# No inline script or style anywhere: everything the page runs comes from /static.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
}

DEFAULT_MESSAGES = {
    400: N_("The request could not be understood. Please go back and check what you entered."),
    401: N_("Your session has ended. Please sign in again."),
    403: N_("You do not have permission to open this page."),
    404: N_("This page does not exist."),
    405: N_("This page cannot be used that way."),
    409: N_("Someone else changed this at the same time. Nothing was overwritten."),
    413: N_("The file is too big."),
    500: N_("Something went wrong on the server. Your work was not saved. Please try again."),
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        # Case data must not sit in a shared computer's cache.
        response.headers.setdefault("Cache-Control", "no-store")


def _message(request: web.Request, exc: web.HTTPException) -> str:
    """A handler's own words (``raise web.HTTPNotFound(text=N_(...))``), else a plain default, translated."""
    from ivr.admin.render import translator

    _ = translator(request)
    words = getattr(exc, "ui_words", None)
    if isinstance(words, Words):
        return words.translate(_)
    text = exc.text or ""
    if exc.content_type == "text/plain" and text and not text.startswith(f"{exc.status}: "):
        return _(text)
    return _(DEFAULT_MESSAGES.get(exc.status, N_("This request could not be completed.")))


def _wants_text(request: web.Request) -> bool:
    return request.headers.get(CSRF_HEADER) is not None or "application/json" in request.headers.get("Accept", "")


def error_response(request: web.Request, status: int, message: str) -> web.Response:
    if _wants_text(request) or request.path.startswith("/static/"):
        return web.Response(status=status, text=message, content_type="text/plain")
    from ivr.admin.render import render

    return render(request, "error.html", {"status": status, "message": message}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        response = await handler(request)
        # The server's own time for the page, shown by browsers' developer tools and read by bench/.
        if not response.prepared:
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(request, exc.status, _message(request, exc))
    except Exception:
        ref = secrets.token_hex(4)
        log.exception("request failed: %s %s (ref %s)", request.method, request.path, ref)
        from ivr.admin.render import translator

        message = translator(request)(N_("Something went wrong on the server. Your work was not saved. Please try "
                                         "again. (Reference: %(ref)s)")) % {"ref": ref}
        return error_response(request, 500, message)
