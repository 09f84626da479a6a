"""Placeholder commands; the issue that owns this part replaces them."""

import click


@click.command()
def prompts() -> None:
    """Not built yet."""
    raise click.ClickException("`ivr prompts` is not built yet")
