"""Commands about the installation itself: settings, checks, the database."""

from __future__ import annotations

import sys

import click

from ivr.checks import WARNING
from ivr.cli.context import CliContext, pass_cli
from ivr.db import connect
from ivr.db.migrations import MigrationError, NewerDatabaseError
from ivr.db.schema import migrations
from ivr.settings import Settings


@click.command()
@pass_cli
def config(cli: CliContext) -> None:
    """Print the effective settings, with secrets masked."""
    settings = cli.settings()
    for name, value in settings.masked().items():
        click.echo(f"{name} = {value}")


@click.command()
@pass_cli
def check(cli: CliContext) -> None:
    """Check settings, call flows and prompts. Exits 1 when anything is wrong.

    Lines starting "warning:" are shown but do not fail the check (e.g. a language's chosen stand-in).
    """
    from ivr.checks import run_all

    try:
        settings = cli.settings()
    except click.ClickException as exc:  # e.g. an unreadable IVR_SECRET_KEY_FILE
        click.echo(f"settings: {exc.message}")
        sys.exit(1)
    click.echo("settings: ok")
    failed = False
    for name, found in run_all(settings).items():
        warnings = [p for p in found if p.startswith(WARNING)]
        problems = [p for p in found if not p.startswith(WARNING)]
        if not problems:
            click.echo(f"{name}: ok" + (f" ({len(warnings)} warning(s))" if warnings else ""))
        else:
            failed = True
            click.echo(f"{name}: {len(problems)} problem(s)")
        for problem in problems + warnings:
            click.echo(f"  {problem}")
    sys.exit(1 if failed else 0)


@click.group()
def db() -> None:
    """The case database."""


@db.command()
@click.option("--no-backup", is_flag=True, help="Do not take a backup before changing an existing database.")
@pass_cli
def migrate(cli: CliContext, no_backup: bool) -> None:
    """Apply pending migrations. Running it again does nothing.

    An existing database is backed up first (to IVR_BACKUP_DIR, encrypted to IVR_BACKUP_RECIPIENT).
    """
    settings = cli.settings(mode="migrate")
    database = connect(settings.db_path)
    try:
        if not no_backup and migrations.applied(database) and migrations.pending(database):
            _backup_before_migrating(settings)
        applied = migrations.apply(database)
    except (MigrationError, NewerDatabaseError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.conn.close()
    if applied:
        click.echo(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        click.echo(f"{settings.db_path} is up to date")


def _backup_before_migrating(settings: Settings) -> None:
    from ivr.ops.backup import BackupError
    from ivr.ops.cli import make_backup

    try:
        summary = make_backup(settings)
    except BackupError as exc:
        raise click.ClickException(f"no backup, so nothing migrated: {exc} (or pass --no-backup)") from None
    click.echo(f"backed up to {summary.path}")


@db.command()
@pass_cli
def status(cli: CliContext) -> None:
    """List applied and pending migrations."""
    settings = cli.settings()
    database = connect(settings.db_path)
    try:
        applied = migrations.applied(database)
        pending = [m.name for m in migrations.pending(database)]
    except NewerDatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.conn.close()
    for name in applied:
        click.echo(f"applied  {name}")
    for name in pending:
        click.echo(f"pending  {name}")
