"""/users (admin): list, create, deactivate, reset a password."""

from __future__ import annotations

import asyncio

import sqlite_utils
from aiohttp import web

from ivr.admin import audit
from ivr.admin.auth import current_user, require_role
from ivr.admin.keys import DATABASE
from ivr.admin.render import render
from ivr.admin.users import ROLES, UserError, add_user, deactivate, password_hash, set_password
from ivr.languages import LANGUAGES


async def _page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    rows = await request.app[DATABASE].query(
        "select id, username, role, languages, active, last_login_at, created_at from users "
        "order by active desc, username"
    )
    return render(request, "users.html", {"users": rows, "roles": ROLES, "error": error}, status=status)


@require_role("admin")
async def users_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


def _languages(raw: list[str]) -> str:
    codes = [c for c in raw if c]
    if any(c not in LANGUAGES for c in codes):
        raise UserError("Choose languages from the list.")
    return ",".join(codes)


@require_role("admin")
async def create(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    me = current_user(request)
    username = str(form.get("username", "")).strip()
    try:
        languages = _languages([str(v) for v in form.getall("languages", [])])
        brand = str(form.get("brand_id", "")).strip()
        brand_id = int(brand) if brand.isdigit() else None
        hashed = await asyncio.to_thread(password_hash, str(form.get("password", "")), username)

        def write(db: sqlite_utils.Database) -> int:
            user_id = add_user(db, username, hashed, str(form.get("role", "")), languages, brand_id)
            audit.record(db, me, "user.create", "user", user_id, {"role": str(form.get("role", ""))})
            return user_id

        await request.app[DATABASE].write(write)
    except UserError as exc:
        return await _page(request, error=str(exc), status=400)
    raise web.HTTPSeeOther("/users?done=user")


def _target(request: web.Request) -> str:
    return request.match_info["username"]


@require_role("admin")
async def reset_password(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    me = current_user(request)
    username = _target(request)
    try:
        hashed = await asyncio.to_thread(password_hash, str(form.get("password", "")), username)

        def write(db: sqlite_utils.Database) -> None:
            user_id = set_password(db, username, hashed)
            audit.record(db, me, "user.password", "user", user_id)

        await request.app[DATABASE].write(write)
    except UserError as exc:
        return await _page(request, error=str(exc), status=400)
    raise web.HTTPSeeOther("/users?done=password")


@require_role("admin")
async def deactivate_user(request: web.Request) -> web.StreamResponse:
    me = current_user(request)
    username = _target(request)
    if username.lower() == me.username.lower():
        return await _page(request, error="You cannot deactivate yourself.", status=400)
    try:
        def write(db: sqlite_utils.Database) -> None:
            user_id = deactivate(db, username)
            audit.record(db, me, "user.deactivate", "user", user_id)

        await request.app[DATABASE].write(write)
    except UserError as exc:
        return await _page(request, error=str(exc), status=400)
    raise web.HTTPSeeOther("/users?done=deactivated")


def setup(app: web.Application) -> None:
    app.router.add_get("/users", users_page)
    app.router.add_post("/users", create)
    app.router.add_post("/users/{username}/password", reset_password)
    app.router.add_post("/users/{username}/deactivate", deactivate_user)
