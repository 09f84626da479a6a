"""/users (admin): list, create, edit, deactivate, reset a password; /approvals (supervisor);
/set-password/{token} (the account's owner). See :mod:`ivr.admin.users` for the approval rule."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlite_utils
from aiohttp import web

from ivr.admin import audit, links
from ivr.admin.auth import current_user, public, require_role
from ivr.admin.keys import DATABASE, SETTINGS, User
from ivr.admin.params import parse_int, path_id
from ivr.admin.render import render, shown
from ivr.admin.users import (
    CASE_ROLES,
    ROLES,
    UserError,
    approve,
    create_account,
    deactivate,
    edit,
    password_hash,
    refuse,
    reset,
    role_of,
)
from ivr.languages import LANGUAGES
from ivr.words import N_, Words


def _link_key(request: web.Request) -> bytes:
    return request.app[SETTINGS].key("password-link")


def link_url(request: web.Request, token: str) -> str:
    return f"{request.url.origin()}{links.PATH}{token}"


async def _page(request: web.Request, *, error: Words | None = None, status: int = 200,
                **extra: Any) -> web.Response:
    rows = await request.app[DATABASE].query(
        "select id, username, role, pending_role, approved, languages, brand_id, active, last_login_at, created_at, "
        "password_hash = '' as no_password from users order by active desc, username"
    )
    # Brand accounts are tied to a brand by its name here: admins were asked for its internal number.
    brands = await request.app[DATABASE].query("select id, name from brands order by name")
    ctx = {"users": rows, "roles": ROLES, "error": shown(request, error) if error else "", "link": "", "link_for": "",
           "brands": brands, "brand_names": {b["id"]: b["name"] for b in brands}, **extra}
    return render(request, "users.html", ctx, status=status)


@require_role("admin")
async def users_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


def _languages(raw: list[str]) -> str:
    codes = [c for c in raw if c]
    if any(c not in LANGUAGES for c in codes):
        raise UserError(N_("Choose languages from the list."))
    return ",".join(codes)


def _brand_id(form: Any) -> int | None:
    raw = str(form.get("brand_id", "")).strip()
    if not raw:
        return None
    value = parse_int(raw, low=1)
    if value is None:
        raise UserError(N_("The brand number must be a number, not “%(value)s”."), value=raw)
    return value


async def _issue_link(request: web.Request, me: User, user_id: int) -> str:
    token = links.new_token()

    def write(db: sqlite_utils.Database) -> None:
        links.issue(db, _link_key(request), user_id, me.id, token)
        audit.record(db, me, "user.link", "user", user_id)

    await request.app[DATABASE].write(write)
    return link_url(request, token)


@require_role("admin")
async def create(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    me = current_user(request)
    username = str(form.get("username", "")).strip()
    role = str(form.get("role", ""))
    try:
        languages = _languages([str(v) for v in form.getall("languages", [])])
        brand_id = _brand_id(form)

        def write(db: sqlite_utils.Database) -> int:
            user_id = create_account(db, username, role, languages, brand_id, requested_by=me.id)
            audit.record(db, me, "user.create", "user", user_id, {"role": role})
            return user_id

        user_id = await request.app[DATABASE].write(write)
    except UserError as exc:
        return await _page(request, error=exc.words, status=400)
    if role in CASE_ROLES:
        raise web.HTTPSeeOther("/users?done=approval")
    # Admin and brand accounts read no cases: their link is shown here, once.
    return await _page(request, link=await _issue_link(request, me, user_id), link_for=username)


def _target(request: web.Request) -> str:
    return request.match_info["username"]


@require_role("admin")
async def reset_password(request: web.Request) -> web.StreamResponse:
    me = current_user(request)
    username = _target(request)
    try:
        def write(db: sqlite_utils.Database) -> tuple[int, str]:
            user_id = reset(db, username)
            audit.record(db, me, "user.password", "user", user_id)
            return user_id, role_of(db, username)

        user_id, role = await request.app[DATABASE].write(write)
    except UserError as exc:
        return await _page(request, error=exc.words, status=400)
    if role in CASE_ROLES:
        raise web.HTTPSeeOther("/users?done=reset")
    return await _page(request, link=await _issue_link(request, me, user_id), link_for=username)


@require_role("admin")
async def edit_user(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    me = current_user(request)
    username = _target(request)
    role = str(form.get("role", ""))
    if username.lower() == me.username.lower() and role != me.role:
        # Else an admin could ask for a case-reading role on an account whose password they know.
        return await _page(request, error=Words(N_("You cannot change your own role. Ask another admin.")), status=400)
    try:
        languages = _languages([str(v) for v in form.getall("languages", [])])
        brand_id = _brand_id(form)

        def write(db: sqlite_utils.Database) -> bool:
            user_id, waits = edit(db, username, role, languages, brand_id, requested_by=me.id)
            audit.record(db, me, "user.edit", "user", user_id,
                         {"role": role, "languages": languages, "needs_approval": waits})
            return waits

        waits = await request.app[DATABASE].write(write)
    except UserError as exc:
        return await _page(request, error=exc.words, status=400)
    raise web.HTTPSeeOther("/users?done=" + ("approval" if waits else "user"))


@require_role("admin")
async def deactivate_user(request: web.Request) -> web.StreamResponse:
    me = current_user(request)
    username = _target(request)
    if username.lower() == me.username.lower():
        return await _page(request, error=Words(N_("You cannot deactivate yourself.")), status=400)
    try:
        def write(db: sqlite_utils.Database) -> None:
            user_id = deactivate(db, username)
            audit.record(db, me, "user.deactivate", "user", user_id)

        await request.app[DATABASE].write(write)
    except UserError as exc:
        return await _page(request, error=exc.words, status=400)
    raise web.HTTPSeeOther("/users?done=deactivated")


# -- supervisors: approvals and set-password links -------------------------------------------------------------


async def _approvals(request: web.Request, *, error: Words | None = None, status: int = 200,
                     **extra: Any) -> web.Response:
    database = request.app[DATABASE]
    waiting = await database.query(
        "select u.id, u.username, u.role, u.pending_role, u.approved, u.languages, u.created_at, r.username as by "
        "from users u left join users r on r.id = u.requested_by "
        "where u.active = 1 and (u.approved = 0 or u.pending_role is not null) order by u.created_at")
    no_password = await database.query(
        "select id, username, role from users where active = 1 and approved = 1 and password_hash = '' "
        "order by username")
    live = await database.read(links.pending)
    ctx = {"waiting": waiting, "no_password": no_password, "live_links": live,
           "error": shown(request, error) if error else "",
           "link": "", "link_for": "", **extra}
    return render(request, "approvals.html", ctx, status=status)


@require_role("supervisor")
async def approvals_page(request: web.Request) -> web.StreamResponse:
    return await _approvals(request)


async def _username(request: web.Request, user_id: int) -> str:
    row = await request.app[DATABASE].query_one("select username from users where id = ?", [user_id])
    if row is None:
        raise web.HTTPNotFound(text=N_("There is no account with this number."))
    return str(row["username"])


@require_role("supervisor")
async def approve_account(request: web.Request) -> web.StreamResponse:
    me = current_user(request)
    user_id = path_id(request, "id", "account")
    username = await _username(request, user_id)

    def write(db: sqlite_utils.Database) -> bool:
        role = approve(db, user_id)
        audit.record(db, me, "user.approve", "user", user_id, {"role": role})
        return bool(db.execute("select password_hash = '' from users where id = ?", [user_id]).fetchall()[0][0])

    try:
        needs_link = await request.app[DATABASE].write(write)
    except UserError as exc:
        return await _approvals(request, error=exc.words, status=400)
    if not needs_link:
        raise web.HTTPSeeOther("/approvals?done=approved")
    return await _approvals(request, link=await _issue_link(request, me, user_id), link_for=username)


@require_role("supervisor")
async def refuse_account(request: web.Request) -> web.StreamResponse:
    me = current_user(request)
    user_id = path_id(request, "id", "account")

    def write(db: sqlite_utils.Database) -> None:
        refuse(db, user_id)
        audit.record(db, me, "user.refuse", "user", user_id)

    try:
        await request.app[DATABASE].write(write)
    except UserError as exc:
        return await _approvals(request, error=exc.words, status=400)
    raise web.HTTPSeeOther("/approvals?done=refused")


@require_role("supervisor")
async def make_link(request: web.Request) -> web.StreamResponse:
    me = current_user(request)
    user_id = path_id(request, "id", "account")
    username = await _username(request, user_id)
    row = await request.app[DATABASE].query_one(
        "select 1 from users where id = ? and active = 1 and approved = 1 and password_hash = ''", [user_id])
    if row is None:
        return await _approvals(
            request, error=Words(N_("%(name)s already has a password (or is not approved)."), name=username),
            status=400)
    return await _approvals(request, link=await _issue_link(request, me, user_id), link_for=username)


# -- the account's owner ------------------------------------------------------------------------------------------


@public
async def set_password_form(request: web.Request) -> web.StreamResponse:
    found = await request.app[DATABASE].read(lambda db: links.find(db, _link_key(request), request.match_info["token"]))
    if found is None:
        raise web.HTTPNotFound(text=N_("This link has expired or was already used. Ask a supervisor for a new one."))
    return render(request, "set_password.html", {"username": found["username"], "error": ""})


@public
async def set_password(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    token = request.match_info["token"]
    database = request.app[DATABASE]
    found = await database.read(lambda db: links.find(db, _link_key(request), token))
    if found is None:
        raise web.HTTPNotFound(text=N_("This link has expired or was already used. Ask a supervisor for a new one."))
    username = str(found["username"])
    password = str(form.get("password", ""))
    try:
        if password != str(form.get("repeat", "")):
            raise UserError(N_("The two passwords are not the same."))
        hashed = await asyncio.to_thread(password_hash, password, username)

        def write(db: sqlite_utils.Database) -> None:
            user_id = links.use(db, _link_key(request), token, hashed)
            audit.record(db, None, "user.password.set", "user", user_id, username=username)

        await database.write(write)
    except UserError as exc:
        return render(request, "set_password.html", {"username": username, "error": shown(request, exc)}, status=400)
    raise web.HTTPSeeOther("/login?done=passwordset")


def setup(app: web.Application) -> None:
    app.router.add_get("/users", users_page)
    app.router.add_post("/users", create)
    app.router.add_post("/users/{username}/password", reset_password)
    app.router.add_post("/users/{username}/edit", edit_user)
    app.router.add_post("/users/{username}/deactivate", deactivate_user)
    app.router.add_get("/approvals", approvals_page)
    app.router.add_post("/approvals/{id}/approve", approve_account)
    app.router.add_post("/approvals/{id}/refuse", refuse_account)
    app.router.add_post("/approvals/{id}/link", make_link)
    app.router.add_get(links.PATH + "{token}", set_password_form)
    app.router.add_post(links.PATH + "{token}", set_password)
