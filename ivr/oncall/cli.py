"""`ivr oncall`: the on-call rota from the command line (every change audited)."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import TypeVar

import click
import sqlite_utils

from ivr.cli.context import CliContext, pass_cli
from ivr.db.writer import Database
from ivr.oncall import rota
from ivr.oncall.check import rota_problems
from ivr.oncall.rota import RotaError

T = TypeVar("T")


def _run(cli: CliContext, fn: Callable[[sqlite_utils.Database], T]) -> T:
    settings = cli.settings(mode="oncall")
    database = Database(settings.db_path)
    try:
        return database.write_sync(fn)
    except RotaError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.close()


def _actor() -> str:
    # Who ran the command, for the audit log (a shell user, not a web UI account).
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:   # no user name in a container: still audited
        return "cli"


@click.group()
def oncall() -> None:
    """The on-call rota: who is rung, in order, when a caller is in danger.

    Phones are SIP endpoints (PJSIP/mai) or numbers rung through IVR_ONCALL_TRUNK; hours are
    local time in IVR_TIMEZONE (22:00-06:00 runs past midnight).
    """


_OPTIONS = [
    click.option("--languages", default="", help="Language codes the person speaks, e.g. my,th (empty: any)."),
    click.option("--days", default="", help="Days on call, e.g. mon,tue,wed (default: every day)."),
    click.option("--hours", default="", help="Hours on call in IVR_TIMEZONE, e.g. 08:00-20:00 (default: all day)."),
]


def _with_options(fn: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


@oncall.command()
@click.argument("name")
@click.option("--phone", required=True, help="PJSIP/<endpoint> or a phone number such as +66812345678.")
@_with_options
@pass_cli
def add(cli: CliContext, name: str, phone: str, languages: str, days: str, hours: str) -> None:
    """Put NAME on the rota (rung after everyone already on it)."""
    try:
        staff = rota.parse(name, phone, languages, days, hours)
    except RotaError as exc:
        raise click.ClickException(str(exc)) from None
    staff_id = _run(cli, lambda db: rota.add(db, staff, actor=_actor()))
    click.echo(f"added #{staff_id} {staff.name}")


@oncall.command()
@click.argument("who")
@click.option("--name", default=None, help="A new name.")
@click.option("--phone", default=None, help="A new phone.")
@click.option("--languages", default=None, help="Language codes (replaces the list).")
@click.option("--days", default=None, help="Days on call.")
@click.option("--hours", default=None, help="Hours on call, e.g. 22:00-06:00.")
@pass_cli
def edit(cli: CliContext, who: str, name: str | None, phone: str | None, languages: str | None,
         days: str | None, hours: str | None) -> None:
    """Change WHO (a name or #id); options not given stay as they are."""
    def write(db: sqlite_utils.Database) -> str:
        old = rota.find(db, who)
        new = rota.parse(name if name is not None else old.name, phone if phone is not None else old.phone,
                         languages if languages is not None else ",".join(old.languages),
                         days if days is not None else ",".join(old.days), hours if hours is not None else old.hours)
        assert old.id is not None
        rota.update(db, old.id, new, actor=_actor())
        return new.name

    click.echo(f"saved {_run(cli, write)}")


@oncall.command()
@click.argument("who")
@pass_cli
def remove(cli: CliContext, who: str) -> None:
    """Take WHO (a name or #id) off the rota."""
    def write(db: sqlite_utils.Database) -> str:
        staff = rota.find(db, who)
        assert staff.id is not None
        rota.remove(db, staff.id, actor=_actor())
        return staff.name

    click.echo(f"removed {_run(cli, write)}")


@oncall.command()
@click.argument("who")
@click.argument("position", type=click.IntRange(min=1))
@pass_cli
def move(cli: CliContext, who: str, position: int) -> None:
    """Put WHO at POSITION on the rota (1 is rung first)."""
    def write(db: sqlite_utils.Database) -> None:
        staff = rota.find(db, who)
        assert staff.id is not None
        rota.move(db, staff.id, position, actor=_actor())

    _run(cli, write)
    click.echo(f"moved {who} to {position}")


@oncall.command("list")
@pass_cli
def list_(cli: CliContext) -> None:
    """Print the rota in calling order, and what would stop an alert reaching anyone."""
    settings = cli.settings(mode="oncall")
    staff = _run(cli, lambda db: rota.list_staff(db, active_only=True))
    for i, s in enumerate(staff, start=1):
        click.echo(f"{i}. #{s.id} {s.name}  {s.phone}  languages={','.join(s.languages) or 'any'}"
                   f"  {','.join(s.days)} {s.hours}")
    for line in rota_problems(staff, settings):
        click.echo(line, err=True)
