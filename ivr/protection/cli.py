"""`ivr audit` (check the tamper-evident log) and `ivr retention` (apply the retention periods)."""

from __future__ import annotations

import asyncio
import json
import sys

import click
import sqlite_utils

from ivr.cli.context import CliContext, pass_cli
from ivr.db import connect


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


def _open_readonly(cli: CliContext) -> sqlite_utils.Database:
    path = cli.settings(mode="audit").db_path
    if not path.exists():
        raise click.ClickException(f"no database at {path}")
    return connect(path, readonly=True)


@audit.command()
@click.option("--head", "expected", metavar="ID:HASH",
              help="A head printed or logged earlier; it must still be in the log unchanged.")
@pass_cli
def verify(cli: CliContext, expected: str | None) -> None:
    """Check the hash chain. Exits 1 and lists each edited, inserted or deleted row."""
    from ivr.protection import audit as chain

    try:
        expect = chain.Head.parse(expected) if expected else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--head") from None
    db = _open_readonly(cli)
    try:
        problems = chain.verify(db, expect=expect)
        head = chain.head(db)
        count = db.execute("select count(*) from audit_log").fetchall()[0][0]
    finally:
        db.conn.close()
    if problems:
        click.echo(f"audit log: {len(problems)} problem(s) in {count} rows")
        for problem in problems:
            click.echo(f"  {problem}")
        sys.exit(1)
    click.echo(f"audit log: ok, {count} rows; head {head or '(empty)'}")


@audit.command()
@click.option("-n", "--lines", "limit", default=20, show_default=True, type=click.IntRange(1, 10_000),
              help="How many of the newest rows to show.")
@pass_cli
def tail(cli: CliContext, limit: int) -> None:
    """Show the newest audit rows, oldest first: time, user, action, object, detail."""
    db = _open_readonly(cli)
    try:
        rows = db.execute(
            "select id, at, username, action, object_type, object_id, detail from audit_log"
            " order by id desc limit ?", [limit],
        ).fetchall()
    finally:
        db.conn.close()
    for ident, at, username, action, object_type, object_id, detail in reversed(rows):
        target = f"{object_type}:{object_id}" if object_type else "-"
        extra = "" if detail == "{}" else " " + json.dumps(json.loads(detail), ensure_ascii=False, sort_keys=True)
        click.echo(f"{ident:>6} {at} {username or '(system)'} {action} {target}{extra}")


@click.group()
def retention() -> None:
    """Delete recordings, call details and call-back numbers past their retention periods."""


@retention.command()
@click.option("--dry-run", is_flag=True, help="List what would be deleted; change nothing.")
@pass_cli
def run(cli: CliContext, dry_run: bool) -> None:
    """Apply the retention periods once (`ivr serve` does this daily)."""
    from ivr.db.writer import Database
    from ivr.protection.retention import Retention

    settings = cli.settings(mode="retention")
    database = Database(settings.db_path)
    try:
        report = asyncio.run(Retention(settings, database).run(dry_run=dry_run))
    finally:
        database.close()
    if dry_run:
        click.echo("dry run: nothing was changed")
    for line in report.lines():
        click.echo(line)
