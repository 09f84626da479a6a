"""The workplace registry as CSV: import (all or nothing) and export.

Columns: ``code,name,location,sector,supplier,brands`` (brands separated by ``;``).
``code``, ``name`` and ``supplier`` are required columns; an empty code in a row
allocates the next free one. A row whose code is already registered updates that
workplace, so export -> edit -> import round-trips. Every problem is reported with
its line number, and nothing is written unless the whole file is good.

A big file is written in batches (:func:`batches`, :func:`write_batch`), each its own short
transaction, so the calls' writes are not held up behind the whole import (a 60 000-row
file in one transaction held the single writer for about 2 s). Everything a row could fail
on is checked before the first batch (:func:`check`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import sqlite_utils

from ivr.cases import lifecycle
from ivr.db.writer import Database
from ivr.supply import codes, registry
from ivr.supply.registry import Workplace

COLUMNS = ("code", "name", "location", "sector", "supplier", "brands")
REQUIRED = ("code", "name", "supplier")
BATCH_ROWS = 500
# A spreadsheet runs a cell starting with one of these as a formula ("CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class CsvImportError(ValueError):
    """The file was rejected; ``problems`` lists one line per problem, each naming its line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = "" if len(problems) <= 1 else f" (and {len(problems) - 1} more)"
        super().__init__(f"{problems[0]}{more}" if problems else "the file was rejected")


@dataclass(frozen=True)
class CsvRow:
    line: int
    workplace: Workplace


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    cases_linked: int


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvImportError([
            f"line {line}: the file is not UTF-8 text (byte 0x{data[exc.start]:02x}); "
            "save it from the spreadsheet as \"CSV UTF-8\""
        ]) from None


def _unguard(value: str) -> str:
    # Undo the quote export adds in front of a cell a spreadsheet would treat as a formula.
    if value.startswith("'") and value[1:].startswith(_FORMULA_START):
        return value[1:]
    return value


