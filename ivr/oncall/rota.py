"""The on-call rota: staff, the languages they speak, the phone they answer, their hours.

Writers run inside ``Database.write`` and add an audit row in the same transaction, so
every change to who is rung at 2 a.m. is on record. Refusals raise :class:`RotaError`
with a message fit for the form or the command line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from ivr.db import utcnow
from ivr.languages import LANGUAGES
from ivr.protection import audit
from ivr.words import N_, ShownError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = ",".join(DAYS)
ALL_HOURS = "00:00-24:00"
_HOURS = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
# PJSIP/alice, SIP/x, IAX2/x, Local/exten@context: a dial string Asterisk knows.
_DIAL = re.compile(r"^(PJSIP|SIP|IAX2|Local|DAHDI)/[A-Za-z0-9_.@+\-/]{1,80}$")
_NUMBER = re.compile(r"^\+?\d{3,15}$")
MAX_NAME = 60


class RotaError(ShownError):
    """A rota change was refused; the message says why, in plain words."""


@dataclass(frozen=True)
class Staff:
    name: str
    phone: str
    languages: tuple[str, ...] = ()      # empty: any language
    days: tuple[str, ...] = DAYS
    hours: str = ALL_HOURS
    id: int | None = None
    position: int = 0
    active: bool = True

    def on_duty(self, now: datetime, tz: ZoneInfo) -> bool:
        """Whether ``now`` falls in this person's hours (local time; a span past midnight counts
        for the day it starts on)."""
        local = now.astimezone(tz)
        start, end = self.hours.split("-")
        hhmm = local.strftime("%H:%M")
        today, yesterday = DAYS[local.weekday()], DAYS[(local.weekday() - 1) % 7]
        if start < end:
            return today in self.days and start <= hhmm < end
        if start == end:
            return False
        return (today in self.days and hhmm >= start) or (yesterday in self.days and hhmm < end)

    def speaks(self, language: str | None) -> bool:
        return not self.languages or language in self.languages

    @property
    def is_number(self) -> bool:
        return bool(_NUMBER.match(self.phone))


def parse(name: str, phone: str, languages: str = "", days: str = "", hours: str = "") -> Staff:
    """A Staff from form or command-line text, or RotaError naming what is wrong."""
    name = " ".join(name.split())
    if not name:
        raise RotaError(N_("Give the person's name."))
    if len(name) > MAX_NAME:
        raise RotaError(N_("The name is too long (at most %(n)s characters)."), n=MAX_NAME)
    compact = phone.strip().replace(" ", "").replace("-", "")
    phone = compact if _NUMBER.match(compact) else phone.strip()
    if not (_DIAL.match(phone) or _NUMBER.match(phone)):
        raise RotaError(N_("The phone must be a SIP endpoint such as PJSIP/mai, or a phone number such as "
                          "+66812345678."))
    langs = tuple(dict.fromkeys(c.strip() for c in languages.replace(" ", ",").split(",") if c.strip()))
    for code in langs:
        if code not in LANGUAGES:
            raise RotaError(N_("Unknown language '%(value)s': use codes such as %(codes)s."), value=code,
                               codes=", ".join(sorted(LANGUAGES)))
    day_list = tuple(dict.fromkeys(d.strip().lower()[:3] for d in (days or ALL_DAYS).split(",") if d.strip()))
    for day in day_list:
        if day not in DAYS:
            raise RotaError(N_("Unknown day '%(value)s': use mon, tue, wed, thu, fri, sat, sun."), value=day)
    if not day_list:
        raise RotaError(N_("Choose at least one day."))
    hours = (hours or ALL_HOURS).strip().replace(" ", "")
    if not _HOURS.match(hours) or any(h > "24:00" for h in hours.split("-")):
        raise RotaError(N_("Hours must look like 08:00-20:00 (or 22:00-06:00 for a night shift)."))
    if hours.split("-")[0] == hours.split("-")[1]:
        raise RotaError(N_("The hours start and end at the same time; use 00:00-24:00 for all day."))
    return Staff(name=name, phone=phone, languages=langs, days=tuple(d for d in DAYS if d in day_list), hours=hours)


def _from_row(row: dict[str, Any]) -> Staff:
    return Staff(name=row["name"], phone=row["phone"],
                 languages=tuple(c for c in row["languages"].split(",") if c),
                 days=tuple(d for d in row["days"].split(",") if d), hours=row["hours"],
                 id=row["id"], position=row["position"], active=bool(row["active"]))


def list_staff(db: sqlite_utils.Database, *, active_only: bool = False) -> list[Staff]:
    where = " where active = 1" if active_only else ""
    return [_from_row(r) for r in db.query(f"select * from oncall_staff{where} order by position, id")]


def get_staff(db: sqlite_utils.Database, staff_id: int) -> Staff | None:
    rows = list(db.query("select * from oncall_staff where id = ?", [staff_id]))
    return _from_row(rows[0]) if rows else None


def _audit(db: sqlite_utils.Database, action: str, staff_id: int, actor: str | None, user_id: int | None,
           detail: dict[str, Any] | None = None) -> None:
    # The staff member's name and phone stay out of the log: the row id says who.
    audit.append(db, action=action, user_id=user_id, username=actor, object_type="oncall_staff",
                 object_id=staff_id, detail=detail or {})


def add(db: sqlite_utils.Database, staff: Staff, *, actor: str | None, user_id: int | None = None) -> int:
    if db.execute("select 1 from oncall_staff where name = ?", [staff.name]).fetchone():
        raise RotaError(N_("%(name)s is already on the rota."), name=staff.name)
    position = db.execute("select coalesce(max(position), 0) + 1 from oncall_staff").fetchone()[0]
    now = utcnow()
    cur = db.execute(
        "insert into oncall_staff (name, languages, phone, days, hours, position, active, created_at, updated_at)"
        " values (?, ?, ?, ?, ?, ?, 1, ?, ?)",
        [staff.name, ",".join(staff.languages), staff.phone, ",".join(staff.days), staff.hours, position, now, now])
    staff_id = int(cur.lastrowid or 0)
    _audit(db, "oncall.add", staff_id, actor, user_id, {"position": position})
    return staff_id


def update(db: sqlite_utils.Database, staff_id: int, staff: Staff, *, actor: str | None,
           user_id: int | None = None) -> None:
    if get_staff(db, staff_id) is None:
        raise RotaError(N_("There is no such person on the rota."))
    if db.execute("select 1 from oncall_staff where name = ? and id != ?", [staff.name, staff_id]).fetchone():
        raise RotaError(N_("%(name)s is already on the rota."), name=staff.name)
    db.execute("update oncall_staff set name = ?, languages = ?, phone = ?, days = ?, hours = ?, updated_at = ?"
               " where id = ?", [staff.name, ",".join(staff.languages), staff.phone, ",".join(staff.days),
                                 staff.hours, utcnow(), staff_id])
    _audit(db, "oncall.edit", staff_id, actor, user_id)


def remove(db: sqlite_utils.Database, staff_id: int, *, actor: str | None, user_id: int | None = None) -> None:
    """Take someone off the rota. The row stays (inactive) so past alerts still name them."""
    if get_staff(db, staff_id) is None:
        raise RotaError(N_("There is no such person on the rota."))
    db.execute("update oncall_staff set active = 0, updated_at = ? where id = ?", [utcnow(), staff_id])
    _audit(db, "oncall.remove", staff_id, actor, user_id)


def move(db: sqlite_utils.Database, staff_id: int, position: int, *, actor: str | None,
         user_id: int | None = None) -> None:
    """Put someone at ``position`` (1 = rung first) among the active staff."""
    order = [s.id for s in list_staff(db, active_only=True)]
    if staff_id not in order:
        raise RotaError(N_("There is no such person on the rota."))
    order.remove(staff_id)
    order.insert(max(0, min(position - 1, len(order))), staff_id)
    for i, sid in enumerate(order, start=1):
        db.execute("update oncall_staff set position = ? where id = ?", [i, sid])
    _audit(db, "oncall.move", staff_id, actor, user_id, {"position": position})


def find(db: sqlite_utils.Database, name_or_id: str) -> Staff:
    row = None
    if name_or_id.isascii() and name_or_id.isdigit() and len(name_or_id) <= 12:
        row = get_staff(db, int(name_or_id))
    if row is None:
        rows = list(db.query("select * from oncall_staff where name = ? and active = 1", [name_or_id]))
        row = _from_row(rows[0]) if rows else None
    if row is None or not row.active:
        raise RotaError(N_("Nobody called '%(name)s' is on the rota."), name=name_or_id)
    return row


def call_order(staff: list[Staff], language: str | None, now: datetime, tz: ZoneInfo) -> list[Staff]:
    """Whom to ring, in order: on duty and speaking the caller's language first, then anyone on duty,
    then (so that an emergency never reaches nobody) everyone else on the rota."""
    active = [s for s in staff if s.active]
    on_duty = [s for s in active if s.on_duty(now, tz)]
    first = [s for s in on_duty if s.speaks(language)]
    rest = [s for s in on_duty if s not in first]
    off = [s for s in active if s not in on_duty]
    return first + rest + off
