"""Rendering Jinja2 templates from ``admin/templates`` with what every page needs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from ivr.admin.auth import CSRF_FIELD, csrf_token
from ivr.admin.keys import JINJA, NAV_LINKS, SETTINGS, USER
from ivr.cases import CATEGORIES, PRIORITIES
from ivr.languages import LANGUAGES

ADMIN_DIR = Path(__file__).resolve().parents[2] / "admin"
TEMPLATES_DIR = ADMIN_DIR / "templates"
STATIC_DIR = ADMIN_DIR / "static"

# Short notices a redirect can ask the next page to show (?done=KEY), so no page
# ever echoes text taken from the address bar.
NOTICES = {
    "saved": "Saved.",
    "note": "Your note was added.",
    "status": "The status was changed.",
    "assigned": "The case was assigned.",
    "category": "The category was confirmed.",
    "reply": "Your message for the caller was saved. They will hear it when they call back with their case code.",
    "user": "The user was saved.",
    "password": "The password was changed. The user must sign in again.",
    "deactivated": "The user was deactivated and signed out.",
    "signedout": "You have signed out.",
    "approval": "Saved. A supervisor must approve this account's case-reading role (on Approvals) before it "
                "applies; the supervisor then gives the person a link to choose their password.",
    "reset": "The password was cleared and the user signed out. A supervisor gives them a link to choose a new "
             "one (on Approvals).",
    "approved": "Approved.",
    "refused": "Refused.",
    "passwordset": "Your password is set. Please sign in.",
}


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        CATEGORIES=CATEGORIES,
        PRIORITIES=PRIORITIES,
        LANGUAGES=LANGUAGES,
    )
    env.filters["language_name"] = language_name
    env.filters["when"] = when
    env.filters["age"] = age
    return env


def language_name(code: str | None) -> str:
    if not code:
        return "not chosen"
    lang = LANGUAGES.get(code)
    return lang.english if lang else code


def when(stamp: str | None) -> str:
    """``2026-11-24T10:05:00.000000Z`` -> ``2026-11-24 10:05`` (UTC; the page says so)."""
    if not stamp:
        return ""
    return stamp[:16].replace("T", " ")


def age(stamp: str | None, now: datetime | None = None) -> str:
    """How long ago, in plain words: "5 minutes", "3 hours", "2 days"."""
    if not stamp:
        return ""
    then = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    seconds = max(0, ((now or datetime.now(UTC)) - then).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return "just now"


def page_context(request: web.Request) -> dict[str, Any]:
    user = request.get(USER)
    token = csrf_token(request)
    nav = [link for link in request.app[NAV_LINKS] if user is not None and user.role in link.roles]
    done = request.query.get("done", "")
    return {
        "user": user,
        "nav": nav,
        "path": request.path,
        "csrf_token": token,
        "csrf_field": lambda: Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token),
        "notice": NOTICES.get(done, ""),
        "settings": request.app[SETTINGS],
    }


def render_text(request: web.Request, template: str, ctx: dict[str, Any] | None = None) -> str:
    full = page_context(request)
    full.update(ctx or {})
    return request.app[JINJA].get_template(template).render(full)


def render(
    request: web.Request, template: str, ctx: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    return web.Response(text=render_text(request, template, ctx), status=status, content_type="text/html")
