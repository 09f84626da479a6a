"""Brand reports: what a brand may learn about its own supply chain, and nothing more.

A report covers one calendar year, month by month, up to the end of the last
complete month, and counts only cases a caseworker has confirmed as concerning a
workplace that supplies the brand. Every figure goes through
:mod:`ivr.supply.suppression` with the deployment's k (``settings.brand_k``).
Workplaces with fewer than k reports in the year are pooled into one row, so the
brand cannot even tell which of them had any. Nothing in a report is free text,
a case code, a case id, a time finer than a month, or audio.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from ivr.cases import CATEGORIES
from ivr.supply.remediation import KINDS
from ivr.supply.suppression import Cell, Grid, suppress
from ivr.words import N_, ShownError, Words

OTHER_WORKPLACES = N_("Other workplaces (fewer than %(k)s reports each)")
OUTCOMES = {"resolved": N_("Resolved"), "open": N_("Not yet resolved")}
REMEDIATION_OUTCOMES = {
    "on_time": N_("Done by the due date"),
    "late": N_("Done late"),
    "open": N_("Agreed, not yet due"),
    "overdue": N_("Overdue"),
    "not_done": N_("Not done"),
}


class ReportRefused(ShownError):
    """A brand asked for something it may not see; the message says why, for the brand user."""


@dataclass
class Table:
    key: str
    title: str
    grid: Grid
    row_labels: list[str]
    col_labels: list[str]
    note: str = ""


@dataclass
class BrandReport:
    brand_id: int
    brand: str
    year: int
    months: list[str]                 # 'YYYY-MM', complete months only
    k: int
    workplaces_in_chain: int
    tables: dict[str, Table] = field(default_factory=dict)
    # One-figure facts ('Median days from report to resolution' -> '23' or None when hidden).
    facts: dict[str, str | None] = field(default_factory=dict)
    # The report's own words (titles, labels, notes, facts) in English, as the CSV has them -> the catalog's
    # words, so a page or PDF shows them in its reader's language (:func:`translate`).
    words: dict[str, Words] = field(default_factory=dict)

    def say(self, text: str, **fields: object) -> str:
        """``text`` (marked with N_()) in English, remembered for :func:`translate`."""
        words = Words(text, **fields)
        english = str(words)
        self.words[english] = words
        return english

    @property
    def total(self) -> int | None:
        grid = self.tables["category_month"].grid
        return grid.shown((grid.total_row, grid.total_col))


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def month_bounds(year: int, tz: ZoneInfo, today: date) -> list[tuple[str, str, str]]:
    """(label, start, end) in UTC text for each complete local month of ``year`` before ``today``'s month."""
    out = []
    for month in range(1, 13):
        if (year, month) >= (today.year, today.month):
            break
        start = datetime(year, month, 1, tzinfo=tz)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
        out.append((f"{year}-{month:02d}", _stamp(start), _stamp(end)))
    return out


def _scope_sql(bounds: list[tuple[str, str, str]]) -> tuple[str, str, list[Any]]:
    """SQL for the month index of a case, the case filter, and their parameters."""
    whens = " ".join("when c.created_at < ? then ?" for _ in bounds)
    month_sql = f"case {whens} end"
    params: list[Any] = []
    for n, (_, _, end) in enumerate(bounds):
        params += [end, n]
    scope = (
        "from cases c join workplace_brands wb on wb.workplace_id = c.workplace_id and wb.brand_id = ? "
        "where c.workplace_confirmed = 1 and c.created_at >= ? and c.created_at < ?"
    )
    return month_sql, scope, params


def _median_days(values: list[float], k: int) -> str | None:
    if len(values) < k:
        return None
    return f"{statistics.median(values):.0f}"


def _link(tables: dict[str, Grid], links: list[tuple[tuple[str, Cell], tuple[str, Cell]]], k: int) -> None:
    """Suppress every table, then hide a shared figure in all tables when hidden in any, until they agree."""
    forced: dict[str, set[Cell]] = defaultdict(set)
    while True:
        for name, grid in tables.items():
            grid.hidden = set()  # start afresh: earlier complements may not be needed any more
            suppress(grid, k, forced[name])
        changed = False
        for (ta, ca), (tb, cb) in links:
            a_hidden, b_hidden = ca in tables[ta].hidden, cb in tables[tb].hidden
            if a_hidden != b_hidden:
                forced[ta].add(ca)
                forced[tb].add(cb)
                changed = True
        if not changed:
            return


