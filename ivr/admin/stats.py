"""The supervisors' figures: call volume, abandoned calls, case backlog and time to acknowledge.

Each figure is a :class:`Table` (title, column names, rows) so the page, its SVG
charts and the CSV export all use the same numbers. Calls are counted from the
covering index ``calls_dashboard`` and grouped by UTC hour in SQL, then moved to
local time here (so a 30-day window is one index range scan, not a table scan).
"""

from __future__ import annotations

import functools
import statistics
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from ivr.cases import CATEGORIES, STATUS_LABELS, STATUSES
from ivr.languages import LANGUAGES
from ivr.words import N_

DAYS = 30
AGE_BUCKETS = ((N_("under 1 day"), 1), (N_("1–3 days"), 3), (N_("3–7 days"), 7), (N_("7–30 days"), 30),
               (N_("over 30 days"), None))
Gettext = Callable[[str], str]


def untranslated(message: str) -> str:
    """No translation: CSV exports keep the English names (a spreadsheet's columns stay the same)."""
    return message


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


@dataclass
class HourCounts:
    calls: int = 0
    abandoned: int = 0
    languages: Counter[str] = field(default_factory=Counter)
    choices: Counter[str] = field(default_factory=Counter)


def _hour(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


class CallCounts:
    """Calls per UTC hour, remembered between dashboard loads.

    A call's row is final once it has ended, so an hour that ended more than ``SETTLE``
    ago no longer changes: it is read from the database once, and only the last few hours
    are read on every load. Everything is read afresh every ``REFRESH`` in case calls were
    imported late (voicemails the dialplan kept while the engine was down).
    """

    SETTLE = timedelta(hours=3)
    REFRESH = timedelta(hours=1)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settled: dict[str, HourCounts] = {}
        self._settled_until = ""  # UTC hour text; hours before it are in _settled
        self._fresh_since: datetime | None = None

    @staticmethod
    def _read(db: sqlite_utils.Database, start: str, end: str | None, into: dict[str, HourCounts]) -> None:
        sql = ("select substr(started_at, 1, 13), language, menu_choice, outcome = 'abandoned', count(*) "
               "from calls where started_at >= ?" + (" and started_at < ?" if end else "") + " group by 1, 2, 3, 4")
        for hour, language, choice, abandoned, n in db.execute(sql, [start, end] if end else [start]).fetchall():
            counts = into.setdefault(hour, HourCounts())
            counts.calls += n
            counts.abandoned += n if abandoned else 0
            counts.languages[language or "none"] += n
            counts.choices[choice or "none"] += n

    def hours(self, db: sqlite_utils.Database, since: datetime, now: datetime) -> dict[str, HourCounts]:
        """Counts per UTC hour (``YYYY-MM-DDTHH``) for calls started from ``since`` on."""
        first, settle = _hour(since), _hour(now - self.SETTLE)
        with self._lock:
            if self._fresh_since is None or now - self._fresh_since > self.REFRESH:
                self._settled, self._settled_until, self._fresh_since = {}, "", now
            start = max(first, self._settled_until)
            if start < settle:
                self._read(db, start + ":00:00", settle + ":00:00", self._settled)
                self._settled_until = settle
            for hour in [h for h in self._settled if h < first]:
                del self._settled[hour]
            out = {h: c for h, c in self._settled.items() if h >= first}
        recent: dict[str, HourCounts] = {}
        self._read(db, max(first, self._settled_until) + ":00:00", None, recent)
        out.update(recent)
        return out


@functools.lru_cache(maxsize=4096)
def _local(hour: str, tz: ZoneInfo) -> tuple[str, str]:
    """A UTC hour's local day and hour labels (hour-wide buckets: exact for whole-hour offsets)."""
    when = datetime.fromisoformat(hour + ":00:00+00:00").astimezone(tz)
    return when.strftime("%Y-%m-%d"), when.strftime("%m-%d %H:00")


def call_tables(db: sqlite_utils.Database, tz: ZoneInfo, now: datetime, counts: CallCounts,
                _: Gettext = untranslated) -> list[Table]:
    since = now - timedelta(days=DAYS)
    hour_keys = [(now.astimezone(tz) - timedelta(hours=h)).strftime("%m-%d %H:00") for h in range(23, -1, -1)]
    day_keys = [(now.astimezone(tz) - timedelta(days=d)).strftime("%Y-%m-%d") for d in range(DAYS - 1, -1, -1)]
    recent = set(hour_keys)
    hours: Counter[str] = Counter()
    hours_abandoned: Counter[str] = Counter()
    days: Counter[str] = Counter()
    days_abandoned: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    choices: Counter[str] = Counter()
    for hour, c in counts.hours(db, since, now).items():
        day, key = _local(hour, tz)
        days[day] += c.calls
        days_abandoned[day] += c.abandoned
        if key in recent:
            hours[key] += c.calls
            hours_abandoned[key] += c.abandoned
        for lang, n in c.languages.items():
            languages[lang] += n
        for choice, n in c.choices.items():
            choices[choice] += n
    return [
        Table("calls_per_hour", _("Calls per hour, last 24 hours"), [_("Hour"), _("Calls"), _("Abandoned")],
              [[k, hours[k], hours_abandoned[k]] for k in hour_keys]),
        Table("calls_per_day", _("Calls per day, last %(days)s days") % {"days": DAYS},
              [_("Day"), _("Calls"), _("Abandoned")], [[k, days[k], days_abandoned[k]] for k in day_keys]),
        Table("calls_by_language", _("Calls by language, last %(days)s days") % {"days": DAYS},
              [_("Language"), _("Calls")],
              [[_(LANGUAGES[c].english) if c in LANGUAGES else _("Not chosen"), n]
               for c, n in languages.most_common()]),
        Table("calls_by_menu_choice", _("Calls by menu choice, last %(days)s days") % {"days": DAYS},
              [_("Choice"), _("Calls")],
              [[_(CATEGORIES[c]) if c in CATEGORIES else _("Nothing chosen") if c == "none" else c.replace("_", " "),
                n] for c, n in choices.most_common()]),
    ]


def backlog_table(db: sqlite_utils.Database, now: datetime, _: Gettext = untranslated) -> Table:
    edges = [_iso(now - timedelta(days=d)) for _, d in AGE_BUCKETS if d is not None]
    rows = []
    for status in (s for s in STATUSES if s != "closed"):
        # Cases newer than each edge, counted in the (status, created_at) index; buckets are the differences.
        newer = [db.execute("select count(*) from cases where status = ? and created_at >= ?", [status, edge])
                 .fetchone()[0] for edge in edges]
        total = db.execute("select count(*) from cases where status = ?", [status]).fetchone()[0]
        bounds = [*newer, total]
        cells = [bounds[0]] + [bounds[i] - bounds[i - 1] for i in range(1, len(bounds))]
        rows.append([_(STATUS_LABELS[status]), *cells, total])
    return Table("backlog", _("Open cases by status and age"),
                 [_("Status"), *(_(b) for b, _days in AGE_BUCKETS), _("Total")], rows)


def acknowledge_table(db: sqlite_utils.Database, now: datetime, _: Gettext = untranslated) -> Table:
    since = _iso(now - timedelta(days=DAYS))
    hours = [r[0] for r in db.execute(
        "select (julianday(acknowledged_at) - julianday(created_at)) * 24 from cases "
        "where created_at >= ? and acknowledged_at is not null", [since]
    ).fetchall()]
    waiting = db.execute(
        "select count(*), min(created_at) from cases where status = 'new'"
    ).fetchone()
    rows: list[list[Any]] = [[_("Cases acknowledged (created in the last 30 days)"), len(hours)]]
    if hours:
        q = statistics.quantiles(hours, n=10) if len(hours) > 1 else [hours[0]] * 9
        rows += [[_("Median hours to acknowledge"), round(statistics.median(hours), 1)],
                 [_("9 in 10 acknowledged within (hours)"), round(q[8], 1)]]
    rows.append([_("Still waiting to be acknowledged (all time)"), waiting[0]])
    if waiting[1]:
        oldest = datetime.fromisoformat(waiting[1].replace("Z", "+00:00"))
        rows.append([_("Oldest waiting (hours)"), round((now - oldest).total_seconds() / 3600, 1)])
    return Table("acknowledge", _("Time to acknowledge"), [_("Measure"), _("Value")], rows)


def dashboard(db: sqlite_utils.Database, tz: ZoneInfo, counts: CallCounts, now: datetime | None = None,
              _: Gettext = untranslated) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    from ivr.oncall.status import unacknowledged_emergencies

    return {
        "active": active_calls(db),
        "emergencies": unacknowledged_emergencies(db, now),
        "tables": [*call_tables(db, tz, now, counts, _), backlog_table(db, now, _), acknowledge_table(db, now, _)],
    }


OUTCOME_NAMES = {None: N_("Still on the line")}


@dataclass(frozen=True)
class Period:
    """A range of whole local days, first to last inclusive, and the same number of days before it."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    def bounds(self, tz: ZoneInfo) -> tuple[str, str]:
        start = datetime.combine(self.first, time(0), tzinfo=tz)
        end = datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=tz)
        return _iso(start), _iso(end)

    def label(self, _: Gettext = untranslated) -> str:
        return _("%(first)s to %(last)s") % {"first": f"{self.first:%Y-%m-%d}", "last": f"{self.last:%Y-%m-%d}"}


def _period_counts(db: sqlite_utils.Database, period: Period, tz: ZoneInfo) -> dict[str, Counter[Any]]:
    start, end = period.bounds(tz)
    out: dict[str, Counter[Any]] = {k: Counter() for k in ("total", "hour", "language", "choice", "outcome")}
    for hour, language, choice, outcome, n in db.execute(
            "select substr(started_at, 1, 13), language, menu_choice, outcome, count(*) from calls "
            "where started_at >= ? and started_at < ? group by 1, 2, 3, 4", [start, end]).fetchall():
        local = datetime.fromisoformat(hour + ":00:00+00:00").astimezone(tz)
        out["total"]["calls"] += n
        out["total"]["abandoned"] += n if outcome == "abandoned" else 0
        out["hour"][local.hour] += n
        out["language"][language or "none"] += n
        out["choice"][choice or "none"] += n
        out["outcome"][outcome] += n
    out["total"]["messages"] = db.execute(
        "select count(*) from cases where created_at >= ? and created_at < ?", [start, end]).fetchone()[0]
    return out


def _change(now: int, before: int, _: Gettext = untranslated) -> str:
    if before == 0:
        return _("new") if now else "—"
    pct = round((now - before) * 100 / before)
    return f"{pct:+d}%"


def period_tables(db: sqlite_utils.Database, tz: ZoneInfo, period: Period, _: Gettext = untranslated) -> list[Table]:
    """The chosen range beside the one before it: totals, by hour of day, language, menu choice, outcome."""
    from ivr.cases import OUTCOMES

    now, before = _period_counts(db, period, tz), _period_counts(db, period.previous(), tz)
    cols = [period.label(_), _("Previous %(days)s days") % {"days": period.days}]

    def pair(key: str, names: dict[Any, str]) -> list[list[Any]]:
        keys = sorted(set(now[key]) | set(before[key]), key=lambda k: -now[key][k])
        return [[_(names[k]) if k in names else str(k), now[key][k], before[key][k]] for k in keys]

    languages = {c: lang.english for c, lang in LANGUAGES.items()} | {"none": N_("Not chosen")}
    choices: dict[Any, str] = {**CATEGORIES, "none": N_("Nothing chosen"), "message": N_("Left a message"),
                               "callback": N_("Asked for a call-back"), "followup": N_("Followed up a case")}
    outcomes: dict[Any, str] = {**OUTCOMES, **OUTCOME_NAMES}
    totals = [[_(label), now["total"][k], before["total"][k], _change(now["total"][k], before["total"][k], _)]
              for k, label in (("calls", N_("Calls")), ("abandoned", N_("Abandoned calls (hung up before choosing)")),
                               ("messages", N_("Cases opened")))]
    return [
        Table("period", _("Calls and cases in the chosen days"), [_("Measure"), *cols, _("Change")], totals),
        Table("by_hour_of_day", _("Calls by hour of day"), [_("Hour"), *cols],
              [[f"{h:02d}", now["hour"][h], before["hour"][h]] for h in range(24)]),
        Table("by_language", _("Calls by language"), [_("Language"), *cols], pair("language", languages)),
        Table("by_menu_choice", _("Calls by menu choice"), [_("Choice"), *cols], pair("choice", choices)),
        Table("by_outcome", _("How calls ended"), [_("Outcome"), *cols], pair("outcome", outcomes)),
    ]
