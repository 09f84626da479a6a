"""POST /language: a signed-in user chooses the web UI's language for themselves."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from ivr.admin import audit
from ivr.admin.auth import current_user, require_role
from ivr.admin.i18n import UI_LANGUAGES, http_error
from ivr.admin.keys import DATABASE
from ivr.words import N_


@require_role()
async def set_language(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    form = await request.post()
    language = str(form.get("ui_language", ""))
    if language not in UI_LANGUAGES:
        raise http_error(web.HTTPBadRequest, N_("Choose one of: %(choices)s."),
                         choices=", ".join(UI_LANGUAGES.values()))

    def write(db: object) -> None:
        db.execute("update users set ui_language = ? where id = ?", [language, user.id])  # type: ignore[attr-defined]
        audit.record(db, user, "user.ui_language", "user", user.id, {"ui_language": language})  # type: ignore[arg-type]

    await request.app[DATABASE].write(write)
    # Back to the page the form was on; only a path on this site, never an address from elsewhere.
    back = urlsplit(str(form.get("back", "/")))
    target = back.path if back.path.startswith("/") and not back.path.startswith("//") and not back.netloc else "/"
    raise web.HTTPSeeOther(target + (f"?{back.query}" if back.query else ""))


def setup(app: web.Application) -> None:
    app.router.add_post("/language", set_language)
