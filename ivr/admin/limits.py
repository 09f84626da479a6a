"""Sign-in rate limiting, kept in the database (table ``signin_failures``).

Counted per (username, client address) pair, so a stranger's wrong guesses from their own address
never lock the owner out from theirs. After :data:`FREE_FAILURES` wrong passwords the pair must
wait before its next try, and the wait doubles with each further failure up to :data:`MAX_WAIT`:
a slow-down, never a hard lock. Separately, one address that fails :data:`PER_ADDRESS` times within
:data:`WINDOW` (spraying many usernames) waits out the window. A right password deletes its pair's
row; a password reset deletes every row of that username.

The counts live in the database, not in memory, so a restart does not forget them and every web
process shares them. All functions here are writer functions (run them with ``Database.write``), so
a check and its count are one transaction and parallel tries cannot all slip through.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlite_utils

FREE_FAILURES = 5
FIRST_WAIT = timedelta(seconds=30)
MAX_WAIT = timedelta(minutes=15)
PER_ADDRESS = 20
WINDOW = timedelta(minutes=15)
# A pair that has been quiet this long starts counting from zero again.
FORGET_AFTER = timedelta(days=1)

_FMT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _iso(moment: datetime) -> str:
    return moment.strftime(_FMT)


def _parse(text: str) -> datetime:
    return datetime.strptime(text, _FMT).replace(tzinfo=UTC)


def wait_after(failures: int) -> timedelta:
    """How long a pair waits after ``failures`` wrong passwords in a row."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    return min(MAX_WAIT, FIRST_WAIT * (2 ** min(failures - FREE_FAILURES, 16)))


def attempt(db: sqlite_utils.Database, username: str, address: str, now: datetime | None = None) -> timedelta | None:
    """Count one sign-in attempt, or refuse it: None when it may go ahead, else how long to wait.

    The attempt is counted as failed *before* the slow password check; :func:`succeeded` takes
    it back, so a burst of parallel tries cannot all pass together.
    """
    now = now or datetime.now(UTC)
    name = username.lower()
    rows = db.execute("select failures, last_at from signin_failures where username = ? and address = ?",
                      [name, address]).fetchall()
    failures = 0
    if rows and now - _parse(rows[0][1]) < FORGET_AFTER:
        failures = int(rows[0][0])
        ready_at = _parse(rows[0][1]) + wait_after(failures)
        if now < ready_at:
            return ready_at - now
    recent = db.execute("select coalesce(sum(failures), 0), max(last_at) from signin_failures "
                        "where address = ? and last_at > ?", [address, _iso(now - WINDOW)]).fetchall()[0]
    if int(recent[0]) >= PER_ADDRESS:
        return _parse(recent[1]) + WINDOW - now
    db.execute(
        "insert into signin_failures (username, address, failures, last_at) values (?, ?, ?, ?) "
        "on conflict (username, address) do update set failures = excluded.failures, last_at = excluded.last_at",
        [name, address, failures + 1, _iso(now)],
    )
    if db.execute("select count(*) from signin_failures").fetchall()[0][0] > 10_000:
        # Sprayed usernames would otherwise stay forever, each tried once.
        db.execute("delete from signin_failures where last_at < ?", [_iso(now - FORGET_AFTER)])
    return None


def succeeded(db: sqlite_utils.Database, username: str, address: str) -> None:
    """A right password: the pair starts again from zero."""
    db.execute("delete from signin_failures where username = ? and address = ?", [username.lower(), address])


def clear_user(db: sqlite_utils.Database, username: str) -> None:
    """A password reset (or a new set-password link used): every address may try again at once."""
    db.execute("delete from signin_failures where username = ?", [username.lower()])


def minutes(wait: timedelta) -> int:
    """A wait in whole minutes, rounded up, at least 1 (for the message)."""
    return max(1, -(-int(wait.total_seconds()) // 60))
