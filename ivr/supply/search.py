"""Finding cases by the workplace, supplier or brand they are linked to.

:func:`where` returns an SQL condition over the ``cases`` alias ``c`` that the case
queue (or any other list) can AND with its own filters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from ivr.admin.params import parse_int
from ivr.supply import codes
from ivr.words import N_, ShownError


class SearchError(ShownError, ValueError):
    """A search value that does not parse or names nothing; the message says which."""


@dataclass(frozen=True)
class SupplySearch:
    workplace_id: int | None = None
    supplier_id: int | None = None
    brand_id: int | None = None

    @property
    def empty(self) -> bool:
        return self.workplace_id is None and self.supplier_id is None and self.brand_id is None


def _id(name: str, raw: str) -> int | None:
    if not raw:
        return None
    value = parse_int(raw)
    if value is None:
        raise SearchError(N_("The filter “%(name)s” must be chosen from the list, not “%(value)s”."), name=name,
                          value=raw)
    return value


def parse(db: sqlite_utils.Database, query: Mapping[str, str]) -> SupplySearch:
    """Read ``workplace`` (a workplace code), ``supplier`` and ``brand`` (ids) from a query string."""
    code = query.get("workplace", "").strip()
    workplace_id = None
    if code:
        problem = codes.problem_words(code)
        if problem:
            raise SearchError(N_("The filter “workplace”: %(problem)s."), problem=problem)
        row = db.execute("select id from workplaces where code = ?", [code]).fetchone()
        if row is None:
            raise SearchError(N_("No workplace has the code %(code)s."), code=code)
        workplace_id = int(row[0])
    return SupplySearch(workplace_id, _id("supplier", query.get("supplier", "").strip()),
                        _id("brand", query.get("brand", "").strip()))


def where(search: SupplySearch) -> tuple[str, list[Any]]:
    """SQL over alias ``c`` for cases linked (confirmed or not) to the searched workplace, supplier and brand."""
    parts: list[str] = []
    args: list[Any] = []
    if search.workplace_id is not None:
        parts.append("c.workplace_id = ?")
        args.append(search.workplace_id)
    if search.supplier_id is not None:
        parts.append("c.workplace_id in (select id from workplaces where supplier_id = ?)")
        args.append(search.supplier_id)
    if search.brand_id is not None:
        parts.append("c.workplace_id in (select workplace_id from workplace_brands where brand_id = ?)")
        args.append(search.brand_id)
    return (" and ".join(parts) or "1"), args
