"""`ivr admin` (run the web UI) and `ivr user` (manage its users)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import TypeVar

import click
import sqlite_utils

from ivr.admin.users import ROLES
from ivr.cli.context import CliContext, pass_cli
from ivr.db.writer import Database
from ivr.languages import LANGUAGES
from ivr.settings import Settings

T = TypeVar("T")

ROLE_CHOICE = click.Choice(ROLES)


@click.command()
@pass_cli
def admin(cli: CliContext) -> None:
    """Run the web UI for caseworkers and supervisors on IVR_ADMIN_BIND."""
    from ivr.admin.server import AdminServer
    from ivr.lifecycle import run_services, service_database

    settings = cli.settings(mode="admin")
    database = service_database(settings.db_path)
    try:
        asyncio.run(run_services([AdminServer(settings, database)]))
    finally:
        database.close()


@click.group()
def user() -> None:
    """Manage web UI users."""


def _languages(value: str) -> str:
    codes = [c.strip() for c in value.split(",") if c.strip()]
    unknown = [c for c in codes if c not in LANGUAGES]
    if unknown:
        raise click.BadParameter(f"unknown language code {unknown[0]!r} (known: {','.join(sorted(LANGUAGES))})")
    return ",".join(codes)


def _read_password_hash(username: str) -> str:
    """Read the password (prompted twice on a terminal, else one line of stdin) and return its hash."""
    from ivr.admin.users import UserError, password_hash

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        return password_hash(str(password), username)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None


def _write(settings: Settings, fn: Callable[[sqlite_utils.Database], T]) -> T:
    """Run one writer function on the database; a UserError becomes one line ``Error: ...``."""
    from ivr.admin.users import UserError

    database = Database(settings.db_path)
    try:
        return database.write_sync(fn)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.close()


CLI_USER = "(cli)"


def _link_key(settings: Settings) -> bytes:
    from ivr.settings import SettingsError

    try:
        return settings.key("password-link")
    except SettingsError as exc:
        raise click.ClickException(f"{exc} (set-password links are signed with it)") from None


def _print_link(username: str, token: str) -> None:
    from ivr.admin.links import LIFETIME, PATH

    click.echo(f"Give {username} this one-time link (on the web UI's address, e.g. https://hotline.example.org); "
               f"it works once, for {int(LIFETIME.total_seconds() // 3600)} hours:\n  {PATH}{token}")


def _check_bootstrap(settings: Settings, role: str) -> None:
    """The very first supervisor: only on a fresh install, only by root or the database's owner."""
    from ivr.admin.users import first_supervisor_allowed

    if role != "supervisor":
        raise click.ClickException("--first-supervisor: only for --role supervisor")
    path = settings.db_path
    owner = path.stat().st_uid if path.exists() else os.geteuid()
    if os.geteuid() not in (0, owner):
        raise click.ClickException(f"--first-supervisor: run it as root or as the owner of {path}")
    if not _write(settings, first_supervisor_allowed):
        raise click.ClickException("--first-supervisor: there is already a supervisor with a password; "
                                   "add accounts without this flag and have a supervisor approve them")


@user.command("add")
@click.argument("username")
@click.option("--role", type=ROLE_CHOICE, required=True, help="What the user can do.")
@click.option("--languages", default="", help="Caseworkers: language codes they handle, e.g. my,km (empty = all).")
@click.option("--brand-id", type=int, default=None, help="Brand users: the brand whose reports they see.")
@click.option("--first-supervisor", is_flag=True,
              help="Fresh install only: create the first supervisor with a password read from stdin.")
