"""Placeholder commands; the issue that owns this part replaces them."""

import click


@click.command()
def admin() -> None:
    """Not built yet."""
    raise click.ClickException("`ivr admin` is not built yet")


@click.command()
def user() -> None:
    """Not built yet."""
    raise click.ClickException("`ivr user` is not built yet")
