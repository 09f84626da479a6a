"""The supervisors' figures: call volume, abandoned calls, case backlog and time to acknowledge.

Each figure is a :class:`Table` (title, column names, rows) so the page, its SVG
charts and the CSV export all use the same numbers. Calls are counted from the
covering index ``calls_dashboard`` and grouped by UTC hour in SQL, then moved to
local time here (so a 30-day window is one index range scan, not a table scan).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from ivr.cases import CATEGORIES, STATUSES
from ivr.languages import LANGUAGES

DAYS = 30
AGE_BUCKETS = (("under 1 day", 1), ("1–3 days", 3), ("3–7 days", 7), ("7–30 days", 30), ("over 30 days", None))


@dataclass
class Table:
    name: str  # used in the CSV's address
    title: str
    columns: list[str]
    rows: list[list[Any]]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def active_calls(db: sqlite_utils.Database) -> int:
    return int(db.execute("select count(*) from calls where ended_at is null").fetchone()[0])


def call_tables(db: sqlite_utils.Database, tz: ZoneInfo, now: datetime) -> list[Table]:
    since = now - timedelta(days=DAYS)
    rows = db.execute(
        "select substr(started_at, 1, 13), language, menu_choice, outcome = 'abandoned', count(*) "
        "from calls where started_at >= ? group by 1, 2, 3, 4",
        [_iso(since)],
    ).fetchall()
    local: dict[str, datetime] = {}
    hours: Counter[str] = Counter()
    hours_abandoned: Counter[str] = Counter()
    days: Counter[str] = Counter()
    days_abandoned: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    choices: Counter[str] = Counter()
    hour_keys = [(now.astimezone(tz) - timedelta(hours=h)).strftime("%m-%d %H:00") for h in range(23, -1, -1)]
    recent = set(hour_keys)
    for hour, language, choice, abandoned, n in rows:
        when = local.get(hour)
        if when is None:
            when = local[hour] = datetime.fromisoformat(hour + ":00:00+00:00").astimezone(tz)
        day = when.strftime("%Y-%m-%d")
        days[day] += n
        if abandoned:
            days_abandoned[day] += n
        key = when.strftime("%m-%d %H:00")
        if key in recent:
            hours[key] += n
            if abandoned:
                hours_abandoned[key] += n
        languages[language or "none"] += n
        choices[choice or "none"] += n
    day_keys = [(now.astimezone(tz) - timedelta(days=d)).strftime("%Y-%m-%d") for d in range(DAYS - 1, -1, -1)]
    return [
        Table("calls_per_hour", "Calls per hour, last 24 hours", ["Hour", "Calls", "Abandoned"],
              [[k, hours[k], hours_abandoned[k]] for k in hour_keys]),
        Table("calls_per_day", f"Calls per day, last {DAYS} days", ["Day", "Calls", "Abandoned"],
              [[k, days[k], days_abandoned[k]] for k in day_keys]),
        Table("calls_by_language", f"Calls by language, last {DAYS} days", ["Language", "Calls"],
              [[LANGUAGES[c].english if c in LANGUAGES else "Not chosen", n] for c, n in languages.most_common()]),
        Table("calls_by_menu_choice", f"Calls by menu choice, last {DAYS} days", ["Choice", "Calls"],
              [[CATEGORIES.get(c, "Nothing chosen" if c == "none" else c), n] for c, n in choices.most_common()]),
    ]


def backlog_table(db: sqlite_utils.Database, now: datetime) -> Table:
    edges = [_iso(now - timedelta(days=d)) for _, d in AGE_BUCKETS if d is not None]
    bucket_sql = "case " + " ".join(f"when created_at >= ? then {i}" for i in range(len(edges))) + \
        f" else {len(edges)} end"
    counts = {(s, b): n for s, b, n in db.execute(
        f"select status, {bucket_sql}, count(*) from cases where status != 'closed' group by 1, 2", edges
    ).fetchall()}
    open_statuses = [s for s in STATUSES if s != "closed"]
    rows = []
    for status in open_statuses:
        cells = [counts.get((status, i), 0) for i in range(len(AGE_BUCKETS))]
        rows.append([status.replace("_", " "), *cells, sum(cells)])
    return Table("backlog", "Open cases by status and age", ["Status", *(b for b, _ in AGE_BUCKETS), "Total"], rows)


def acknowledge_table(db: sqlite_utils.Database, now: datetime) -> Table:
    since = _iso(now - timedelta(days=DAYS))
    hours = [r[0] for r in db.execute(
        "select (julianday(acknowledged_at) - julianday(created_at)) * 24 from cases "
        "where created_at >= ? and acknowledged_at is not null", [since]
    ).fetchall()]
    waiting = db.execute(
        "select count(*), min(created_at) from cases where status = 'new' and acknowledged_at is null"
    ).fetchone()
    rows: list[list[Any]] = [["Cases acknowledged (created in the last 30 days)", len(hours)]]
    if hours:
        q = statistics.quantiles(hours, n=10) if len(hours) > 1 else [hours[0]] * 9
        rows += [["Median hours to acknowledge", round(statistics.median(hours), 1)],
                 ["9 in 10 acknowledged within (hours)", round(q[8], 1)]]
    rows.append(["Still waiting to be acknowledged (all time)", waiting[0]])
    if waiting[1]:
        oldest = datetime.fromisoformat(waiting[1].replace("Z", "+00:00"))
        rows.append(["Oldest waiting (hours)", round((now - oldest).total_seconds() / 3600, 1)])
    return Table("acknowledge", "Time to acknowledge", ["Measure", "Value"], rows)


def dashboard(db: sqlite_utils.Database, tz: ZoneInfo, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    return {
        "active": active_calls(db),
        "tables": [*call_tables(db, tz, now), backlog_table(db, now), acknowledge_table(db, now)],
    }
