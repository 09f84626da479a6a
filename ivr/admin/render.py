"""Rendering Jinja2 templates from ``admin/templates`` with what every page needs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from markupsafe import Markup

from ivr.admin import i18n
from ivr.admin.auth import CSRF_FIELD, csrf_token
from ivr.admin.keys import JINJA, NAV_LINKS, SETTINGS, USER
from ivr.cases import CALLBACK_WINDOWS, CATEGORIES, OUTCOMES, PRIORITIES, STATUS_LABELS, STEP_LABELS
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


def make_environment(translations: i18n.Translations | None = None) -> jinja2.Environment:
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
    i18n.install(env, translations or i18n.Translations())
    env.filters["language_name"] = language_name
    env.filters["when"] = when
    env.filters["status_label"] = lambda s: STATUS_LABELS.get(s or "", (s or "").replace("_", " "))
    env.filters["outcome_label"] = lambda s: OUTCOMES.get(s or "", (s or "").replace("_", " "))
    env.filters["step_label"] = lambda s: STEP_LABELS.get(s or "", (s or "").replace("_", " ").capitalize())
    env.filters["callback_window"] = callback_window
    env.filters["age"] = age
    return env


def language_name(code: str | None) -> str:
    if not code:
        return "not chosen"
    lang = LANGUAGES.get(code)
    return lang.english if lang else code


@jinja2.pass_context
def when(context: jinja2.runtime.Context, stamp: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC stamp (``2026-11-24T10:05:00.000000Z``) in the office's time zone (IVR_TIMEZONE),
    e.g. ``2026-11-24 17:05``; every page names the zone once (base.html)."""
    if not stamp:
        return ""
    settings = context.get("settings")
    return local_time(stamp, settings.tz if settings is not None else ZoneInfo("UTC"), fmt)


def local_time(stamp: str, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    try:
        moment = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return stamp
    return moment.astimezone(tz).strftime(fmt)


def zone_label(tz: ZoneInfo, now: datetime | None = None) -> str:
    """``Asia/Bangkok (UTC+07:00)``: the zone every time on the page is in."""
    offset = (now or datetime.now(UTC)).astimezone(tz).strftime("%z")
    return f"{tz.key} (UTC{offset[:3]}:{offset[3:]})"


def callback_window(key: str | None) -> str:
    """``afternoon`` -> ``Afternoon, 12:00–17:00``; the page names the zone."""
    if not key:
        return "not given"
    window = CALLBACK_WINDOWS.get(key)
    return f"{window[0]}, {window[1]}–{window[2]}" if window else key.replace("_", " ")


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
        "zone": zone_label(request.app[SETTINGS].tz),
        "ui_language": user.ui_language if user is not None else i18n.best(request.headers.get("Accept-Language", "")),
        "UI_LANGUAGES": i18n.UI_LANGUAGES,
    }


def render_text(request: web.Request, template: str, ctx: dict[str, Any] | None = None) -> str:
    full = page_context(request)
    full.update(ctx or {})
    return request.app[JINJA].get_template(template).render(full)


def render(
    request: web.Request, template: str, ctx: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    return web.Response(text=render_text(request, template, ctx), status=status, content_type="text/html")