def guard(value: str) -> str:
    """A cell value that a spreadsheet will show as text, never run as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def parse(data: bytes) -> list[CsvRow]:
    """Read and check a registry CSV on its own (codes, columns, duplicates); raise CsvImportError
    naming every problem by line."""
    rows, problems = read(data)
    if problems:
        raise CsvImportError(problems)
    return rows


def read(data: bytes) -> tuple[list[CsvRow], list[str]]:
    """The rows, and every problem by line; a file that cannot be read at all raises CsvImportError."""
    text = _decode(data)
    nul_lines = [n for n, line in enumerate(text.split("\n"), start=1) if "\x00" in line]
    if nul_lines:
        raise CsvImportError([f"line {n}: contains a NUL byte (not a text CSV file)" for n in nul_lines])
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise CsvImportError(["line 1: the file is empty; the first line must name the columns"]) from None
    except csv.Error as exc:
        raise CsvImportError([f"line 1: not readable as CSV ({exc})"]) from None
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown:
        parts = []
        if missing:
            parts.append("missing column" + ("s " if len(missing) > 1 else " ") + ", ".join(missing))
        if unknown:
            parts.append("unknown column" + ("s " if len(unknown) > 1 else " ") + ", ".join(repr(u) for u in unknown))
        raise CsvImportError([f"line 1: {'; '.join(parts)} (expected {','.join(COLUMNS)})"])
    if len(set(header)) != len(header):
        raise CsvImportError(["line 1: a column is named twice"])

    problems: list[str] = []
    rows: list[CsvRow] = []
    first_line_of: dict[str, int] = {}
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # report it, and read on: every problem in one go
            problems.append(f"line {reader.line_num}: not readable as CSV ({exc})")
            continue
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            problems.append(f"line {line}: {len(record)} fields, but the header has {len(header)}")
            continue
        cells = {h: _unguard(v.strip()) for h, v in zip(header, record, strict=True)}
        code = cells["code"]
        if code:
            problem = codes.problem(code)
            if problem:
                problems.append(f"line {line}: {problem}")
            elif code in first_line_of:
                problems.append(f"line {line}: duplicate code {code} (also on line {first_line_of[code]})")
            else:
                first_line_of[code] = line
        if not cells["name"]:
            problems.append(f"line {line}: the workplace name is empty")
        brands = tuple(b.strip() for b in cells.get("brands", "").split(";") if b.strip())
        rows.append(CsvRow(line, Workplace(code, cells["name"], cells.get("location", ""),
                                           cells.get("sector", ""), cells["supplier"], brands)))
    return rows, problems


def check(db: sqlite_utils.Database, rows: list[CsvRow]) -> list[str]:
    """Problems that need the database (unknown suppliers), for every row, so one attempt shows them all."""
    known: dict[str, bool] = {}
    problems: list[str] = []
    for row in rows:
        name = row.workplace.supplier
        if name and name not in known:
            known[name] = registry.supplier_id(db, name) is not None
        if name and not known[name]:
            problems.append(f"line {row.line}: unknown supplier {name!r} (add it with `ivr workplaces supplier add`)")
    return problems


def assign_codes(db: sqlite_utils.Database, rows: list[CsvRow]) -> list[CsvRow]:
    """Give each row without a code the next free one (before any batch is written)."""
    existing = {r[0] for r in db.execute("select code from workplaces")}
    # Codes the file names itself are taken too, wherever their rows come.
    fresh = codes.free_codes(existing | {r.workplace.code for r in rows if r.workplace.code})
    out = []
    for row in rows:
        wp = row.workplace
        if not wp.code:
            code = next(fresh, None)
            if code is None:
                raise CsvImportError([f"line {row.line}: every workplace code is taken"])
            row = CsvRow(row.line, Workplace(code, wp.name, wp.location, wp.sector, wp.supplier, wp.brands))
        out.append(row)
    return out


def batches(rows: list[CsvRow], size: int = BATCH_ROWS) -> list[list[CsvRow]]:
    return [rows[i:i + size] for i in range(0, len(rows), size)] or [[]]


def write_batch(db: sqlite_utils.Database, rows: list[CsvRow], *, last: bool) -> ImportResult:
    """Write rows whose codes are assigned (one writer transaction); the last batch links cases."""
    codes_in = [r.workplace.code for r in rows]
    existing: dict[str, int] = {}
    for i in range(0, len(codes_in), 500):
        chunk = codes_in[i:i + 500]
        marks = ",".join("?" for _ in chunk)
        existing.update({r[0]: int(r[1]) for r in db.execute(
            f"select code, id from workplaces where code in ({marks})", chunk)})
    added = updated = 0
    for row in rows:
        wp = row.workplace
        try:
            registry.save_workplace(db, wp, workplace_id=existing.get(wp.code))
        except registry.RegistryError as exc:
            raise CsvImportError([f"line {row.line}: {exc}"]) from None
        if wp.code in existing:
            updated += 1
        else:
            added += 1
    linked = lifecycle.link_unlinked_to_workplaces(db) if last else 0
    return ImportResult(added, updated, linked)


def total(results: list[ImportResult]) -> ImportResult:
    return ImportResult(sum(r.added for r in results), sum(r.updated for r in results),
                        sum(r.cases_linked for r in results))


async def import_rows(database: Database, rows: list[CsvRow], problems: list[str] | None = None,
                      *, size: int = BATCH_ROWS) -> ImportResult:
    """Check ``rows`` against the database (adding to ``problems`` from :func:`read`), raise
    CsvImportError with all of them, else write in batches that let other writes through."""
    problems = [*(problems or []), *await database.read(lambda db: check(db, rows))]
    if problems:
        problems.sort(key=lambda p: int(p.split(":", 1)[0].removeprefix("line ")))
        raise CsvImportError(problems)
    ready = await database.read(lambda db: assign_codes(db, rows))
    parts = batches(ready, size)
    results = []
    for i, part in enumerate(parts):
        def one(db: sqlite_utils.Database, part: list[CsvRow] = part, last: bool = i == len(parts) - 1) -> ImportResult:
            return write_batch(db, part, last=last)

        results.append(await database.write(one))
    return total(results)


def apply(db: sqlite_utils.Database, rows: list[CsvRow]) -> ImportResult:
    """Check and write parsed rows in ONE transaction (small files, tests): any problem raises."""
    problems = check(db, rows)
    if problems:
        raise CsvImportError(problems)
    return write_batch(db, assign_codes(db, rows), last=True)


def export(db: sqlite_utils.Database) -> str:
    """The registry as CSV text, in the import format."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for wp in registry.list_workplaces(db):
        writer.writerow([guard(str(wp[c])) for c in COLUMNS])
    return out.getvalue()
