"""The web UI's aiohttp application, and the extension point other parts plug into.

An extension is a module listed in :data:`EXTENSIONS` with ``setup(app)``. It may
add routes (guard them with :func:`ivr.admin.auth.require_role`), add links to
``app[NAV_LINKS]``, and add panels to the case page via ``app[CASE_PANELS]``:
``(template_name, async fn(request, case_row) -> dict | None)``. Templates live in
``admin/templates`` and extend ``base.html``; render with
:func:`ivr.admin.render.render`. Modules that are not installed are skipped.
"""

from __future__ import annotations

import importlib
import logging

from aiohttp import web

from ivr.admin import errors
from ivr.admin.auth import SESSIONS, auth_middleware
from ivr.admin.keys import CASE_PANELS, DATABASE, JINJA, NAV_LINKS, SETTINGS, NavLink
from ivr.admin.render import STATIC_DIR, make_environment
from ivr.admin.sessions import SessionStore
from ivr.db.writer import Database
from ivr.settings import Settings
from ivr.words import N_

log = logging.getLogger(__name__)

# The web UI's own pages, in navigation order.
VIEWS = (
    "ivr.admin.views.login",
    "ivr.admin.views.queue",
    "ivr.admin.views.case",
    "ivr.admin.views.media",
    "ivr.admin.views.dashboard",
    "ivr.admin.views.users",
    "ivr.admin.views.admin_pages",
    "ivr.admin.views.audit_page",
    "ivr.admin.fonts",
    "ivr.admin.views.preferences",
)

EXTENSIONS = [
    "ivr.prompts.web",
    "ivr.supply.web",
    "ivr.protection.web",
    "ivr.ops.web",
    "ivr.oncall.web",
]

# Uploaded replies are short voice messages; anything bigger is a mistake.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def create_app(settings: Settings, database: Database, *, extensions: list[str] | None = None) -> web.Application:
    app = web.Application(middlewares=[errors.error_middleware, auth_middleware], client_max_size=MAX_UPLOAD_BYTES)
    app[SETTINGS] = settings
    app[DATABASE] = database
    app[JINJA] = make_environment()
    app[SESSIONS] = SessionStore(database, settings.key("admin-session"))
    app[CASE_PANELS] = []
    app[NAV_LINKS] = [
        NavLink(N_("Cases"), "/cases", ("caseworker", "supervisor")),
        NavLink(N_("Dashboard"), "/dashboard", ("supervisor",)),
        NavLink(N_("Approvals"), "/approvals", ("supervisor",)),
        NavLink(N_("Users"), "/users", ("admin",)),
        NavLink(N_("Prompts"), "/prompts", ("admin",)),
        NavLink(N_("Settings"), "/settings", ("admin",)),
    ]
    app.on_response_prepare.append(errors.security_headers)
    app.router.add_static("/static", STATIC_DIR)
    for module in VIEWS:
        importlib.import_module(module).setup(app)
    for module in EXTENSIONS if extensions is None else extensions:
        _load_extension(app, module)
    _add_placeholders(app)
    return app


def _load_extension(app: web.Application, module: str) -> None:
    try:
        ext = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.startswith(exc.name):
            log.debug("extension %s is not installed", module)
            return
        log.exception("extension %s failed to import; its pages are missing", module)
        return
    except Exception:
        log.exception("extension %s failed to import; its pages are missing", module)
        return
    try:
        ext.setup(app)
    except Exception:
        # Caseworkers keep their queue even when another part's pages are broken.
        log.exception("extension %s failed to set up; its pages are missing", module)
        return
    log.info("extension %s loaded", module)


def _has_route(app: web.Application, path: str) -> bool:
    return any(getattr(r, "canonical", None) == path for r in app.router.resources())


def _add_placeholders(app: web.Application) -> None:
    from ivr.admin.views.admin_pages import prompts_placeholder

    if not _has_route(app, "/prompts"):
        app.router.add_get("/prompts", prompts_placeholder)
