"""The case queue: reading filter values from the address bar and turning them into SQL.

Every value is checked; one that does not parse raises :class:`FilterError` with a
message naming the filter, so the page can say what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ivr.admin import case_search
from ivr.admin.keys import User
from ivr.admin.params import parse_int
from ivr.cases import CATEGORIES, PRIORITIES, STATUSES
from ivr.languages import LANGUAGES
from ivr.words import N_, ShownError

PAGE_SIZE = 50
SORTS = {
    "priority": "c.priority desc, c.created_at asc",
    "oldest": "c.created_at asc",
    "newest": "c.created_at desc",
}


class FilterError(ShownError, ValueError):
    """A filter value that does not parse; the message names the filter and what it accepts."""


@dataclass(frozen=True)
class QueueFilter:
    status: str = "open"  # a status, "open" (not closed) or "all"
    language: str = ""
    category: str = ""
    priority: int | None = None
    workplace: str = ""
    date_from: date | None = None
    date_to: date | None = None
    assignee: str = ""  # "", "me", "none" or a user id
    q: str = ""  # full-text search (ivr.admin.case_search)
    emergency: bool = False
    sort: str = "priority"
    page: int = 1
    raw: dict[str, str] = field(default_factory=dict)

    @property
    def narrowed(self) -> int:
        """How many filters (not the search words, the order or the page) differ from the defaults: the
        queue page opens its filters when some are in use, so nobody wonders why cases are missing."""
        default = QueueFilter()
        names = ("status", "language", "category", "priority", "workplace", "date_from", "date_to", "assignee",
                 "emergency")
        return sum(getattr(self, n) != getattr(default, n) for n in names)

    def query_string(self, **changes: Any) -> str:
        """The filter as a query string, e.g. for the next page's link."""
        from urllib.parse import urlencode

        values = {**self.raw, **{k: str(v) for k, v in changes.items()}}
        return urlencode({k: v for k, v in values.items() if v})


def _choice(name: str, value: str, allowed: Mapping[str, Any] | tuple[str, ...]) -> str:
    if value and value not in allowed:
        raise FilterError(N_("The filter “%(name)s” cannot be “%(value)s”. Choose one of: %(allowed)s."), name=name,
                          value=value, allowed=", ".join(allowed))
    return value


