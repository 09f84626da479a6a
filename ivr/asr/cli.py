"""Placeholder commands; the issue that owns this part replaces them."""

import click


@click.command()
def transcribe() -> None:
    """Not built yet."""
    raise click.ClickException("`ivr transcribe` is not built yet")


@click.command()
def models() -> None:
    """Not built yet."""
    raise click.ClickException("`ivr models` is not built yet")
