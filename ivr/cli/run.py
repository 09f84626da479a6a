"""`ivr serve` and `ivr demo`: every part of the hotline in one process."""

import click


@click.command()
def serve() -> None:
    """Not built yet."""
    raise click.ClickException("`ivr serve` is not built yet")


@click.command()
def demo() -> None:
    """Not built yet."""
    raise click.ClickException("`ivr demo` is not built yet")
