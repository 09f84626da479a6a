"""`ivr workplaces`: the registry of workplaces, suppliers and brands from the command line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import click
import sqlite_utils

from ivr.cases import lifecycle
from ivr.cli.context import CliContext, pass_cli
from ivr.db.writer import Database
from ivr.supply import codes, registry, registry_csv
from ivr.supply.registry import RegistryError, Workplace
from ivr.words import N_

T = TypeVar("T")


@contextmanager
def _database(cli: CliContext) -> Iterator[Database]:
    settings = cli.settings(mode="workplaces")
    database = Database(settings.db_path)
    try:
        yield database
    finally:
        database.close()


def _run(cli: CliContext, fn: Callable[[sqlite_utils.Database], T]) -> T:
    with _database(cli) as database:
        try:
            return database.write_sync(fn)
        except (RegistryError, registry_csv.CsvImportError) as exc:
            raise click.ClickException(str(exc)) from None


@click.group()
def workplaces() -> None:
    """The registry of workplaces, suppliers and brands.

    Each workplace has a six-digit code (five digits and a check digit) that
    callers key in; a mistyped code is caught on the call.
    """


@workplaces.command("list")
@pass_cli
def list_(cli: CliContext) -> None:
    """Print every workplace: code, name, supplier, brands."""
    rows = _run(cli, registry.list_workplaces)
    for r in rows:
        click.echo(f"{r['code']}  {r['name']}  [{r['supplier'] or '-'}]  {r['brands'].replace(';', ', ')}")
    click.echo(f"{len(rows)} workplace(s)", err=True)


@workplaces.command()
@click.option("--name", required=True, help="The workplace's name.")
@click.option("--supplier", default="", help="Its supplier (must exist: `ivr workplaces supplier add`).")
@click.option("--location", default="", help="Town or district.")
@click.option("--sector", default="", help="e.g. garments, fishing, construction.")
@click.option("--brand", "brands", multiple=True, help="A brand it supplies. Repeatable.")
@click.option("--code", default="", help="Six-digit code with its check digit; omitted = the next free code.")
@pass_cli
def add(cli: CliContext, name: str, supplier: str, location: str, sector: str, brands: tuple[str, ...],
        code: str) -> None:
    """Add a workplace and print its code."""
    def fn(db: sqlite_utils.Database) -> str:
        wp_code = code or codes.next_code(registry.used_codes(db))
        registry.save_workplace(db, Workplace(wp_code, name, location, sector, supplier, brands))
        lifecycle.link_unlinked_to_workplaces(db)   # cases whose callers keyed this code before it was added
        return wp_code
    click.echo(_run(cli, fn))


@workplaces.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_cli
def import_(cli: CliContext, file: Path) -> None:
    """Import workplaces from a CSV file (all or nothing).

    Columns: code,name,location,sector,supplier,brands (brands separated by ';').
    A row with an empty code gets the next free code; a known code updates that workplace.
    """
    try:
        rows, problems = registry_csv.read(file.read_bytes())
        with _database(cli) as database:
            result = asyncio.run(registry_csv.import_rows(database, rows, problems))
    except registry_csv.CsvImportError as exc:
        for problem in exc.problems:
            click.echo(f"{file.name}: {problem}", err=True)
        raise click.ClickException(f"{file.name} was not imported; nothing changed") from None
    click.echo(f"{result.added} added, {result.updated} updated, {result.cases_linked} case(s) linked")


@workplaces.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@pass_cli
def export(cli: CliContext, file: Path | None) -> None:
    """Export the registry as CSV to FILE (default: standard output)."""
    text = _run(cli, registry_csv.export)
    if file is None:
        sys.stdout.write(text)
    else:
        file.write_text(text, encoding="utf-8", newline="")


@workplaces.group()
def supplier() -> None:
    """Suppliers: the companies that run workplaces."""


@supplier.command("add")
@click.argument("name")
@click.option("--country", default="", help="Where the supplier is based.")
@pass_cli
def supplier_add(cli: CliContext, name: str, country: str) -> None:
    """Add a supplier."""
    _run(cli, lambda db: registry.add_supplier(db, name, country))
    click.echo(f"supplier {name!r} added")


@supplier.command("list")
@pass_cli
def supplier_list(cli: CliContext) -> None:
    """Print every supplier and how many workplaces it runs."""
    rows = _run(cli, lambda db: list(db.query(
        "select s.name, s.country, count(w.id) as n from suppliers s left join workplaces w on w.supplier_id = s.id "
        "group by s.id order by s.name")))
    for r in rows:
        click.echo(f"{r['name']}  {r['country'] or '-'}  {r['n']} workplace(s)")


@workplaces.command("brand-user")
@click.argument("username")
@click.argument("brand")
@pass_cli
def brand_user(cli: CliContext, username: str, brand: str) -> None:
    """Let USERNAME (a user with role 'brand') see the reports of BRAND, and only those."""
    def fn(db: sqlite_utils.Database) -> None:
        row = db.execute("select id, role from users where username = ?", [username]).fetchone()
        if row is None:
            raise RegistryError(N_("there is no user '%(name)s' (create it with `ivr user add` and role brand)"),
                                name=username)
        if row[1] != "brand":
            raise RegistryError(N_("user '%(name)s' has role '%(role)s'; only a 'brand' user can be tied to a brand"),
                                name=username, role=row[1])
        found = registry.brand_id(db, brand)
        if found is None:
            raise RegistryError(N_("there is no brand '%(name)s'"), name=brand)
        db.execute("update users set brand_id = ? where id = ?", [found, row[0]])
    _run(cli, fn)
    click.echo(f"{username} now sees the reports of {brand}")
