"""Typed keys for what the web UI keeps on the application and on each request.

aiohttp warns on plain string keys, and the suite turns warnings into errors, so
extensions use these keys too (e.g. ``request.app[DATABASE]``, ``app[CASE_PANELS]``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jinja2
from aiohttp import web

from ivr.db.writer import Database
from ivr.settings import Settings


@dataclass(frozen=True)
class User:
    """The signed-in user, as every handler sees it."""

    id: int
    username: str
    role: str
    languages: tuple[str, ...]  # empty means every language
    brand_id: int | None = None
    ui_language: str = "en"  # the web UI's language for this user (ivr.admin.i18n.UI_LANGUAGES)

    def speaks(self, language: str | None) -> bool:
        return not self.languages or language in self.languages


@dataclass(frozen=True)
class NavLink:
    """An entry in the top navigation, shown to the listed roles."""

    label: str
    href: str
    roles: tuple[str, ...]


# (template name, async fn(request, case row) -> template context). The case page
# renders each panel's template with the dict its function returns; a function
# returning None hides its panel for that case.
CasePanelFn = Callable[[web.Request, dict[str, Any]], Awaitable[dict[str, Any] | None]]
CasePanel = tuple[str, CasePanelFn]

SETTINGS = web.AppKey("ivr_settings", Settings)
DATABASE = web.AppKey("ivr_database", Database)
JINJA = web.AppKey("ivr_jinja", jinja2.Environment)
CASE_PANELS = web.AppKey("ivr_case_panels", list[CasePanel])
NAV_LINKS = web.AppKey("ivr_nav_links", list[NavLink])

USER = web.RequestKey("ivr_user", User)
SESSION_TOKEN = web.RequestKey("ivr_session_token", str)
SESSION_EXPIRED = web.RequestKey("ivr_session_expired", bool)
