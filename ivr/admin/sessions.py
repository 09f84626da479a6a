"""Server-side sign-in sessions.

The browser holds a random token; the database holds only its keyed hash, so a
copy of the database does not let anyone sign in. A session ends after
``IDLE`` without a request, after ``ABSOLUTE`` in any case, or at sign-out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from ivr.admin.keys import User
from ivr.db.writer import Database

IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
# last_seen_at is refreshed at most this often, so reads don't each cost a write.
TOUCH_EVERY = timedelta(seconds=60)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class SessionStore:
    def __init__(self, database: Database, key: bytes) -> None:
        self.database = database
        self._key = key

    def token_hash(self, token: str) -> str:
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()

    async def create(self, user_id: int) -> str:
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)

        def write(db: sqlite_utils.Database) -> None:
            db.execute(
                "insert into admin_sessions (token_hash, user_id, created_at, last_seen_at, expires_at) "
                "values (?, ?, ?, ?, ?)",
                [self.token_hash(token), user_id, _iso(now), _iso(now), _iso(now + ABSOLUTE)],
            )
            db.execute("update users set last_login_at = ?, failed_logins = 0 where id = ?", [_iso(now), user_id])
            # Old, expired sessions of anyone are swept here rather than by a timer.
            db.execute("delete from admin_sessions where expires_at < ?", [_iso(now)])

        await self.database.write(write)
        return token

    async def lookup(self, token: str, *, touch: bool = True) -> tuple[User | None, bool]:
        """The user of a live session, and whether the token named a session that has expired.

        ``touch=False`` (background polling) checks the session without counting as activity,
        so a queue left open on a shared computer still signs out when idle.
        """
        row = await self.database.query_one(
            "select s.id as sid, s.last_seen_at, s.expires_at, u.id, u.username, u.role, u.languages, "
            "u.brand_id, u.active, u.ui_language from admin_sessions s join users u on u.id = s.user_id "
            "where s.token_hash = ?",
            [self.token_hash(token)],
        )
        if row is None:
            return None, False
        now = datetime.now(UTC)
        last_seen = _parse(row["last_seen_at"])
        if not row["active"] or now >= _parse(row["expires_at"]) or now - last_seen >= IDLE:
            await self.database.execute_write("delete from admin_sessions where id = ?", [row["sid"]])
            return None, True
        if touch and now - last_seen >= TOUCH_EVERY:
            await self.database.execute_write(
                "update admin_sessions set last_seen_at = ? where id = ?", [_iso(now), row["sid"]]
            )
        return user_from_row(row), False

    async def end(self, token: str) -> None:
        await self.database.execute_write("delete from admin_sessions where token_hash = ?", [self.token_hash(token)])


def end_all_for_user(db: sqlite_utils.Database, user_id: int) -> None:
    """Inside a writer function: sign a user out everywhere (deactivation, password reset)."""
    db.execute("delete from admin_sessions where user_id = ?", [user_id])


def user_from_row(row: dict[str, Any]) -> User:
    languages = tuple(code for code in (row.get("languages") or "").split(",") if code)
    return User(
        id=row["id"],
        username=row["username"],
        role=row["role"],
        languages=languages,
        brand_id=row.get("brand_id"),
        ui_language=row.get("ui_language") or "en",
    )
