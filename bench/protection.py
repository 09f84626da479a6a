"""Protection costs: case-code hashing and lookup, audit append/verify, a retention run.

    .venv/bin/python bench/protection.py [--quick]

Prints medians and percentiles. Figures depend on the machine and its load; the hash cost
(scrypt N=2**14) is meant to be ~50-100 ms per code so that guessing offline is slow.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils

from ivr.db import connect, utcnow
from ivr.db.schema import migrate
from ivr.db.writer import Database
from ivr.protection import audit, casecode
from ivr.protection.retention import Retention
from ivr.settings import load

KEY = b"k" * 32


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def show(label: str, ms: list[float]) -> None:
    ms = sorted(ms)
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else [ms[0]] * 99
    print(f"{label:<44} n={len(ms):<5} median={statistics.median(ms):8.2f} ms  p95={q[94]:8.2f}  p99={q[98]:8.2f}")


def bench_codes(tmp: Path, n: int) -> None:
    code = casecode.new_code()
    stored = casecode.hash_code(code)
    show("hash_code (scrypt N=2**14,r=8,p=1)", timed(lambda: casecode.hash_code(code), n))
    show("verify_code", timed(lambda: casecode.verify_code(code, stored), n))
    db = connect(tmp / "codes.db")
    migrate(db)
    # Cases sharing one tag, as a deployment with ~4096 * k cases would have.
    target = casecode.new_code()
    tag = casecode.code_tag(KEY, target)
    others = [c for c in (casecode.new_code() for _ in range(400_000)) if casecode.code_tag(KEY, c) == tag][:8]
    now = utcnow()
    for c in [*others, target]:
        db.execute("insert into cases (code_hash, code_tag, created_at, updated_at) values (?, ?, ?, ?)",
                   [casecode.hash_code(c), tag, now, now])
    wrong = next(c for c in (casecode.new_code() for _ in range(400_000)) if casecode.code_tag(KEY, c) == tag
                 and c not in others and c != target)
    per = max(3, n // 3)
    show(f"find_case, right code, {len(others) + 1} cases share the tag", timed(
        lambda: casecode.find_case(db, KEY, target), per))
    show(f"find_case, wrong code, {len(others) + 1} cases share the tag", timed(
        lambda: casecode.find_case(db, KEY, wrong), per))
    db.conn.close()


def bench_audit(tmp: Path, rows: int) -> None:
    db = connect(tmp / "audit.db")
    migrate(db)
    start = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    for i in range(rows):
        audit.append(db, action="case.view", user_id=1, username="mai", object_type="case", object_id=i)
    db.execute("COMMIT")
    per_row = (time.perf_counter() - start) * 1000 / rows
    print(f"{'audit.append (one transaction)':<44} rows={rows}  {per_row:.3f} ms/row")
    show(f"audit.verify over {rows} rows", timed(lambda: audit.verify(db), 3))
    db.conn.close()


async def bench_retention(tmp: Path, recordings: int) -> None:
    settings = load(environ={}, flags={"data_dir": str(tmp / "var"), "secret_key": "bench-secret-0123456789"},
                    mode="retention")
    database = Database(settings.db_path)
    closed = (datetime.now(UTC) - timedelta(days=settings.retention_recording_days + 5)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")
    payload = bytes(160_000)  # ~10 s of 8 kHz 16-bit audio

    def seed(db: sqlite_utils.Database) -> None:
        for i in range(recordings):
            case_id = db.execute(
                "insert into cases (status, created_at, updated_at, closed_at) values ('closed', ?, ?, ?)",
                [closed, closed, closed]).lastrowid
            rel = f"recordings/{i}.wav"
            (settings.data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (settings.data_dir / rel).write_bytes(payload)
            rid = db.execute(
                "insert into recordings (case_id, path, state, created_at) values (?, ?, 'stored', ?)",
                [case_id, rel, closed]).lastrowid
            db.execute(
                "insert into transcripts (recording_id, engine, text, version, created_at)"
                " values (?, 'vosk', 'words of the caller', 1, ?)", [rid, closed])

    await database.write(seed)
    start = time.perf_counter()
    report = await Retention(settings, database).run()
    took = time.perf_counter() - start
    database.close()
    print(f"{'retention run':<44} recordings={report.files_wiped} ({len(payload) // 1000} kB each) "
          f"total={took:.2f} s  per recording={took * 1000 / max(1, report.files_wiped):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (shared machines)")
    args = parser.parse_args()
    n = 9 if args.quick else 31
    with tempfile.TemporaryDirectory() as tmp:
        bench_codes(Path(tmp), n)
        bench_audit(Path(tmp), 2_000 if args.quick else 20_000)
        asyncio.run(bench_retention(Path(tmp), 50 if args.quick else 300))


if __name__ == "__main__":
    main()
