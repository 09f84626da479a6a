"""Time to produce a brand report over 100k cases and 5k workplaces.

    .venv/bin/python bench/brand_report.py [--cases 100000] [--workplaces 5000] [--runs 30] [--quick]

Builds a throwaway database with bulk inserts (20 brands, 250 suppliers, each
workplace supplying 1-3 brands; cases over two years, 85 % linked and confirmed,
10 % of them referred with remediation), then times ``report.build`` (queries,
linked-table suppression and its tightening pass) and ``report.to_csv`` for the
brand with the largest supply chain and for a small one. Prints p50/p95/p99.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlite_utils

from ivr.cases import CATEGORIES, STATUSES
from ivr.db import connect
from ivr.db.schema import migrate
from ivr.supply import codes, report
from ivr.supply.remediation import KINDS

TZ = ZoneInfo("Asia/Bangkok")
STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


def seed(db: sqlite_utils.Database, n_cases: int, n_workplaces: int, rng: random.Random) -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    created = now.strftime(STAMP)
    db.execute("BEGIN")
    db.conn.executemany("insert into brands (id, name, created_at) values (?, ?, ?)",
                        [(b, f"Brand {b}", created) for b in range(1, 21)])
    db.conn.executemany("insert into suppliers (id, name, created_at) values (?, ?, ?)",
                        [(s, f"Supplier {s}", created) for s in range(1, 251)])
    db.conn.executemany(
        "insert into workplaces (id, code, name, location, sector, supplier_id, created_at, updated_at) "
        "values (?, ?, ?, 'Mae Sot', 'garments', ?, ?, ?)",
        [(w, codes.make_code(codes.FIRST_NUMBER + w), f"Workplace {w}", rng.randint(1, 250), created, created)
         for w in range(1, n_workplaces + 1)])
    # Brand 1 is big (about a third of all workplaces); the rest are spread.
    links = set()
    for w in range(1, n_workplaces + 1):
        if rng.random() < 0.33:
            links.add((w, 1))
        for _ in range(rng.randint(1, 2)):
            links.add((w, rng.randint(2, 20)))
    db.conn.executemany("insert into workplace_brands (workplace_id, brand_id) values (?, ?)", sorted(links))
    cats = list(CATEGORIES)
    rows = []
    remediation = []
    start = datetime(2025, 1, 1, tzinfo=UTC)
    span = (now - start).total_seconds()
    for c in range(1, n_cases + 1):
        at = start + timedelta(seconds=rng.random() * span)
        linked = rng.random() < 0.9
        status = rng.choice(STATUSES)
        resolved = (at + timedelta(days=rng.randint(1, 90))).strftime(STAMP) if status in ("resolved", "closed") \
            else None
        # Skewed: a few workplaces get many reports, most get few.
        wp = int(n_workplaces * rng.random() ** 2) + 1 if linked else None
        rows.append((c, rng.choice(cats), status, wp, 1 if linked and rng.random() < 0.95 else 0,
                     at.strftime(STAMP), at.strftime(STAMP), resolved))
        if wp is not None and rng.random() < 0.1:
            due = (at + timedelta(days=30)).date().isoformat()
            state = rng.choice(["agreed", "done", "done", "not_done"])
            done = (at + timedelta(days=rng.randint(5, 60))).strftime(STAMP) if state == "done" else None
            remediation.append((c, (wp % 250) + 1, wp, rng.choice(list(KINDS)), "agreed action", due, state,
                                at.strftime(STAMP), at.strftime(STAMP), done))
    db.conn.executemany(
        "insert into cases (id, category, status, workplace_id, workplace_confirmed, created_at, updated_at, "
        "resolved_at) values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.conn.executemany(
        "insert into remediation (case_id, supplier_id, workplace_id, kind, action, due_date, status, created_at, "
        "updated_at, done_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", remediation)
    db.execute("COMMIT")
    db.execute("ANALYZE")


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def show(label: str, ms: list[float]) -> None:
    ms = sorted(ms)
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [ms[0]] * 99
    print(f"{label:<52} n={len(ms):<4} p50={q[49]:8.1f} ms  p95={q[94]:8.1f}  p99={q[98]:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--workplaces", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10k cases, 500 workplaces, 5 runs")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.workplaces, args.runs = 10_000, 500, 5
    rng = random.Random(9)
    with tempfile.TemporaryDirectory() as tmp:
        db = connect(Path(tmp) / "ivr.db")
        migrate(db)
        t0 = time.perf_counter()
        seed(db, args.cases, args.workplaces, rng)
        print(f"seeded {args.cases} cases, {args.workplaces} workplaces in {time.perf_counter() - t0:.1f} s")
        today = date(2026, 11, 15)
        for brand in (1, 7):
            chain = db.execute("select count(*) from workplace_brands where brand_id = ?", [brand]).fetchone()[0]
            for year in (2025, 2026):
                rep = report.build(db, brand, year, k=5, tz=TZ, today=today)
                grid = rep.tables["workplace_category"].grid
                hidden = sum(len(t.grid.hidden) for t in rep.tables.values())
                print(f"brand {brand} ({chain} workplaces), {year}: {rep.total} reports, "
                      f"{len(grid.rows)} workplace rows, {hidden} figures hidden")
                show(f"build brand {brand} year {year}",
                     timed(lambda b=brand, y=year: report.build(db, b, y, k=5, tz=TZ, today=today), args.runs))
            show(f"to_csv brand {brand}", timed(lambda r=rep: report.to_csv(r), args.runs))
        db.conn.close()


if __name__ == "__main__":
    main()
