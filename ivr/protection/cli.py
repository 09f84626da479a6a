"""Placeholder commands; the issue that owns this part replaces them."""

import click


@click.command()
def audit() -> None:
    """Not built yet."""
    raise click.ClickException("`ivr audit` is not built yet")


@click.command()
def retention() -> None:
    """Not built yet."""
    raise click.ClickException("`ivr retention` is not built yet")