def _date(name: str, value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FilterError(N_("The filter “%(name)s” needs a date like 2026-01-31, not “%(value)s”."), name=name,
                          value=value) from None


def parse(query: Mapping[str, str]) -> QueueFilter:
    raw = {k: query.get(k, "").strip() for k in
           ("status", "language", "category", "priority", "workplace", "from", "to", "assignee", "sort", "page",
            "q", "emergency")}
    _choice("status", raw["status"], (*STATUSES, "open", "all"))
    _choice("language", raw["language"], tuple(LANGUAGES))
    _choice("category", raw["category"], tuple(CATEGORIES))
    _choice("sort", raw["sort"], tuple(SORTS))
    priority = None
    if raw["priority"]:
        names = {v: k for k, v in PRIORITIES.items()}
        number = parse_int(raw["priority"])
        if number is not None and number in PRIORITIES:
            priority = number
        elif raw["priority"] in names:
            priority = names[raw["priority"]]
        else:
            raise FilterError(N_("The filter “%(name)s” cannot be “%(value)s”. Choose one of: %(allowed)s."),
                              name="priority", value=raw["priority"], allowed=", ".join(PRIORITIES.values()))
    if raw["workplace"] and parse_int(raw["workplace"], high=10**12 - 1) is None:
        raise FilterError(N_("The filter “workplace” needs the workplace's number code, not “%(value)s”."),
                          value=raw["workplace"])
    assignee = raw["assignee"]
    if assignee and assignee not in ("me", "none") and parse_int(assignee) is None:
        raise FilterError(N_("The filter “assignee” cannot be “%(value)s”."), value=assignee)
    page_text = raw["page"] or "1"
    page = parse_int(page_text, low=1, high=100_000)
    if page is None:
        raise FilterError(N_("The page number “%(value)s” is not a number from 1 up."), value=page_text)
    if raw["emergency"] not in ("", "1"):
        raise FilterError(N_("The filter “emergency” can only be 1 (emergencies only)."))
    try:
        case_search.terms(raw["q"])
    except case_search.SearchError as exc:
        raise FilterError(exc.words) from None
    date_from, date_to = _date("from", raw["from"]), _date("to", raw["to"])
    if date_from and date_to and date_from > date_to:
        raise FilterError(N_("The “from” date is after the “to” date."))
    return QueueFilter(
        status=raw["status"] or "open", language=raw["language"], category=raw["category"], priority=priority,
        workplace=raw["workplace"], date_from=date_from, date_to=date_to, assignee=assignee,
        q=raw["q"], emergency=raw["emergency"] == "1",
        sort=raw["sort"] or "priority", page=page, raw={k: v for k, v in raw.items() if v and k != "page"},
    )


def _utc(day: date, tz: ZoneInfo) -> str:
    """Local midnight of ``day`` as the stored UTC text, so a date filter means the office's day."""
    moment = datetime.combine(day, time(0), tzinfo=tz).astimezone(ZoneInfo("UTC"))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def visible_to(user: User) -> tuple[str, list[Any]]:
    """SQL (over alias ``c``) for the cases ``user`` may see: caseworkers see theirs and unassigned ones in
    their languages; supervisors see all."""
    if user.role == "supervisor":
        return "1", []
    if user.role != "caseworker":
        return "0", []
    if not user.languages:
        return "(c.assignee_id = ? or c.assignee_id is null)", [user.id]
    marks = ", ".join("?" for _ in user.languages)
    return f"(c.assignee_id = ? or (c.assignee_id is null and c.language in ({marks})))", [user.id, *user.languages]


def _filters(f: QueueFilter, user: User, tz: ZoneInfo) -> tuple[list[str], list[Any]]:
    parts: list[str] = []
    args: list[Any] = []
    if f.status == "open":
        parts.append("c.status != 'closed'")
    elif f.status != "all":
        parts.append("c.status = ?")
        args.append(f.status)
    for column, value in (("language", f.language), ("category", f.category), ("workplace_code", f.workplace)):
        if value:
            parts.append(f"c.{column} = ?")
            args.append(value)
    if f.emergency:
        parts.append("c.emergency = 1")
    if f.priority is not None:
        parts.append("c.priority = ?")
        args.append(f.priority)
    if f.date_from:
        parts.append("c.created_at >= ?")
        args.append(_utc(f.date_from, tz))
    if f.date_to:
        parts.append("c.created_at < ?")
        args.append(_utc(f.date_to + timedelta(days=1), tz))
    if f.assignee == "me":
        parts.append("c.assignee_id = ?")
        args.append(user.id)
    elif f.assignee == "none":
        parts.append("c.assignee_id is null")
    elif f.assignee:
        parts.append("c.assignee_id = ?")
        args.append(int(f.assignee))
    return parts, args


COLUMNS = (
    "c.id, c.created_at, c.priority, c.category, c.language, c.status, c.workplace_code, "
    "c.needs_human_transcript, c.emergency, c.callback_requested, u.username as assignee"
)


def page_sql(f: QueueFilter, user: User, tz: ZoneInfo) -> tuple[str, list[Any]]:
    """One page of the queue, plus one row to tell whether a next page exists.

    A caseworker's view is the union of two index-friendly parts (their own cases; unassigned
    cases in their languages, from the partial index ``cases_unassigned``), and open cases by
    age are the union of one part per status; each part is cut to the rows the page can need,
    rather than one OR that would make SQLite sort every match.
    """
    parts, args = _filters(f, user, tz)
    order = SORTS[f.sort] + ", c.id"
    limit, offset = PAGE_SIZE + 1, (f.page - 1) * PAGE_SIZE
    if f.q:
        return _search_sql(f, user, parts, args, order, limit, offset)
    head = f"select {COLUMNS} from cases c left join users u on u.id = c.assignee_id"
    # (index hint, clause, args) for each part of the union; None means one plain query.
    partitions: list[tuple[str, str, list[Any]]] | None = None
    if user.role == "caseworker":
        langs = f" and c.language in ({', '.join('?' for _ in user.languages)})" if user.languages else ""
        # Someone's own cases are few: always reach them through cases_assignee, whatever else is filtered.
        partitions = [
            ("indexed by cases_assignee", "c.assignee_id = ?", [user.id]),
            ("", "c.assignee_id is null" + langs, list(user.languages)),
        ]
    elif f.status == "open" and f.sort != "priority":
        # Open cases by age: one ordered walk of cases_status_age per open status.
        partitions = [("", "c.status = ?", [status]) for status in STATUSES if status != "closed"]
    if partitions is None:
        visible, vargs = visible_to(user)
        clause = " and ".join([visible, *parts])
        return f"{head} where {clause} order by {order} limit ? offset ?", [*vargs, *args, limit, offset]
    inner: list[str] = []
    inner_args: list[Any] = []
    for hint, visible, vargs in partitions:
        clause = " and ".join([visible, *parts])
        inner.append(f"select id from (select c.id from cases c {hint} where {clause} order by {order} limit ?)")
        inner_args += [*vargs, *args, limit + offset]
    sql = f"{head} where c.id in ({' union all '.join(inner)}) order by {order} limit ? offset ?"
    return sql, [*inner_args, limit, offset]


def _search_sql(f: QueueFilter, user: User, parts: list[str], args: list[Any], order: str, limit: int,
                offset: int) -> tuple[str, list[Any]]:
    """A page of the cases matching ``f.q`` that ``user`` may see (the queue's own rule), with their text.

    The text match runs first (the trigram index), then the visibility rule and the filters on
    the cases it found, so nobody's search reaches a case their queue would not show.
    """
    match, margs = case_search.where(case_search.terms(f.q))
    visible, vargs = visible_to(user)
    clause = " and ".join([match, visible, *parts])
    sql = (f"select {COLUMNS}, s.body as search_body from case_search s join cases c on c.id = s.rowid "
           f"left join users u on u.id = c.assignee_id where {clause} order by {order} limit ? offset ?")
    return sql, [*margs, *vargs, *args, limit, offset]
