"""The `ivr` command line.

Commands live with the part of the hotline they belong to and load lazily, so
``ivr --help`` is instant and one part's dependencies never slow another's command.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import click

from ivr import __version__
from ivr.cli.context import CliContext

# name -> (module, attribute, one-line help shown by `ivr --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "engine": ("ivr.engine.cli", "engine", "Run the call engine, connected to IVR_ARI_URL."),
    "admin": ("ivr.admin.cli", "admin", "Run the web UI for caseworkers and supervisors."),
    "transcribe": ("ivr.asr.cli", "transcribe", "Run the transcription worker, or transcribe files."),
    "serve": ("ivr.cli.run", "serve", "Run engine, web UI and transcription worker together."),
    "sim": ("ivr.sim.cli", "sim", "Run the Asterisk emulator on its own."),
    "demo": ("ivr.cli.run", "demo", "Emulator, serve, and scripted demo calls: see cases appear."),
    "check": ("ivr.cli.core", "check", "Check flows, prompts and settings."),
    "config": ("ivr.cli.core", "config", "Print the effective settings, secrets masked."),
    "db": ("ivr.cli.core", "db", "Database commands (migrate, status)."),
    "user": ("ivr.admin.cli", "user", "Manage web UI users."),
    "prompts": ("ivr.prompts.cli", "prompts", "Build, inspect and install the prompt audio."),
    "models": ("ivr.asr.cli", "models", "List, install and register Vosk models."),
    "backup": ("ivr.ops.cli", "backup", "Encrypted backups: create, verify, restore, keygen."),
    "status": ("ivr.ops.cli", "status", "Health of the running hotline; exits 1 when unhealthy."),
    "audit": ("ivr.protection.cli", "audit", "Verify the tamper-evident audit log."),
    "retention": ("ivr.protection.cli", "retention", "Apply the retention periods."),
    "workplaces": ("ivr.supply.cli", "workplaces", "The registry of workplaces, suppliers and brands."),
    "asterisk": ("ivr.asterisk.cli", "asterisk", "Render the Asterisk 22 configuration for this deployment."),
    "oncall": ("ivr.oncall.cli", "oncall", "The on-call rota rung for emergencies."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module}.{attr} is not a click command")
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command inside the one error boundary (see :mod:`ivr.cli.errors`)."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            from ivr.cli.errors import fail

            cli = ctx.obj if isinstance(ctx.obj, CliContext) else None
            raise fail(exc, cli.loaded if cli is not None else None) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _set_pairs(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, tuple[str, str]]:
    """``--set NAME=VALUE`` pairs as setting name -> (what was typed, value)."""
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", ctx=ctx, param=param)
        out[name.strip().lower().removeprefix("ivr_")] = (f"--set {name.strip()}", value)
    return out


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ivr")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="Settings file (default ./ivr.toml).")
@click.option("--data-dir", help="IVR_DATA_DIR: where the database, recordings and built prompts live.")
@click.option("--db", help="IVR_DB: the SQLite file.")
@click.option("--ari-url", help="IVR_ARI_URL: Asterisk's HTTP address.")
@click.option("--ari-user", help="IVR_ARI_USER.")
@click.option("--ari-app", help="IVR_ARI_APP: the Stasis application name.")
@click.option("--admin-bind", help="IVR_ADMIN_BIND: HOST:PORT of the web UI.")
@click.option("--languages", help="IVR_LANGUAGES: ordered language codes, e.g. my,km,lo,th,ne,vi,en.")
@click.option("--timezone", help="IVR_TIMEZONE, e.g. Asia/Bangkok.")
@click.option("--log-level", help="IVR_LOG_LEVEL: DEBUG, INFO, WARNING or ERROR.")
@click.option("--set", "extra", multiple=True, callback=_set_pairs, metavar="NAME=VALUE",
              help="Any other setting, e.g. --set brand_k=10. Repeatable.")
@click.pass_context
def main(ctx: click.Context, config_file: Path | None, extra: dict[str, tuple[str, str]], **flags: Any) -> None:
    """A free, confidential voice hotline for migrant workers.

    Settings come from defaults < ivr.toml < IVR_* environment variables < these flags.
    """
    values = {k: v for k, v in flags.items() if v is not None}
    labels = {k: "--" + k.replace("_", "-") for k in values}
    for name, (label, value) in extra.items():
        values[name] = value
        labels[name] = label
    ctx.obj = CliContext(flags=values, labels=labels, config_file=config_file)
