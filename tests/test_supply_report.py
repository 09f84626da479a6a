"""Brand reports: own supply chain only, month granularity, k-protected, no ids or free text."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils

from ivr.db import connect
from ivr.db.schema import migrate
from ivr.supply import codes, registry, remediation, report
from ivr.supply.registry import Workplace
from ivr.supply.report import ReportRefused

TZ = ZoneInfo("Asia/Bangkok")
TODAY = date(2027, 1, 15)
K = 5


def _case(db: sqlite_utils.Database, wp: int | None, created: str, category: str, *, status: str = "new",
          resolved: str | None = None, confirmed: int = 1) -> int:
    rowid = db.execute(
        "insert into cases (workplace_id, workplace_confirmed, category, status, created_at, updated_at, "
        "resolved_at, workplace_code) values (?, ?, ?, ?, ?, ?, ?, '123456')",
        [wp, confirmed, category, status, created, created, resolved]).lastrowid
    assert rowid is not None
    return rowid


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite_utils.Database]:
    conn = connect(tmp_path_factory.mktemp("report") / "ivr.db")
    migrate(conn)
    registry.add_supplier(conn, "Thread Co")
    big = registry.save_workplace(conn, Workplace(codes.make_code(10001), "Big Mill", "Mae Sot", "", "Thread Co",
                                                  ("Acme",)))
    small = registry.save_workplace(conn, Workplace(codes.make_code(10002), "Small Shop", "Tak", "", "Thread Co",
                                                    ("Acme",)))
    other = registry.save_workplace(conn, Workplace(codes.make_code(10003), "Rival Plant", "", "", "Thread Co",
                                                    ("Rival",)))
    sup = registry.supplier_id(conn, "Thread Co")
    assert sup is not None
    # Big Mill: 12 wage reports in March 2026 (6 resolved after 10 days), 2 debt reports in April.
    for n in range(12):
        resolved = "2026-03-15T03:00:00.000000Z" if n < 6 else None
        case = _case(conn, big, "2026-03-05T03:00:00.000000Z", "wages",
                     status="resolved" if resolved else "in_progress", resolved=resolved)
        if n < 6:
            rem = remediation.add_action(conn, case_id=case, supplier_id=sup, kind="wages_paid",
                                         action="pay Ko Aung's back wages", due_date="2026-12-31", user_id=None)
            remediation.set_status(conn, rem, "done", case_id=case)
    for _ in range(2):
        _case(conn, big, "2026-04-10T03:00:00.000000Z", "debt")
    # Small Shop: 3 reports (under k). 31 March 20:00 UTC is 1 April in Bangkok.
    for _ in range(3):
        _case(conn, small, "2026-03-31T20:00:00.000000Z", "wages")
    # Unconfirmed links, other brands, other years and this (incomplete) month are not counted.
    for _ in range(7):
        _case(conn, big, "2026-05-01T03:00:00.000000Z", "hours", confirmed=0)
        _case(conn, other, "2026-05-01T03:00:00.000000Z", "hours")
        _case(conn, big, "2025-05-01T03:00:00.000000Z", "hours")
        _case(conn, big, "2027-01-02T03:00:00.000000Z", "hours")
    yield conn
    conn.conn.close()


def _acme(db: sqlite_utils.Database) -> int:
    found = registry.brand_id(db, "Acme")
    assert found is not None
    return found


def test_report_counts_own_chain_by_local_month(db: sqlite_utils.Database) -> None:
    rep = report.build(db, _acme(db), 2026, k=K, tz=TZ, today=TODAY)
    assert rep.months == [f"2026-{m:02d}" for m in range(1, 13)]
    assert rep.total == 17
    assert report.figure(rep, "category_month", "wages", "2026-03") == 12
    # The 3 Small Shop reports fall in April (Bangkok time) and are under k: hidden, with a complement.
    with pytest.raises(ReportRefused, match="fewer than 5"):
        report.figure(rep, "category_month", "wages", "2026-04")
    with pytest.raises(ReportRefused, match="fewer than 5"):
        report.figure(rep, "category_month", "debt", "2026-04")
    grid = rep.tables["category_month"].grid
    april = grid.cols.index("2026-04")
    assert grid.shown((grid.total_row, april)) == 5
    assert rep.facts["Median days from report to resolution"] == "10"


def test_small_workplaces_are_pooled_and_refused(db: sqlite_utils.Database) -> None:
    rep = report.build(db, _acme(db), 2026, k=K, tz=TZ, today=TODAY)
    table = rep.tables["workplace_category"]
    assert table.row_labels == ["Big Mill — Mae Sot", "Other workplaces (fewer than 5 reports each)"]
    small = registry.workplace_id_for_code(db, codes.make_code(10002))
    assert small is not None
    with pytest.raises(ReportRefused, match="Small Shop has fewer than 5"):
        report.workplace_row(rep, small, "Small Shop")
    big = registry.workplace_id_for_code(db, codes.make_code(10001))
    assert big is not None and report.workplace_row(rep, big, "Big Mill") == 0
    # Pool row total is 3 (< k): hidden, and Big Mill's total is hidden with it so 17 - x cannot reveal it.
    totals = [figures[-1] for _, figures in report.table_rows(table)]
    assert totals == [report.HIDDEN, report.HIDDEN, "17"]


def test_remediation_and_csv_have_no_ids_or_free_text(db: sqlite_utils.Database) -> None:
    rep = report.build(db, _acme(db), 2026, k=K, tz=TZ, today=TODAY)
    assert report.figure(rep, "remediation", "wages_paid", "on_time") == 6
    assert rep.facts["Median days to remedy: Unpaid wages paid"] == "0"
    text = report.to_csv(rep)
    blocks = [list(csv.reader(io.StringIO(b))) for b in text.split("\r\n\r\n")]
    months = next(b for b in blocks if b[1][0] == "category_month")
    assert months[0][:4] == ["table", "row", "2026-01", "2026-02"] and months[0][-1] == "Total"  # wide, YYYY-MM
    wages = next(r for r in months if r[1] == "Wages unpaid or late")
    assert wages[months[0].index("2026-03")] == "12"
    assert "Ko Aung" not in text and "Rival" not in text and "123456" not in text
    values = [v for b in blocks if b[0][1] == "row" for r in b[1:] for v in r[2:]]
    assert values and all(v == "hidden" or v.isdigit() for v in values)
    for value in values:
        assert value == "hidden" or int(value) == 0 or int(value) >= K


def test_no_complete_month_and_unknown_brand(db: sqlite_utils.Database) -> None:
    rep = report.build(db, _acme(db), 2027, k=K, tz=TZ, today=TODAY)
    assert rep.months == [] and rep.total == 0
    with pytest.raises(ReportRefused, match="no such brand"):
        report.build(db, 999, 2026, k=K, tz=TZ, today=TODAY)


def test_month_bounds_are_local() -> None:
    bounds = report.month_bounds(2026, TZ, TODAY)
    assert bounds[3] == ("2026-04", "2026-03-31T17:00:00.000000Z", "2026-04-30T17:00:00.000000Z")



def test_remediation_rejects_bad_input(db: sqlite_utils.Database) -> None:
    sup = registry.supplier_id(db, "Thread Co")
    assert sup is not None
    case = db.execute("select min(id) from cases").fetchone()[0]
    base = {"case_id": case, "supplier_id": sup, "kind": "wages_paid", "action": "pay", "due_date": "2026-12-31",
            "user_id": None}
    with pytest.raises(remediation.RemediationError, match="not a date"):
        remediation.add_action(db, **{**base, "due_date": "31/12/2026"})
    with pytest.raises(remediation.RemediationError, match="unknown kind"):
        remediation.add_action(db, **{**base, "kind": "bribe"})
    with pytest.raises(remediation.RemediationError, match="no case"):
        remediation.add_action(db, **{**base, "case_id": 10**6})
    with pytest.raises(remediation.RemediationError, match="has no remediation action"):
        remediation.set_status(db, 10**6, "done", case_id=case)


@pytest.mark.parametrize(("items", "expected"), [
    ([("done", "2026-05-01", "2026-04-01T00:00:00Z", "2026-04-20T00:00:00Z")], "on_time"),
    ([("done", "2026-05-01", "2026-04-01T00:00:00Z", "2026-05-20T00:00:00Z")], "late"),
    ([("agreed", "2026-05-01", "2026-04-01T00:00:00Z", None)], "overdue"),
    ([("agreed", "2027-05-01", "2026-04-01T00:00:00Z", None)], "open"),
    ([("done", "2026-05-01", "2026-04-01T00:00:00Z", "2026-04-20T00:00:00Z"),
      ("not_done", "2026-05-01", "2026-04-01T00:00:00Z", None)], "not_done"),
])
def test_remediation_outcome(items: list[tuple[str, str, str, str | None]], expected: str) -> None:
    assert report._outcome(items, TODAY) == expected


def _linked_recoverable(rep: report.BrandReport) -> set[tuple[str, tuple[int, int]]]:
    """Hidden figures an attacker can compute from ALL the tables' shown figures together (linear algebra)."""
    from fractions import Fraction

    from test_supply_suppression import determined

    a, b, c = (rep.tables[key].grid for key in ("category_month", "workplace_category", "workplace_outcome"))
    grids = {"a": a, "b": b, "c": c}

    def canon(table: str, cell: tuple[int, int]) -> tuple[str, tuple[int, int]]:
        # The same figure printed in two tables is one unknown.
        grand_a = ("a", (a.total_row, a.total_col))
        if cell == (grids[table].total_row, grids[table].total_col) and table in ("b", "c"):
            return grand_a
        if table == "b" and cell[0] == b.total_row:
            return ("a", (cell[1], a.total_col))
        if table == "c" and cell[1] == c.total_col:
            return ("b", (cell[0], b.total_col))
        return (table, cell)

    hidden = sorted({canon(t, cell) for t, g in grids.items() for cell in g.hidden})
    for t, g in grids.items():  # a figure shared by two tables is hidden in both or in neither
        for cell in g.cells():
            assert (cell in g.hidden) == (canon(t, cell) in hidden), (t, cell)
    index = {v: n for n, v in enumerate(hidden)}
    rows = []
    for t, g in grids.items():
        for line in g.lines():
            row = [Fraction(0)] * len(hidden)
            for n, cell in enumerate(line):
                var = canon(t, cell)
                if var in index:
                    row[index[var]] += -1 if n == len(line) - 1 else 1
            if any(row):
                rows.append(row)
    return {hidden[j] for j in determined(rows, len(hidden))}


def test_linked_tables_leave_nothing_recoverable(db: sqlite_utils.Database) -> None:
    rep = report.build(db, _acme(db), 2026, k=K, tz=TZ, today=TODAY)
    assert _linked_recoverable(rep) == set()


@pytest.mark.parametrize("seed", range(20))
def test_linked_tables_random_chains(tmp_path: Path, seed: int) -> None:
    import random

    rng = random.Random(seed)
    conn = connect(tmp_path / "ivr.db")
    migrate(conn)
    wps = [registry.save_workplace(conn, Workplace(codes.make_code(20000 + n), f"W{n}", brands=("B",)))
           for n in range(rng.randint(2, 6))]
    cats = ["wages", "debt", "hours", "documents"]
    for _ in range(rng.randint(5, 80)):
        month = rng.randint(1, 6)
        _case(conn, rng.choice(wps), f"2026-{month:02d}-10T03:00:00.000000Z", rng.choice(cats),
              status=rng.choice(["new", "resolved"]))
    brand = registry.brand_id(conn, "B")
    assert brand is not None
    rep = report.build(conn, brand, 2026, k=K, tz=TZ, today=date(2026, 7, 2))
    assert _linked_recoverable(rep) == set()
    conn.conn.close()
