"""Benchmark: the cost of checking, before each commit, that the database file is still the one written to.

    .venv/bin/python bench/db_writes.py [--writes 2000] [--rounds 7]

Each round writes ``--writes`` one-row transactions through :class:`ivr.db.writer.Database` (its writer
thread, ``BEGIN IMMEDIATE`` … ``COMMIT``, WAL, ``synchronous = NORMAL``), once with the check
(two ``stat`` calls: the file and its WAL) and once with it turned off, alternating, into fresh files.
Prints the median microseconds per write of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.db.writer import Database  # noqa: E402


def one_round(folder: Path, writes: int, *, check: bool) -> float:
    database = Database(folder / f"bench-{time.monotonic_ns()}.db", migrate_on_open=False)
    try:
        if not check:
            database._check_files = lambda: None  # type: ignore[method-assign]
        database.write_sync(lambda db: db.execute("create table t (n integer, text text)"))
        began = time.perf_counter()
        for n in range(writes):
            database.write_sync(lambda db, n=n: db.execute("insert into t values (?, ?)", [n, "x" * 200]))
        return (time.perf_counter() - began) / writes * 1e6
    finally:
        database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    timings: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for check in (False, True):
                timings[check].append(one_round(Path(tmp), args.writes, check=check))
    without, with_check = statistics.median(timings[False]), statistics.median(timings[True])
    print(f"{args.writes} one-row writes x {args.rounds} rounds, median per write:")
    print(f"  without the file check: {without:7.1f} us")
    print(f"  with the file check:    {with_check:7.1f} us")
    print(f"  ratio: {with_check / without:.3f}")


if __name__ == "__main__":
    main()
