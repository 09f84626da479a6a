"""`ivr engine`: run the call engine against IVR_ARI_URL until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio

import click

from ivr.cli.context import CliContext, pass_cli
from ivr.settings import SettingsError


@click.command()
@click.option("--import-fallback-only", is_flag=True,
              help="Import the dialplan's fallback voicemails into cases, then exit (no ARI connection).")
@pass_cli
def engine(cli: CliContext, import_fallback_only: bool) -> None:
    """Run the call engine: answer calls in Stasis app IVR_ARI_APP and run flow IVR_FLOW.

    On start, and every minute after, it imports voicemails the dialplan recorded while no engine was
    connected (IVR_FALLBACK_DIR), then connects to Asterisk, retrying while it is away.
    """
    from ivr.engine.fallback import import_fallback
    from ivr.engine.service import Engine
    from ivr.lifecycle import run_services, service_database

    settings = cli.settings(mode="engine")
    database = service_database(settings.db_path)
    try:
        if import_fallback_only:
            cases = asyncio.run(import_fallback(settings, database))
            click.echo(f"imported {len(cases)} fallback voicemail(s)")
            return
        from ivr.ops.heartbeat import with_heartbeats
        from ivr.prompts.line import PromptLine
        from ivr.prompts.readiness import log_unready

        async def started() -> None:   # languages offered but not ready (docs/prompts.md)
            await asyncio.to_thread(log_unready, settings)

        asyncio.run(run_services(with_heartbeats([Engine(settings, database), PromptLine(settings, database)],
                                                 database), after_start=started))
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.close()
