"""Rendering Jinja2 templates from ``admin/templates`` with what every page needs."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from ivr.admin import i18n
from ivr.admin.auth import CSRF_FIELD, csrf_token
from ivr.admin.keys import JINJA, NAV_LINKS, SETTINGS, USER
from ivr.cases import CALLBACK_WINDOWS, CATEGORIES, OUTCOMES, PRIORITIES, STATUS_LABELS, STEP_LABELS
from ivr.languages import LANGUAGES
from ivr.words import N_, ShownError, Words

ADMIN_DIR = Path(__file__).resolve().parents[2] / "admin"
TEMPLATES_DIR = ADMIN_DIR / "templates"
STATIC_DIR = ADMIN_DIR / "static"

# Short notices a redirect can ask the next page to show (?done=KEY), so no page
# ever echoes text taken from the address bar. base.html is the one place that prints a notice (a
# page with notices of its own passes ``notice`` in its context instead), in the reader's language.
NOTICES = {
    "saved": N_("Saved."),
    "note": N_("Your note was added."),
    "status": N_("The status was changed."),
    "assigned": N_("The case was assigned."),
    "category": N_("The category was confirmed."),
    "reply": N_("Your message for the caller was saved. They will hear it when they call back with their case "
                "code."),
    "user": N_("The user was saved."),
    "password": N_("The password was changed. The user must sign in again."),
    "deactivated": N_("The user was deactivated and signed out."),
    "signedout": N_("You have signed out."),
    "approval": N_("Saved. A supervisor must approve this account's case-reading role (on Approvals) before it "
                   "applies; the supervisor then gives the person a link to choose their password."),
    "reset": N_("The password was cleared and the user signed out. A supervisor gives them a link to choose a "
                "new one (on Approvals)."),
    "approved": N_("Approved."),
    "refused": N_("Refused."),
    "passwordset": N_("Your password is set. Please sign in."),
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
    translations = translations or i18n.Translations()
    i18n.install(env, translations)
    env.globals["ui_translations"] = translations

    # Labels for stored keys, in the page's language (ui_language); a key without a label shows as words.
    def label(table: dict[Any, str], fallback: Callable[[str], str]) -> Callable[..., str]:
        @jinja2.pass_context
        def show(context: jinja2.runtime.Context, key: Any, unknown: str | None = None) -> str:
            words = table.get(key)
            if words is None:
                return unknown if unknown is not None else fallback(str(key or ""))
            return _gettext(context, words)
        return show

    env.filters["language_name"] = language_name
    env.filters["when"] = when
    env.filters["status_label"] = label(STATUS_LABELS, lambda s: s.replace("_", " "))
    env.filters["outcome_label"] = label(OUTCOMES, lambda s: s.replace("_", " "))
    env.filters["step_label"] = label(STEP_LABELS, lambda s: s.replace("_", " ").capitalize())
    env.filters["category_label"] = label(CATEGORIES, lambda s: s.replace("_", " "))
    env.filters["priority_label"] = label(PRIORITIES, lambda s: s)
    env.filters["callback_window"] = callback_window
    env.filters["age"] = age
    env.filters["duration"] = duration
    env.filters["words"] = words
    env.filters["commands"] = commands
    return env


def _translations(env: jinja2.Environment) -> i18n.Translations:
    translations = env.globals["ui_translations"]
    assert isinstance(translations, i18n.Translations)
    return translations


def _gettext(context: jinja2.runtime.Context, message: str) -> str:
    return _translations(context.environment).get(context.get("ui_language")).gettext(message)


def translator(request: web.Request) -> Callable[[str], str]:
    """The signed-in user's (or the browser's) catalog, for words a view builds (charts, tables)."""
    return _translations(request.app[JINJA]).get(ui_language(request)).gettext


def shown(request: web.Request, message: Words | ShownError) -> str:
    """A message Python built (a refusal, a form error), in the reader's language."""
    words = message.words if isinstance(message, ShownError) else message
    catalog = _translations(request.app[JINJA]).get(ui_language(request))
    return words.translate(catalog.gettext, catalog.ngettext)


@jinja2.pass_context
def words(context: jinja2.runtime.Context, message: Words) -> Markup:
    """``{{ reason|words }}``: words Python built (ivr.words), in the page's language, commands set as code."""
    catalog = _translations(context.environment).get(context.get("ui_language"))
    return commands(message.translate(catalog.gettext, catalog.ngettext))


_COMMAND = re.compile(r"`([^`\n]+)`")


