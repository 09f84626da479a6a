"""Placeholder commands; the issue that owns this part replaces them."""

import click


@click.command()
def sim() -> None:
    """Not built yet."""
    raise click.ClickException("`ivr sim` is not built yet")
