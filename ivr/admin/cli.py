"""`ivr admin` (run the web UI) and `ivr user` (manage its users)."""

from __future__ import annotations

import asyncio
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
    from ivr.lifecycle import run_services

    settings = cli.settings(mode="admin")
    database = Database(settings.db_path)
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


@user.command("add")
@click.argument("username")
@click.option("--role", type=ROLE_CHOICE, required=True, help="What the user can do.")
@click.option("--languages", default="", help="Caseworkers: language codes they handle, e.g. my,km (empty = all).")
@click.option("--brand-id", type=int, default=None, help="Brand users: the brand whose reports they see.")
@pass_cli
def user_add(cli: CliContext, username: str, role: str, languages: str, brand_id: int | None) -> None:
    """Add a user. The password is read from standard input when it is not a terminal."""
    from ivr.admin.users import add_user

    settings = cli.settings(mode="user")
    try:
        langs = _languages(languages)
    except click.BadParameter as exc:
        raise click.ClickException(f"--languages: {exc.message}") from None
    hashed = _read_password_hash(username)
    user_id = _write(settings, lambda db: add_user(db, username, hashed, role, langs, brand_id))
    click.echo(f"added user {username} (id {user_id}, role {role})")


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
@pass_cli
def user_passwd(cli: CliContext, username: str) -> None:
    """Set a new password (read like `user add`) and sign the user out everywhere."""
    from ivr.admin.users import set_password

    settings = cli.settings(mode="user")
    hashed = _read_password_hash(username)
    _write(settings, lambda db: set_password(db, username, hashed))
    click.echo(f"password changed for {username}")


@user.command("deactivate")
@click.argument("username")
@pass_cli
def user_deactivate(cli: CliContext, username: str) -> None:
    """Stop a user signing in, and end their sessions."""
    from ivr.admin.users import deactivate

    settings = cli.settings(mode="user")
    _write(settings, lambda db: deactivate(db, username))
    click.echo(f"deactivated {username}")
