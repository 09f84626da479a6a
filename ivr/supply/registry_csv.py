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
from ivr.words import N_, Joined, Words, ngettext

COLUMNS = ("code", "name", "location", "sector", "supplier", "brands")
REQUIRED = ("code", "name", "supplier")
BATCH_ROWS = 500
# A spreadsheet runs a cell starting with one of these as a formula ("CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class CsvImportError(ValueError):
    """The file was rejected; ``found`` lists each problem (naming its line) as words for the import page,
    in the reader's language; ``problems`` is the same in English, for the command line."""

    def __init__(self, found: list[Words]) -> None:
        self.found = found
        self.problems = [str(words) for words in found]
        more = "" if len(found) <= 1 else f" (and {len(found) - 1} more)"
        super().__init__(f"{self.problems[0]}{more}" if found else "the file was rejected")


def at_line(line: int, text: str | Words, /, **fields: object) -> Words:
    """A problem on one line of the file: ``at_line(4, N_("duplicate code %(code)s"), code=c)``."""
    why = text if isinstance(text, Words) else Words(text, **fields)
    return Words(N_("line %(line)s: %(why)s"), line=line, why=why)


def _line_of(problem: Words) -> int:
    line = problem.fields["line"]
    assert isinstance(line, int)
    return line


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
        raise CsvImportError([at_line(
            line, N_("the file is not UTF-8 text (byte %(byte)s); save it from the spreadsheet as \"CSV UTF-8\""),
            byte=f"0x{data[exc.start]:02x}")]) from None


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


def read(data: bytes) -> tuple[list[CsvRow], list[Words]]:
    """The rows, and every problem by line; a file that cannot be read at all raises CsvImportError."""
    text = _decode(data)
    nul_lines = [n for n, line in enumerate(text.split("\n"), start=1) if "\x00" in line]
    if nul_lines:
        raise CsvImportError([at_line(n, N_("contains a NUL byte (not a text CSV file)")) for n in nul_lines])
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise CsvImportError([at_line(1, N_("the file is empty; the first line must name the columns"))]) from None
    except csv.Error as exc:
        raise CsvImportError([at_line(1, N_("not readable as CSV (%(why)s)"), why=str(exc))]) from None
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(ngettext("missing column %(names)s", "missing columns %(names)s", len(missing),
                                  names=", ".join(missing)))
        if unknown:
            parts.append(ngettext("unknown column %(names)s", "unknown columns %(names)s", len(unknown),
                                  names=", ".join(repr(u) for u in unknown)))
        raise CsvImportError([at_line(1, N_("%(problem)s (expected %(columns)s)"), problem=Joined(parts, "; "),
                                      columns=",".join(COLUMNS))])
    if len(set(header)) != len(header):
        raise CsvImportError([at_line(1, N_("a column is named twice"))])

    problems: list[Words] = []
    rows: list[CsvRow] = []
    first_line_of: dict[str, int] = {}
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # report it, and read on: every problem in one go
            problems.append(at_line(reader.line_num, N_("not readable as CSV (%(why)s)"), why=str(exc)))
            continue
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            problems.append(at_line(line, ngettext("%(n)s field, but the header has %(columns)s",
                                                   "%(n)s fields, but the header has %(columns)s", len(record),
                                                   columns=len(header))))
            continue
        cells = {h: _unguard(v.strip()) for h, v in zip(header, record, strict=True)}
        code = cells["code"]
        if code:
            problem = codes.problem_words(code)
            if problem:
                problems.append(at_line(line, problem))
            elif code in first_line_of:
                problems.append(at_line(line, N_("duplicate code %(code)s (also on line %(first)s)"), code=code,
                                        first=first_line_of[code]))
            else:
                first_line_of[code] = line
        if not cells["name"]:
            problems.append(at_line(line, N_("the workplace name is empty")))
        brands = tuple(b.strip() for b in cells.get("brands", "").split(";") if b.strip())
        rows.append(CsvRow(line, Workplace(code, cells["name"], cells.get("location", ""),
                                           cells.get("sector", ""), cells["supplier"], brands)))
    return rows, problems


def check(db: sqlite_utils.Database, rows: list[CsvRow]) -> list[Words]:
    """Problems that need the database (unknown suppliers), for every row, so one attempt shows them all."""
    known: dict[str, bool] = {}
    problems: list[Words] = []
    for row in rows:
        name = row.workplace.supplier
        if name and name not in known:
            known[name] = registry.supplier_id(db, name) is not None
        if name and not known[name]:
            problems.append(at_line(row.line, N_("unknown supplier %(name)s (add it with `ivr workplaces supplier "
                                                 "add`)"), name=repr(name)))
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
                raise CsvImportError([at_line(row.line, N_("every workplace code is taken"))])
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
            raise CsvImportError([at_line(row.line, exc.words)]) from None
        if wp.code in existing:
            updated += 1
        else:
            added += 1
    linked = lifecycle.link_unlinked_to_workplaces(db) if last else 0
    return ImportResult(added, updated, linked)


def total(results: list[ImportResult]) -> ImportResult:
    return ImportResult(sum(r.added for r in results), sum(r.updated for r in results),
                        sum(r.cases_linked for r in results))


async def import_rows(database: Database, rows: list[CsvRow], problems: list[Words] | None = None,
                      *, size: int = BATCH_ROWS) -> ImportResult:
    """Check ``rows`` against the database (adding to ``problems`` from :func:`read`), raise
    CsvImportError with all of them, else write in batches that let other writes through."""
    problems = [*(problems or []), *await database.read(lambda db: check(db, rows))]
    if problems:
        problems.sort(key=_line_of)
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