def build(db: sqlite_utils.Database, brand_id: int, year: int, *, k: int, tz: ZoneInfo,
          today: date | None = None) -> BrandReport:
    """The report for ``brand_id`` over ``year``; raises ReportRefused for an unknown brand."""
    brand = db.execute("select name from brands where id = ?", [brand_id]).fetchone()
    if brand is None:
        raise ReportRefused(N_("There is no such brand."))
    today = today or datetime.now(tz).date()
    bounds = month_bounds(year, tz, today)
    chain = db.execute("select count(*) from workplace_brands where brand_id = ?", [brand_id]).fetchone()[0]
    report = BrandReport(brand_id, brand[0], year, [b[0] for b in bounds], k, int(chain))
    if not bounds:
        bounds = [(f"{year}-01", _stamp(datetime(year, 1, 1, tzinfo=tz)), _stamp(datetime(year, 1, 1, tzinfo=tz)))]
    month_sql, scope, month_params = _scope_sql(bounds)
    scope_params = [brand_id, bounds[0][1], bounds[-1][2]]

    rows = db.execute(
        f"select c.workplace_id, coalesce(c.category, 'other'), {month_sql}, "
        f"c.status in ('resolved', 'closed'), count(*) {scope} group by 1, 2, 3, 4",
        [*month_params, *scope_params],
    ).fetchall()
    cat_month: dict[tuple[str, str], int] = defaultdict(int)
    wp_cat: dict[tuple[int, str], int] = defaultdict(int)
    wp_outcome: dict[tuple[int, str], int] = defaultdict(int)
    wp_total: dict[int, int] = defaultdict(int)
    for wp, cat, month, resolved, n in rows:
        cat = cat if cat in CATEGORIES else "other"
        cat_month[(cat, bounds[month][0])] += n
        wp_cat[(wp, cat)] += n
        wp_outcome[(wp, "resolved" if resolved else "open")] += n
        wp_total[wp] += n

    # Workplaces with fewer than k reports are pooled: a brand cannot tell 0 from 1..k-1 for them.
    names = {r[0]: (r[1], r[2]) for r in db.execute(
        "select id, name, location from workplaces where id in (select workplace_id from workplace_brands "
        "where brand_id = ?)", [brand_id])}
    # By name, never by count: an order by count would rank the hidden totals.
    shown_wps = sorted((w for w, n in wp_total.items() if n >= k), key=lambda w: (names.get(w, ("", ""))[0], w))
    pooled = any(n < k for n in wp_total.values())
    row_keys = [str(w) for w in shown_wps] + (["pool"] if pooled else [])
    row_labels = [" — ".join(p for p in names.get(w, ("?", "")) if p) for w in shown_wps]
    row_labels += [report.say(OTHER_WORKPLACES, k=k)] if pooled else []

    def row_key(wp: int) -> str:
        return str(wp) if wp_total[wp] >= k else "pool"

    cats = list(CATEGORIES)
    a = Grid.build(cats, report.months, cat_month)
    b = Grid.build(row_keys, cats, _sum_keys(wp_cat, row_key))
    c = Grid.build(row_keys, list(OUTCOMES), _sum_keys(wp_outcome, row_key))
    links: list[tuple[tuple[str, Cell], tuple[str, Cell]]] = [
        (("a", (i, a.total_col)), ("b", (b.total_row, i))) for i in range(len(cats))]
    links += [(("a", (a.total_row, a.total_col)), ("b", (b.total_row, b.total_col))),
              (("b", (b.total_row, b.total_col)), ("c", (c.total_row, c.total_col)))]
    links += [(("b", (i, b.total_col)), ("c", (i, c.total_col))) for i in range(len(row_keys))]
    _link({"a": a, "b": b, "c": c}, links, k)

    cat_labels = [report.say(label) for label in CATEGORIES.values()]
    report.say(TOTAL)
    report.tables["category_month"] = Table("category_month", report.say(N_("Reports by issue and month")), a,
                                            cat_labels, report.months)
    report.tables["workplace_category"] = Table("workplace_category", report.say(N_("Reports by workplace and issue")),
                                                b, row_labels, cat_labels)
    report.tables["workplace_outcome"] = Table("workplace_outcome", report.say(N_("Cases resolved, by workplace")),
                                               c, row_labels, [report.say(label) for label in OUTCOMES.values()])

    days = [r[0] for r in db.execute(
        f"select julianday(c.resolved_at) - julianday(c.created_at) {scope} "
        "and c.status in ('resolved', 'closed') and c.resolved_at is not null", scope_params)]
    report.facts[report.say(N_("Median days from report to resolution"))] = _median_days(days, k)
    _remediation(db, report, scope, scope_params, today)
    return report


def _sum_keys(values: dict[tuple[int, str], int], row_key: Any) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = defaultdict(int)
    for (wp, col), n in values.items():
        out[(row_key(wp), col)] += n
    return out


