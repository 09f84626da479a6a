"""Placeholder commands; the issue that owns this part replaces them."""

import click


@click.command()
def engine() -> None:
    """Not built yet."""
    raise click.ClickException("`ivr engine` is not built yet")
