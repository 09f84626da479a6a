"""`ivr backup …` and `ivr status`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from ivr.cli.context import CliContext, pass_cli
from ivr.ops import backup as backups
from ivr.settings import Settings


def make_backup(settings: Settings, out_dir: Path | None = None, recipient: str | None = None) -> backups.Summary:
    """A backup of this deployment, then old ones pruned to IVR_BACKUP_KEEP; raises BackupError."""
    recipient = recipient or settings.backup_recipient
    if not recipient:
        raise backups.BackupError("IVR_BACKUP_RECIPIENT: not set; make a key pair with `ivr backup keygen` "
                                  "and set the public key (age1…)")
    target = out_dir or settings.backup_path
    exclude = tuple(p for p in (settings.secret_key_file,) if p is not None)
    summary = backups.create(settings.data_dir, settings.db_path, target, recipient,
                             prompt_sources=settings.prompts_dir, exclude=exclude)
    backups.prune(target, settings.backup_keep)
    return summary


@click.group()
def backup() -> None:
    """Encrypted backups of the database, recordings and prompts (never the deployment secret)."""


@backup.command()
@click.argument("out_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--recipient", help="age public key to encrypt to (default IVR_BACKUP_RECIPIENT).")
@pass_cli
def create(cli: CliContext, out_dir: Path | None, recipient: str | None) -> None:
    """Write a backup into OUT_DIR (default IVR_BACKUP_DIR) while the hotline keeps running.

    Keeps the newest IVR_BACKUP_KEEP backups there and deletes older ones.
    """
    settings = cli.settings()
    try:
        summary = make_backup(settings, out_dir, recipient)
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {summary.path} ({summary.files} files, {summary.bytes / 1e6:.1f} MB, {summary.cases} cases)")


_identity = click.option("--identity", "-i", required=True, type=click.Path(dir_okay=False, path_type=Path),
                         help="The backup private key file (from `ivr backup keygen`).")


@backup.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_identity
def verify(file: Path, identity: Path) -> None:
    """Decrypt FILE and check every file's sha256 and the database; writes nothing."""
    try:
        manifest = backups.verify(file, backups.read_identity(identity))
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{file}: ok ({len(manifest['files'])} files, {manifest['cases']} cases, "
               f"made {manifest['created_at']} by ivr {manifest['ivr_version']})")


@backup.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--into", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="A new (or empty) folder: it becomes a data dir.")
@_identity
def restore(file: Path, into: Path, identity: Path) -> None:
    """Restore FILE into a new data dir; nothing is written unless every check passes."""
    try:
        manifest = backups.restore(file, backups.read_identity(identity), into)
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored {len(manifest['files'])} files ({manifest['cases']} cases) into {into}")
    click.echo(f"  use it with IVR_DATA_DIR={into}; uploaded prompt recordings are in {into}/prompt-sources "
               "(IVR_PROMPTS_DIR); the deployment secret is not in backups: use the one you kept")


@backup.command()
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the private key (keep it off the server).")
def keygen(out: Path) -> None:
    """Make a backup key pair: writes the private key to --out, prints the public key."""
    if out.exists():
        raise click.ClickException(f"--out: {out} exists; refusing to overwrite a key")
    private, public = backups.generate_key()
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise click.ClickException(f"--out: cannot create {out} ({exc.strerror})") from None
    with os.fdopen(fd, "w") as f:
        f.write(f"# ivr backup key; public key: {public}\n{private}\n")
    click.echo(public)
    click.echo(f"  private key written to {out}: move it off this server (it is the only way to read the "
               "backups); set IVR_BACKUP_RECIPIENT to the public key above", err=True)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as GET /healthz.")
@pass_cli
def status(cli: CliContext, as_json: bool) -> None:
    """Print the health checks of the running hotline; exit 1 when any is bad."""
    from ivr.ops.health import collect

    report = collect(cli.settings())
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=1, sort_keys=True))
    else:
        for check in report.checks:
            click.echo(f"{'ok ' if check.ok else 'BAD'}  {check.name:<13} {check.detail}")
        click.echo("healthy" if report.ok else "UNHEALTHY")
    sys.exit(0 if report.ok else 1)
