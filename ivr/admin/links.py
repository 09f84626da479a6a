"""One-time set-password links: how an account's owner chooses its password.

A link is ``/set-password/<token>``; only a keyed hash of the token is stored, it expires after
:data:`LIFETIME`, works once, and a newer link for the same account replaces it. For a case-reading
account only a supervisor can make one (on /approvals), so the admin who created or reset the
account never learns a password that reads cases. Writer functions, except :func:`new_token`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

import sqlite_utils

from ivr.admin import limits
from ivr.admin.sessions import end_all_for_user
from ivr.admin.users import UserError
from ivr.words import N_

LIFETIME = timedelta(hours=72)
PATH = "/set-password/"
_FMT = "%Y-%m-%dT%H:%M:%S.%fZ"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(key: bytes, token: str) -> str:
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def issue(db: sqlite_utils.Database, key: bytes, user_id: int, created_by: int | None, token: str,
          now: datetime | None = None) -> str:
    """Store a link for ``user_id`` (replacing any unused one) and return its expiry time."""
    now = now or datetime.now(UTC)
    expires = (now + LIFETIME).strftime(_FMT)
    db.execute("delete from password_links where user_id = ? and used_at is null", [user_id])
    db.execute(
        "insert into password_links (user_id, token_hash, created_by, created_at, expires_at) values (?, ?, ?, ?, ?)",
        [user_id, token_hash(key, token), created_by, now.strftime(_FMT), expires],
    )
    return expires


def find(db: sqlite_utils.Database, key: bytes, token: str, now: datetime | None = None) -> dict[str, object] | None:
    """The account a live link belongs to (id, username), or None when unknown, used or expired."""
    now = now or datetime.now(UTC)
    rows = db.execute(
        "select u.id, u.username from password_links l join users u on u.id = l.user_id "
        "where l.token_hash = ? and l.used_at is null and l.expires_at > ? and u.active = 1",
        [token_hash(key, token), now.strftime(_FMT)],
    ).fetchall()
    return {"id": int(rows[0][0]), "username": str(rows[0][1])} if rows else None


def use(db: sqlite_utils.Database, key: bytes, token: str, hashed: str, now: datetime | None = None) -> int:
    """Set the password through a live link, which then no longer works; returns the user id."""
    now = now or datetime.now(UTC)
    found = find(db, key, token, now)
    if found is None:
        raise UserError(N_("This link has expired or was already used. Ask a supervisor for a new one."))
    user_id = int(str(found["id"]))
    db.execute("update users set password_hash = ? where id = ?", [hashed, user_id])
    db.execute("update password_links set used_at = ? where token_hash = ?",
               [now.strftime(_FMT), token_hash(key, token)])
    end_all_for_user(db, user_id)
    limits.clear_user(db, str(found["username"]))
    return user_id


def pending(db: sqlite_utils.Database, now: datetime | None = None) -> list[dict[str, object]]:
    """Live, unused links (never their tokens) for the supervisors' page."""
    now = now or datetime.now(UTC)
    cursor = db.execute(
        "select u.username, l.created_at, l.expires_at from password_links l join users u on u.id = l.user_id "
        "where l.used_at is null and l.expires_at > ? order by l.created_at", [now.strftime(_FMT)])
    return [dict(zip(("username", "created_at", "expires_at"), r, strict=True)) for r in cursor.fetchall()]
