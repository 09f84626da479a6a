"""Registry CSV import vs. the calls' writes: the longest the single writer is held, and the
worst wait of a small write (as the engine makes during calls) submitted while importing.

    .venv/bin/python bench/registry_import.py [--rows 60000] [--batch 500]

Reference in the same run: the whole file in ONE writer transaction (the import before
issue 20) against the batched import (registry_csv.import_rows). No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import sqlite_utils

from ivr.db.writer import Database
from ivr.supply import registry, registry_csv


def csv_bytes(rows: int) -> bytes:
    lines = ["code,name,location,sector,supplier,brands"]
    lines += [f",Factory {i},Mae Sot,garments,Thread Co,Acme;Bolt" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


class TimedDatabase(Database):
    """Records how long each write transaction's function runs on the writer thread."""

    holds: list[float]

    def submit_write(self, fn):  # type: ignore[no-untyped-def]
        def timed(db: sqlite_utils.Database):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return fn(db)
            finally:
                self.holds.append(time.perf_counter() - start)
        return super().submit_write(timed)


async def run(rows: list[registry_csv.CsvRow], batched: bool, size: int) -> tuple[float, float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        database = TimedDatabase(Path(tmp) / "ivr.db")
        database.holds = []
        await database.write(lambda db: registry.add_supplier(db, "Thread Co", "TH"))
        database.holds.clear()
        waits: list[float] = []
        done = asyncio.Event()

        async def engine_like() -> None:  # a small write every 10 ms, as call steps are
            while not done.is_set():
                start = time.perf_counter()
                await database.write(lambda db: db.execute("select 1"))
                waits.append(time.perf_counter() - start)
                await asyncio.sleep(0.01)

        probe = asyncio.create_task(engine_like())
        await asyncio.sleep(0.05)
        start = time.perf_counter()
        if batched:
            await registry_csv.import_rows(database, rows, size=size)
        else:
            await database.write(lambda db: registry_csv.apply(db, rows))
        elapsed = time.perf_counter() - start
        done.set()
        await probe
        n = (await database.query("select count(*) as n from workplaces"))[0]["n"]
        holds = [h for h in database.holds if h > 0.001]
        database.close()
        return max(holds), max(waits), elapsed, int(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--batch", type=int, default=registry_csv.BATCH_ROWS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = registry_csv.parse(csv_bytes(args.rows))
    print(f"registry import of {args.rows} rows (batch {args.batch}), median of {args.repeat} runs")
    figures = {}
    for label, batched in (("one transaction (before)", False), ("batched (after)", True)):
        runs = [asyncio.run(run(rows, batched, args.batch)) for _ in range(args.repeat)]
        assert all(r[3] == args.rows for r in runs)
        hold, wait, total = (statistics.median(r[i] for r in runs) for i in range(3))
        figures[label] = hold, wait
        print(f"  {label:26} longest writer hold {hold * 1000:8.1f} ms   worst small-write wait "
              f"{wait * 1000:8.1f} ms   import total {total:6.2f} s")
    (h0, w0), (h1, w1) = figures.values()
    print(f"  longest hold: {h0 / h1:.0f}x shorter; worst wait of a call's write: {w0 / w1:.0f}x shorter")


if __name__ == "__main__":
    main()
