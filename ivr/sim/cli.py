"""`ivr sim`: run the Asterisk 22 emulator on its own (ARI user and password from the settings)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from ivr.cli.context import CliContext, pass_cli


def _routes(values: tuple[str, ...]) -> dict[str, str | None]:
    routes: dict[str, str | None] = {}
    for value in values:
        context, sep, app = value.partition("=")
        if not sep or not context:
            raise click.BadParameter(f"{value!r} is not CONTEXT=APP", param_hint="--route")
        routes[context] = app or None
    return routes


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8088, show_default=True,
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--sounds", "sounds", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Sounds folder: sound:NAME is DIR/<lang>/NAME.wav, else DIR/NAME.wav.")
@click.option("--spool", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Recording spool folder.  [default: DATA_DIR/asterisk-spool]")
@click.option("--route", "routes", multiple=True, metavar="CONTEXT=APP",
              help="Send calls for a dialplan context to a Stasis app (APP empty: hang up). "
                   "Other contexts go to IVR_ARI_APP.")
@click.option("--speed", type=click.FloatRange(min=0.01), default=1.0, show_default=True,
              help="Media time per wall second (tests use more than 1).")
@pass_cli
def sim(cli: CliContext, port: int, sounds: Path, spool: Path | None, routes: tuple[str, ...], speed: float) -> None:
    """Run the Asterisk emulator: ARI REST and events on 127.0.0.1 with HTTP Basic auth.

    Callers dial with POST /ari/channels?endpoint=Local/<exten>@<context>&app=<their app>.
    """
    from ivr.lifecycle import run_services
    from ivr.sim.server import Emulator

    settings = cli.settings(mode=None)
    if not sounds.is_dir():
        raise click.ClickException(f"--sounds: {sounds} is not a folder")
    if not settings.ari_password:
        raise click.ClickException("IVR_ARI_PASSWORD: set a password for the emulator's ARI user")
    emulator = Emulator(
        port=port, user=settings.ari_user, password=settings.ari_password, sounds_dir=sounds,
        spool_dir=spool or settings.data_dir / "asterisk-spool", routes=_routes(routes),
        default_app=settings.ari_app, speed=speed,
    )

    async def announce() -> None:
        click.echo(f"Asterisk emulator on {emulator.url}/ari (user {settings.ari_user}); Ctrl-C stops it.")

    try:
        asyncio.run(run_services([emulator], after_start=announce))
    except OSError as exc:
        raise click.ClickException(f"--port {port}: {exc.strerror or exc}") from None