@pass_cli
def user_add(cli: CliContext, username: str, role: str, languages: str, brand_id: int | None,
             first_supervisor: bool) -> None:
    """Add a user, who chooses their password through a one-time link.

    A caseworker or supervisor waits for a supervisor's approval (web UI, Approvals), and that
    supervisor gives them the link. On a fresh install, --first-supervisor creates the first
    supervisor with a password read from standard input (or prompted on a terminal).
    """
    from ivr.admin import links
    from ivr.admin.users import CASE_ROLES, add_user, create_account
    from ivr.protection import audit

    settings = cli.settings(mode="user")
    try:
        langs = _languages(languages)
    except click.BadParameter as exc:
        raise click.ClickException(f"--languages: {exc.message}") from None
    if first_supervisor:
        _check_bootstrap(settings, role)
        hashed = _read_password_hash(username)

        def bootstrap(db: sqlite_utils.Database) -> int:
            user_id = add_user(db, username, hashed, role, langs, brand_id)
            audit.append(db, action="user.create", username=CLI_USER, object_type="user", object_id=user_id,
                         detail={"role": role, "first_supervisor": True})
            return user_id

        user_id = _write(settings, bootstrap)
        click.echo(f"added user {username} (id {user_id}, role {role}): the first supervisor, who can sign in now")
        return
    key = _link_key(settings) if role not in CASE_ROLES else b""
    token = links.new_token()

    def write(db: sqlite_utils.Database) -> int:
        user_id = create_account(db, username, role, langs, brand_id)
        audit.append(db, action="user.create", username=CLI_USER, object_type="user", object_id=user_id,
                     detail={"role": role})
        if role not in CASE_ROLES:
            links.issue(db, key, user_id, None, token)
        return user_id

    user_id = _write(settings, write)
    click.echo(f"added user {username} (id {user_id}, role {role})")
    if role in CASE_ROLES:
        click.echo("It waits for a supervisor's approval (web UI, Approvals); the supervisor then gives "
                   f"{username} a link to choose a password.")
    else:
        _print_link(username, token)


@user.command("list")
@pass_cli
def user_list(cli: CliContext) -> None:
    """List users (never their passwords)."""
    settings = cli.settings(mode="user")
    database = Database(settings.db_path)
    try:
        rows = database.query_sync("select id, username, role, languages, active from users order by username")
    finally:
        database.close()
    for r in rows:
        state = "active" if r["active"] else "deactivated"
        click.echo(f"{r['id']:>4}  {r['username']:<20} {r['role']:<11} {r['languages'] or 'all':<12} {state}")


@user.command("passwd")
@click.argument("username")
@click.option("--first-supervisor", is_flag=True,
              help="When no supervisor can sign in: set this supervisor's password from stdin.")
@pass_cli
def user_passwd(cli: CliContext, username: str, first_supervisor: bool) -> None:
    """Reset a password: sign the user out everywhere and let them choose a new one through a link.

    A caseworker's or supervisor's link is made by a supervisor (web UI, Approvals), never here.
    """
    from ivr.admin import links
    from ivr.admin.users import CASE_ROLES, reset, role_of, set_password
    from ivr.protection import audit

    settings = cli.settings(mode="user")
    if first_supervisor:
        _check_bootstrap(settings, _write(settings, lambda db: role_of(db, username)))
        hashed = _read_password_hash(username)

        def bootstrap(db: sqlite_utils.Database) -> None:
            user_id = set_password(db, username, hashed)
            audit.append(db, action="user.password", username=CLI_USER, object_type="user", object_id=user_id,
                         detail={"first_supervisor": True})

        _write(settings, bootstrap)
        click.echo(f"password changed for {username}")
        return
    token = links.new_token()
    role = _write(settings, lambda db: role_of(db, username))
    key = _link_key(settings) if role not in CASE_ROLES else b""

    def write(db: sqlite_utils.Database) -> None:
        user_id = reset(db, username)
        audit.append(db, action="user.password", username=CLI_USER, object_type="user", object_id=user_id)
        if role not in CASE_ROLES:
            links.issue(db, key, user_id, None, token)

    _write(settings, write)
    click.echo(f"password cleared for {username}, who is signed out everywhere")
    if role in CASE_ROLES:
        click.echo(f"A supervisor gives {username} a link to choose a new one (web UI, Approvals).")
    else:
        _print_link(username, token)


@user.command("deactivate")
@click.argument("username")
@pass_cli
def user_deactivate(cli: CliContext, username: str) -> None:
    """Stop a user signing in, and end their sessions."""
    from ivr.admin.users import deactivate

    settings = cli.settings(mode="user")
    _write(settings, lambda db: deactivate(db, username))
    click.echo(f"deactivated {username}")
