"""The registry of workplaces, suppliers and brands, and the link from a case to its workplace.

Functions take a ``sqlite_utils.Database``; those that write are meant to run inside
a writer transaction (``await database.write(lambda db: ...)``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from ivr.cases import lifecycle
from ivr.cases.lifecycle import NoSuchCase
from ivr.db import utcnow
from ivr.supply import codes
from ivr.words import N_, ShownError

log = logging.getLogger(__name__)


class RegistryError(ShownError, ValueError):
    """A registry change that cannot be made; the message says why in one line."""


@dataclass(frozen=True)
class Workplace:
    code: str
    name: str
    location: str = ""
    sector: str = ""
    supplier: str = ""
    brands: tuple[str, ...] = field(default_factory=tuple)


def workplace_id_for_code(db: sqlite_utils.Database, code: str | None) -> int | None:
    """The id of the active workplace with this caller-keyed code; None when invalid or unknown."""
    if not code or not codes.is_valid(code):
        return None
    row = db.execute("select id from workplaces where code = ? and active = 1", [code]).fetchone()
    return int(row[0]) if row else None


def link_case_from_code(db: sqlite_utils.Database, case_id: int) -> int | None:
    """Link a case to the workplace its caller keyed in, unconfirmed, unless a caseworker already decided.

    Returns the workplace id linked (None when the code matches nothing). Runs in a writer transaction.
    """
    return lifecycle.link_workplace_from_code(db, case_id, lambda code: workplace_id_for_code(db, code),
                                              by="registry")


def set_case_workplace(db: sqlite_utils.Database, case_id: int, workplace_id: int | None, *,
                       by: lifecycle.By) -> None:
    """A caseworker's decision: the case concerns this workplace (or none). Marks the link confirmed."""
    if workplace_id is not None and db.execute(
        "select 1 from workplaces where id = ?", [workplace_id]
    ).fetchone() is None:
        raise RegistryError(N_("there is no workplace with id %(n)s"), n=workplace_id)
    try:
        lifecycle.confirm_workplace(db, case_id, workplace_id, by=by)
    except NoSuchCase:
        raise RegistryError(N_("there is no case %(n)s"), n=case_id) from None


# -- brands and suppliers ------------------------------------------------------------

def _insert(db: sqlite_utils.Database, sql: str, params: list[Any]) -> int:
    rowid = db.execute(sql, params).lastrowid
    assert rowid is not None  # an insert always sets it
    return rowid


def _id_by_name(db: sqlite_utils.Database, table: str, name: str) -> int | None:
    row = db.execute(f"select id from {table} where name = ?", [name.strip()]).fetchone()
    return int(row[0]) if row else None


def ensure_brand(db: sqlite_utils.Database, name: str) -> int:
    name = name.strip()
    if not name:
        raise RegistryError(N_("a brand needs a name"))
    found = _id_by_name(db, "brands", name)
    if found is not None:
        return found
    return _insert(db, "insert into brands (name, created_at) values (?, ?)", [name, utcnow()])


def add_supplier(db: sqlite_utils.Database, name: str, country: str = "") -> int:
    name = name.strip()
    if not name:
        raise RegistryError(N_("a supplier needs a name"))
    if _id_by_name(db, "suppliers", name) is not None:
        raise RegistryError(N_("supplier '%(name)s' already exists"), name=name)
    return _insert(db, "insert into suppliers (name, country, created_at) values (?, ?, ?)",
                   [name, country.strip(), utcnow()])


def supplier_id(db: sqlite_utils.Database, name: str) -> int | None:
    return _id_by_name(db, "suppliers", name)


def brand_id(db: sqlite_utils.Database, name: str) -> int | None:
    return _id_by_name(db, "brands", name)


def list_brands(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every brand (id, name) with how many workplaces supply it, by name."""
    return list(db.query(
        "select b.id, b.name, count(wb.workplace_id) as workplaces from brands b "
        "left join workplace_brands wb on wb.brand_id = b.id group by b.id order by b.name"))


# -- workplaces ----------------------------------------------------------------------

def used_codes(db: sqlite_utils.Database) -> frozenset[str]:
    return frozenset(r[0] for r in db.execute("select code from workplaces"))


def save_workplace(db: sqlite_utils.Database, wp: Workplace, *, workplace_id: int | None = None) -> int:
    """Insert a workplace (or update ``workplace_id``) with its brands; brands are created as needed.

    The supplier must already exist: a misspelt supplier would otherwise silently
    split one supply chain in two.
    """
    problem = codes.problem_words(wp.code)
    if problem:
        raise RegistryError(problem)
    if not wp.name.strip():
        raise RegistryError(N_("workplace %(code)s needs a name"), code=wp.code)
    sup_id: int | None = None
    if wp.supplier.strip():
        sup_id = supplier_id(db, wp.supplier)
        if sup_id is None:
            raise RegistryError(N_("unknown supplier '%(name)s' (add it first)"), name=wp.supplier.strip())
    clash = db.execute("select id from workplaces where code = ?", [wp.code]).fetchone()
    if clash is not None and clash[0] != workplace_id:
        raise RegistryError(N_("workplace code %(code)s is already used"), code=wp.code)
    now = utcnow()
    values: dict[str, Any] = {
        "code": wp.code, "name": wp.name.strip(), "location": wp.location.strip(),
        "sector": wp.sector.strip(), "supplier_id": sup_id, "updated_at": now,
    }
    if workplace_id is None:
        values["created_at"] = now
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        workplace_id = _insert(db, f"insert into workplaces ({cols}) values ({marks})", list(values.values()))
    else:
        sets = ", ".join(f"{k} = ?" for k in values)
        cur = db.execute(f"update workplaces set {sets} where id = ?", [*values.values(), workplace_id])
        if cur.rowcount == 0:
            raise RegistryError(N_("there is no workplace with id %(n)s"), n=workplace_id)
        db.execute("delete from workplace_brands where workplace_id = ?", [workplace_id])
    for brand in dict.fromkeys(b.strip() for b in wp.brands if b.strip()):
        db.execute(
            "insert or ignore into workplace_brands (workplace_id, brand_id) values (?, ?)",
            [workplace_id, ensure_brand(db, brand)],
        )
    return workplace_id


_WORKPLACES = """
    select w.id, w.code, w.name, w.location, w.sector, w.active, w.supplier_id, coalesce(s.name, '') as supplier,
           coalesce((select group_concat(name, ';') from
               (select b.name from workplace_brands wb join brands b on b.id = wb.brand_id
                where wb.workplace_id = w.id order by b.name)), '') as brands
    from workplaces w left join suppliers s on s.id = w.supplier_id"""


def list_workplaces(db: sqlite_utils.Database, *, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
    """Every workplace (or ``limit`` of them from ``offset``) with its supplier's name and its brands
    (sorted, ';'-joined), ordered by code."""
    if limit is None:
        return list(db.query(_WORKPLACES + " order by w.code"))
    return list(db.query(_WORKPLACES + " order by w.code limit ? offset ?", [limit, offset]))


def get_workplace(db: sqlite_utils.Database, workplace_id: int) -> dict[str, Any] | None:
    """One workplace, as :func:`list_workplaces` gives it; None when there is no such id."""
    rows = list(db.query(_WORKPLACES + " where w.id = ?", [workplace_id]))
    return rows[0] if rows else None
