"""Web UI accounts: creating them, changing passwords, deactivating. Writer functions."""

from __future__ import annotations

import re

import sqlite_utils

from ivr.admin.passwords import WeakPassword, check_strength, hash_password
from ivr.admin.sessions import end_all_for_user
from ivr.db import utcnow

ROLES = ("caseworker", "supervisor", "admin", "brand")
USERNAME = re.compile(r"^[A-Za-z0-9._-]{2,32}$")


class UserError(ValueError):
    """A user could not be saved; the message says why in plain words."""


def password_hash(password: str, username: str) -> str:
    """Check the password's strength and hash it. Slow on purpose (argon2): call it outside the
    writer thread (``asyncio.to_thread`` in the web UI) and hand the writer only the hash."""
    try:
        check_strength(password, username)
    except WeakPassword as exc:
        raise UserError(str(exc)) from None
    return hash_password(password)


def add_user(
    db: sqlite_utils.Database,
    username: str,
    hashed: str,
    role: str,
    languages: str = "",
    brand_id: int | None = None,
) -> int:
    if not USERNAME.match(username):
        raise UserError("A username has 2 to 32 letters, digits, dots, dashes or underscores.")
    if role not in ROLES:
        raise UserError(f"The role must be one of: {', '.join(ROLES)}.")
    if role == "brand" and brand_id is None:
        raise UserError("A brand user needs the brand they belong to (--brand-id).")
    if db.execute("select 1 from users where username = ? collate nocase", [username]).fetchone():
        raise UserError(f"There is already a user called {username}.")
    cursor = db.execute(
        "insert into users (username, password_hash, role, languages, brand_id, created_at) values (?, ?, ?, ?, ?, ?)",
        [username, hashed, role, languages, brand_id, utcnow()],
    )
    return int(cursor.lastrowid or 0)


def _user_id(db: sqlite_utils.Database, username: str) -> int:
    row = db.execute("select id from users where username = ? collate nocase", [username]).fetchone()
    if row is None:
        raise UserError(f"There is no user called {username}.")
    return int(row[0])


def set_password(db: sqlite_utils.Database, username: str, hashed: str) -> int:
    user_id = _user_id(db, username)
    db.execute(
        "update users set password_hash = ?, failed_logins = 0, locked_until = null where id = ?",
        [hashed, user_id],
    )
    end_all_for_user(db, user_id)
    return user_id


def deactivate(db: sqlite_utils.Database, username: str) -> int:
    user_id = _user_id(db, username)
    db.execute("update users set active = 0 where id = ?", [user_id])
    end_all_for_user(db, user_id)
    return user_id