def _remediation(db: sqlite_utils.Database, report: BrandReport, scope: str, scope_params: list[Any],
                 today: date) -> None:
    """Remediation by kind and outcome, counting cases (one per case and kind)."""
    actions = db.execute(
        "select r.case_id, r.kind, r.status, r.due_date, r.created_at, r.done_at from remediation r "
        f"where r.status != 'cancelled' and r.case_id in (select c.id {scope})", scope_params,
    ).fetchall()
    per_case: dict[tuple[int, str], list[tuple[str, str, str, str | None]]] = defaultdict(list)
    for case_id, kind, status, due, created, done in actions:
        per_case[(case_id, kind if kind in KINDS else "other")].append((status, due, created, done))
    counts: dict[tuple[str, str], int] = defaultdict(int)
    days: dict[str, list[float]] = defaultdict(list)
    for (_, kind), items in per_case.items():
        outcome = _outcome(items, today)
        counts[(kind, outcome)] += 1
        if outcome in ("on_time", "late"):
            start = min(datetime.fromisoformat(i[2]) for i in items)
            end = max(datetime.fromisoformat(i[3] or i[2]) for i in items)
            days[kind].append((end - start).total_seconds() / 86400)
    # Every kind or none: listing only the kinds in use would tell that a kind had at least one case.
    kinds = list(KINDS) if counts else []
    grid = suppress(Grid.build(kinds, list(REMEDIATION_OUTCOMES), counts, col_totals=False), report.k)
    report.tables["remediation"] = Table(
        "remediation", report.say(N_("Remediation agreed with suppliers, by kind")), grid,
        [report.say(KINDS[kd]) for kd in kinds], [report.say(label) for label in REMEDIATION_OUTCOMES.values()],
        note=report.say(N_("Counts cases; a case with two kinds of remedy counts once in each row, so rows are not "
                           "added up.")),
    )
    for kd in kinds:
        report.facts[report.say(N_("Median days to remedy: %(kind)s"), kind=Words(KINDS[kd]))] = \
            _median_days(days[kd], report.k)


def _outcome(items: list[tuple[str, str, str, str | None]], today: date) -> str:
    statuses = {i[0] for i in items}
    if "not_done" in statuses:
        return "not_done"
    if statuses == {"done"}:
        late = any(i[3] is not None and i[3][:10] > i[1] for i in items)
        return "late" if late else "on_time"
    if any(i[0] == "agreed" and i[1] < today.isoformat() for i in items):
        return "overdue"
    return "open"


HIDDEN = "hidden"
TOTAL = N_("Total")


def translate(report: BrandReport, label: str, gettext: Callable[[str], str]) -> str:
    """One of the report's English labels in a reader's language; a workplace name or month as it is."""
    words = report.words.get(label)
    return words.translate(gettext) if words is not None else label


def table_rows(table: Table) -> list[tuple[str, list[str]]]:
    """The table as display rows with totals: (label, [figure or HIDDEN, ...]); no totals row without column totals."""
    grid = table.grid
    labels = [*table.row_labels, TOTAL] if grid.col_totals else list(table.row_labels)
    out = []
    for i, label in enumerate(labels):
        figures = []
        for j in range(grid.total_col + 1):
            shown = grid.shown((i, j))
            figures.append(HIDDEN if shown is None else str(shown))
        out.append((label, figures))
    return out


def to_csv(report: BrandReport) -> str:
    """The report wide, as a spreadsheet shows it: one block per table (``table,row,<columns…>,Total``;
    months as ``YYYY-MM``), a blank line between blocks, then the facts; a hidden figure is ``hidden``."""
    import csv
    import io

    from ivr.supply.registry_csv import guard

    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    for table in report.tables.values():
        writer.writerow(["table", "row", *table.col_labels, TOTAL])
        for label, figures in table_rows(table):
            writer.writerow([table.key, guard(label), *figures])
        writer.writerow([])
    writer.writerow(["table", "fact", "value"])
    for name, value in report.facts.items():
        writer.writerow(["facts", name, HIDDEN if value is None else value])
    return out.getvalue()


def workplace_row(report: BrandReport, workplace_id: int, name: str) -> int:
    """The row of a workplace in the workplace tables; ReportRefused when it is pooled (under k)."""
    keys = report.tables["workplace_category"].grid.rows
    if str(workplace_id) in keys:
        return keys.index(str(workplace_id))
    raise ReportRefused(
        N_("%(name)s has fewer than %(k)s confirmed reports in %(year)s, so its figures are not shown on their "
           "own: they could point to the workers who called."), name=name, k=report.k, year=report.year)


def figure(report: BrandReport, table_key: str, row_key: str, col_key: str) -> int:
    """One figure by its keys (e.g. category 'wages', month '2026-03'); ReportRefused when hidden."""
    table = report.tables.get(table_key)
    if table is None or row_key not in table.grid.rows or col_key not in table.grid.cols:
        raise ReportRefused(N_("There is no such figure in this report."))
    shown = table.grid.shown((table.grid.rows.index(row_key), table.grid.cols.index(col_key)))
    if shown is None:
        raise ReportRefused(
            N_("This figure is hidden: it is built from fewer than %(k)s reports, or it would let someone work out "
               "a hidden one. Small numbers could point to the workers who called."), k=report.k
        )
    return shown
