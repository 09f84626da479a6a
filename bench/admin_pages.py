"""Web UI page times on a big database: 100k cases and 1M calls.

    .venv/bin/python bench/admin_pages.py [--cases 100000] [--calls 1000000] [--requests 50] [--db PATH]

Builds the database with bulk inserts (kept at --db for reuse when given), starts the real
web UI on loopback, signs in, and requests each page --requests times. Prints the server
time (the Server-Timing header: the handler, its queries and template) and the round trip,
p50/p95/p99 in ms over the requests after the first; the first is printed on its own (for
/dashboard it reads 30 days of calls once; later loads read only the last three hours).
Targets: queue p95 < 50 ms, dashboard p95 < 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from ivr.admin.server import AdminServer
from ivr.admin.users import add_user, password_hash
from ivr.cases import CATEGORIES
from ivr.db import connect
from ivr.db.schema import migrate
from ivr.db.writer import Database
from ivr.settings import load

LANGS = ("my", "km", "lo", "th", "ne", "vi", "en")
CHOICES = (*CATEGORIES, "message", "callback", "followup", None)
PASSWORD = "bench password 123"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build(path: Path, n_cases: int, n_calls: int) -> None:
    rnd = random.Random(7)
    db = connect(path)
    migrate(db)
    now = datetime.now(UTC)
    year = 365 * 24 * 3600
    conn = db.conn
    started = time.perf_counter()
    conn.execute("BEGIN")
    hashed = password_hash(PASSWORD, "x")
    sup = add_user(db, "super", hashed, "supervisor")
    workers = [add_user(db, f"cw{i}", hashed, "caseworker", ",".join(rnd.sample(LANGS, 2))) for i in range(20)]
    add_user(db, "cw_bench", hashed, "caseworker", "my,km")

    def calls():  # type: ignore[no-untyped-def]
        for i in range(n_calls):
            start = now - timedelta(seconds=rnd.random() ** 1.3 * year)  # more recent calls than old ones
            active = i < 15
            outcome = None if active else rnd.choices(("completed", "abandoned", "hangup"), (70, 20, 10))[0]
            yield (f"c{i:08d}", f"ch{i}", iso(start), None if active else iso(start + timedelta(seconds=90)),
                   rnd.choice(LANGS), None if outcome == "abandoned" else rnd.choice(CHOICES), outcome)

    conn.executemany("insert into calls (id, channel_id, started_at, ended_at, language, menu_choice, outcome) "
                     "values (?, ?, ?, ?, ?, ?, ?)", calls())

    def cases():  # type: ignore[no-untyped-def]
        for _ in range(n_cases):
            age = rnd.random() ** 1.5 * year
            created = now - timedelta(seconds=age)
            days = age / 86400
            if days > 60:
                status = rnd.choices(("closed", "resolved", "referred", "in_progress"), (85, 8, 4, 3))[0]
            elif days > 7:
                status = rnd.choice(("acknowledged", "in_progress", "referred", "resolved", "closed"))
            else:
                status = rnd.choice(("new", "new", "acknowledged", "in_progress"))
            ack = None if status == "new" else iso(created + timedelta(hours=rnd.random() * 48))
            yield (rnd.choice(tuple(CATEGORIES)), rnd.choices((0, 1, 2, 3), (10, 70, 17, 3))[0], status,
                   rnd.choice(LANGS), str(rnd.randint(10000, 10999)) if rnd.random() < 0.4 else None,
                   rnd.choice(workers) if status != "new" or rnd.random() < 0.2 else None,
                   iso(created), iso(created), ack)

    conn.executemany("insert into cases (category, priority, status, language, workplace_code, assignee_id, "
                     "created_at, updated_at, acknowledged_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)", cases())
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    print(f"built {n_cases} cases, {n_calls} calls in {time.perf_counter() - started:.1f} s (supervisor id {sup})")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def measure(base: str, user: str, paths: list[str], n: int) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(base + "/login") as r:
            token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', await r.text()).group(1)  # type: ignore[union-attr]
        async with s.post(base + "/login", data={"username": user, "password": PASSWORD, "csrf": token}) as r:
            assert r.status == 200, r.status
        for path in paths:
            server, trip = [], []
            for _ in range(n):
                t0 = time.perf_counter()
                async with s.get(base + path) as r:
                    await r.read()
                    assert r.status == 200, (path, r.status)
                    timing = r.headers["Server-Timing"]
                trip.append((time.perf_counter() - t0) * 1000)
                server.append(float(timing.split("dur=")[1]))
            first, warm = server[0], server[1:]  # the first load fills the dashboard's settled-hours memory
            print(f"{user:>8} {path:<50} first {first:7.1f} | server p50 {statistics.median(warm):6.1f}  "
                  f"p95 {pct(warm, .95):6.1f}  p99 {pct(warm, .99):6.1f} ms | round trip p50 "
                  f"{statistics.median(trip[1:]):6.1f} p95 {pct(trip[1:], .95):6.1f} ms")


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ivr-bench-admin-"))
    db_path = Path(args.db) if args.db else tmp / "ivr.db"
    if not db_path.exists():
        build(db_path, args.cases, args.calls)
    settings = load(environ={}, mode="admin", flags={
        "data_dir": str(tmp), "db": str(db_path), "secret_key": "bench-secret-0123456789",
        "admin_bind": "127.0.0.1:0"})
    settings = dataclasses.replace(settings, cookie_secure=False)
    database = Database(settings.db_path)
    server = AdminServer(settings, database)
    await server.start()
    try:
        await measure(server.url, "super", [
            "/cases", "/cases?language=km&category=wages&status=new", "/cases?sort=oldest&page=20",
            "/cases?workplace=10500&status=all", "/dashboard",
        ], args.requests)
        await measure(server.url, "cw_bench", ["/cases", "/cases?category=debt&priority=high"], args.requests)
    finally:
        await server.stop()
        database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--db", help="reuse (or build once at) this database file")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
