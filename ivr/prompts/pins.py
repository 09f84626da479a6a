"""Wrong PINs on the staff prompt line, kept in the database (tables ``prompt_line_pin_failures`` and
``prompt_line_lockouts``).

The PIN is the line's only lock for callers from outside, so guessing it must stay slow across engine
restarts: the counts live in SQLite, not in memory. Callers are told apart by a keyed hash of their
number (:func:`ivr.protection.caller.caller_ref` with its own key), never the number itself; withheld
numbers share one count. :data:`PER_CALLER` wrong PINs from one number within :data:`WINDOW` lock
that number out for :data:`LOCKOUT`; :data:`ALL_CALLERS` from any numbers within the window (one
guesser with many numbers) lock the PIN for everyone for as long. Every lockout is audited.

Both functions are writer functions (run them with ``Database.write``): a check and its count are one
transaction, so parallel calls cannot all slip through.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlite_utils

from ivr.protection import audit
from ivr.protection.caller import caller_ref

PER_CALLER = 5
ALL_CALLERS = 10
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
EVERYONE = "*"
WITHHELD = "withheld"
KEY_PURPOSE = "prompt-line-caller"   # settings.key(...): these hashes cannot be matched with the calls' refs
FORGET_AFTER = timedelta(days=1)

_FMT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso(moment: datetime) -> str:
    """As the database keeps times (ivr.db.utcnow)."""
    return moment.strftime(_FMT)


def caller_tag(key: bytes, number: str | None) -> str:
    """Who is calling, as the counts know them: a keyed hash of the number (``key`` is
    ``settings.key(KEY_PURPOSE)``), or one shared tag for withheld numbers."""
    return caller_ref(key, number) or WITHHELD


def locked(db: sqlite_utils.Database, caller: str, now: datetime | None = None) -> bool:
    """Whether this caller, or everyone, is locked out now."""
    now = now or datetime.now(UTC)
    return bool(db.execute("select 1 from prompt_line_lockouts where who in (?, ?) and until > ?",
                           [caller, EVERYONE, iso(now)]).fetchall())


def failed(db: sqlite_utils.Database, caller: str, who: str, now: datetime | None = None) -> bool:
    """Count one wrong PIN (audited as ``prompt_line.pin_failed`` by ``who``); lock out the caller, or
    everyone, when it is one too many. Returns whether the caller is now locked out."""
    now = now or datetime.now(UTC)
    db.execute("delete from prompt_line_pin_failures where at < ?", [iso(now - FORGET_AFTER)])
    db.execute("insert into prompt_line_pin_failures (caller, at) values (?, ?)", [caller, iso(now)])
    audit.append(db, action="prompt_line.pin_failed", username=who, object_type="prompt_line",
                 detail={"caller": caller[:8]})
    since = iso(now - WINDOW)
    mine = db.execute("select count(*) from prompt_line_pin_failures where caller = ? and at > ?",
                      [caller, since]).fetchall()[0][0]
    everyone = db.execute("select count(*) from prompt_line_pin_failures where at > ?", [since]).fetchall()[0][0]
    scope = EVERYONE if everyone >= ALL_CALLERS else caller if mine >= PER_CALLER else None
    if scope is None:
        return locked(db, caller, now)
    until = iso(now + LOCKOUT)
    db.execute("insert into prompt_line_lockouts (who, until) values (?, ?) "
               "on conflict (who) do update set until = excluded.until", [scope, until])
    audit.append(db, action="prompt_line.pin_locked", username=who, object_type="prompt_line",
                 detail={"scope": "everyone" if scope == EVERYONE else "caller", "caller": caller[:8],
                         "failures": int(everyone if scope == EVERYONE else mine), "until": until})
    return True