def commands(text: str) -> Markup:
    """``{{ _("... `ivr prompts build` ...")|commands }}``: a command a message names in backticks (as the
    command line prints it) shown as code, not with the backticks, which read as stray marks in Thai or
    Burmese. The text is escaped first: only the backticks become markup."""
    return Markup(_COMMAND.sub(lambda m: f"<code>{m.group(1)}</code>", str(escape(text))))


UI_PARAMETER = "ui"   # /login?ui=th: a page before signing in, in the language of whoever just signed out


def ui_language(request: web.Request) -> str:
    """The signed-in user's language; before signing in, the one the address names (``?ui=``: signing out
    or choosing a password says so, so its notice is in that person's language and not the browser's),
    else the browser's."""
    user = request.get(USER)
    if user is not None:
        return user.ui_language
    # Before signing in, a language named in the address (the sign-in page's choice, or the one just used
    # before signing out) beats the browser's: an office laptop set to English is often shared by
    # caseworkers who read Thai or Burmese first.
    named = request.query.get(UI_PARAMETER, "")
    return named if named in i18n.UI_LANGUAGES else i18n.best(request.headers.get("Accept-Language", ""))


def in_language(path: str, language: str) -> str:
    """``path`` for a page before signing in, drawn in ``language`` (see :func:`ui_language`)."""
    return f"{path}{'&' if '?' in path else '?'}{UI_PARAMETER}={language}" if language in i18n.UI_LANGUAGES else path


@jinja2.pass_context
def language_name(context: jinja2.runtime.Context, code: str | None) -> str:
    """A caller's language by its English name, in the page's language."""
    if not code:
        return _gettext(context, N_("not chosen"))
    lang = LANGUAGES.get(code)
    return _gettext(context, lang.english) if lang else code


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


@jinja2.pass_context
def callback_window(context: jinja2.runtime.Context, key: str | None) -> str:
    """``afternoon`` -> ``Afternoon, 12:00–17:00``; the page names the zone."""
    if not key:
        return _gettext(context, N_("not given"))
    window = CALLBACK_WINDOWS.get(key)
    return f"{_gettext(context, window[0])}, {window[1]}–{window[2]}" if window else key.replace("_", " ")


# How long ago, per unit: (one, many) in the catalog's words.
AGO = {"day": (N_("%(n)s day ago"), N_("%(n)s days ago")), "hour": (N_("%(n)s hour ago"), N_("%(n)s hours ago")),
       "minute": (N_("%(n)s minute ago"), N_("%(n)s minutes ago"))}


@jinja2.pass_context
def age(context: jinja2.runtime.Context, stamp: str | None, now: datetime | None = None) -> str:
    """How long ago, in plain words: "5 minutes ago", "3 hours ago", "2 days ago"."""
    if not stamp:
        return ""
    then = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    seconds = max(0, ((now or datetime.now(UTC)) - then).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return _gettext(context, AGO[unit][0 if n == 1 else 1]) % {"n": n}
    return _gettext(context, N_("just now"))


@jinja2.pass_context
def duration(context: jinja2.runtime.Context, seconds: float | None) -> str:
    """A wait in plain words: "45 seconds", "12 minutes", "3 hours" (as ivr.oncall.status words it)."""
    if seconds is None:
        return ""
    if seconds < 120:
        return _gettext(context, N_("%(n)s seconds")) % {"n": int(seconds)}
    if seconds < 7200:
        return _gettext(context, N_("%(n)s minutes")) % {"n": int(seconds // 60)}
    return _gettext(context, N_("%(n)s hours")) % {"n": int(seconds // 3600)}


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
        "notice": translator(request)(NOTICES[done]) if done in NOTICES else "",
        "settings": request.app[SETTINGS],
        "zone": zone_label(request.app[SETTINGS].tz),
        "ui_language": ui_language(request),
        "UI_LANGUAGES": i18n.UI_LANGUAGES,
    }


def render_text(request: web.Request, template: str, ctx: dict[str, Any] | None = None, *,
                status: int = 200) -> str:
    full = page_context(request)
    full.update(ctx or {})
    if status >= 400:
        # A refusal or an error page says what went wrong, not "Saved." from an address that was kept.
        full["notice"] = ""
    return request.app[JINJA].get_template(template).render(full)


def render(
    request: web.Request, template: str, ctx: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    return web.Response(text=render_text(request, template, ctx, status=status), status=status,
                        content_type="text/html")
