"""Placeholder commands; the issue that owns this part replaces them."""

import click


@click.command()
def workplaces() -> None:
    """Not built yet."""
    raise click.ClickException("`ivr workplaces` is not built yet")
