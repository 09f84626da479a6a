"""`ivr audit` (check the tamper-evident log) and `ivr retention` (apply the retention periods)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

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
@click.option("--public-key", metavar="HEX", default=None,
              help="The checkpoint signing key's public half (default: IVR_AUDIT_PUBLIC_KEY).")
@pass_cli
def verify(cli: CliContext, expected: str | None, public_key: str | None) -> None:
    """Check the hash chain and every signed checkpoint. Exits 1 and lists each edited, inserted or
    deleted row; with a public key, names the first row changed after the last good checkpoint."""
    from ivr.protection import audit as chain
    from ivr.protection import checkpoints

    try:
        expect = chain.Head.parse(expected) if expected else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--head") from None
    key_text = public_key or cli.settings(mode="audit").audit_public_key
    try:
        key = checkpoints.load_public(key_text) if key_text else None
    except checkpoints.SigningKeyError as exc:
        raise click.BadParameter(str(exc), param_hint="--public-key") from None
    db = _open_readonly(cli)
    try:
        problems = chain.verify(db, expect=expect)
        signed = checkpoints.verify(db, key) if key is not None else None
        head = chain.head(db)
        count = db.execute("select count(*) from audit_log").fetchall()[0][0]
    finally:
        db.conn.close()
    if signed is not None:
        problems = signed.problems + problems
    if problems:
        click.echo(f"audit log: {len(problems)} problem(s) in {count} rows")
        for problem in problems:
            click.echo(f"  {problem}")
        sys.exit(1)
    if signed is None:
        click.echo("signed checkpoints: not checked (give --public-key or set IVR_AUDIT_PUBLIC_KEY)")
    else:
        click.echo(f"signed checkpoints: {signed.checked} ok, up to row {signed.last_good or 0}")
    # The head comes last: scripts take what follows "head ".
    click.echo(f"audit log: ok, {count} rows; head {head or '(empty)'}")


@audit.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@pass_cli
def keygen(cli: CliContext, path: Path) -> None:
    """Make the checkpoint signing key at PATH (mode 0600; outside IVR_DATA_DIR) and print its public key.

    Set IVR_AUDIT_SIGNING_KEY_FILE=PATH for `ivr serve`, and keep the printed public key somewhere
    else (IVR_AUDIT_PUBLIC_KEY for `ivr audit verify`).
    """
    from ivr.protection import checkpoints

    settings = cli.settings(mode=None)
    if not checkpoints.outside(path, settings.data_dir):
        raise click.ClickException(f"{path} is inside IVR_DATA_DIR ({settings.data_dir}), which backups copy; "
                                   "put the signing key elsewhere, e.g. /etc/ivr/audit-signing.pem")
    try:
        public = checkpoints.generate(path)
    except (checkpoints.SigningKeyError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"signing key written to {path}")
    click.echo(f"public key: {public}")


@audit.command()
@pass_cli
def checkpoint(cli: CliContext) -> None:
    """Sign a checkpoint now (`ivr serve` signs one every hour, and each retention run signs one)."""
    from ivr.db.writer import Database
    from ivr.protection import checkpoints

    settings = cli.settings(mode="audit")
    if settings.audit_signing_key_file is None:
        raise click.ClickException("IVR_AUDIT_SIGNING_KEY_FILE: not set (make a key with `ivr audit keygen PATH`)")
    database = Database(settings.db_path)
    try:
        made = asyncio.run(checkpoints.sign_now(settings, database, "manual"))
    except checkpoints.SigningKeyError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.close()
    click.echo(made.line() if made else "no new audit rows since the last checkpoint")


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
    from ivr.protection.checkpoints import SigningKeyError

    try:
        report = asyncio.run(Retention(settings, database).run(dry_run=dry_run))
    except SigningKeyError as exc:
        # The run itself is done and audited; only its checkpoint could not be signed.
        raise click.ClickException(f"{exc} (the retention run finished; its checkpoint was not signed)") from None
    finally:
        database.close()
    if dry_run:
        click.echo("dry run: nothing was changed")
    for line in report.lines():
        click.echo(line)
