"""What the database-backed sign-in limiter costs a sign-in, against the argon2 check it guards.

    .venv/bin/python bench/signin_limits.py [--tries 200] [--pairs 10000]

Fills ``signin_failures`` with --pairs sprayed (username, address) rows, then times, through the
real single writer thread: ``limits.attempt`` (the check-and-count every sign-in pays),
``limits.succeeded``, and the reference, one argon2id ``verify_password``; also zxcvbn on a
new password. Prints medians and p95 in ms and the limiter's share of a sign-in.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from protection import timed  # bench/protection.py: the same per-call timer

from ivr.admin import limits
from ivr.admin.passwords import check_strength, hash_password, verify_password
from ivr.db.writer import Database


def _line(name: str, ms: list[float]) -> float:
    p50 = statistics.median(ms)
    p95 = statistics.quantiles(ms, n=20)[-1]
    print(f"{name:<34} p50 {p50:8.3f} ms   p95 {p95:8.3f} ms   (n={len(ms)})")
    return p50


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tries", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        database = Database(Path(tmp) / "ivr.db")
        now = datetime.now(UTC)

        def spray(db: object) -> None:
            for i in range(args.pairs):
                limits.attempt(db, f"user{i}", f"198.51.{i // 250 % 250}.{i % 250}",  # type: ignore[arg-type]
                               now - timedelta(seconds=i))

        database.write_sync(spray)
        attempt = _line("limits.attempt (check + count)", timed(
            lambda: database.write_sync(lambda db: limits.attempt(db, "mai", "203.0.113.5")), args.tries))
        succeeded = _line("limits.succeeded", timed(
            lambda: database.write_sync(lambda db: limits.succeeded(db, "mai", "203.0.113.5")), args.tries))
        stored = hash_password("quiet river under the mango tree")
        argon = _line("argon2id verify (reference)", timed(
            lambda: verify_password(stored, "quiet river under the mango tree"), max(10, args.tries // 10)))
        _line("zxcvbn check_strength", timed(
            lambda: check_strength("quiet river under the mango tree", "mai"), max(10, args.tries // 10)))
        database.close()
    share = (attempt + succeeded) / (attempt + succeeded + argon)
    print(f"limiter share of a right sign-in: {share:.1%} (attempt+succeeded vs argon2 verify, p50)")


if __name__ == "__main__":
    main()
