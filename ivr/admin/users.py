"""Web UI accounts: creating them, changing passwords and roles, approving, deactivating. Writer functions.

Admins manage accounts but must never be able to read cases, so they must never know a case
reader's password: an account with a case-reading role (:data:`CASE_ROLES`) created or moved to
such a role from the web UI or the CLI waits for a supervisor's approval
(``approved = 0`` / ``pending_role``), and its password is chosen by its owner through a one-time
link a supervisor hands over (:mod:`ivr.admin.links`). Code (the demo, tests, the first
supervisor's bootstrap) may create approved accounts directly.
"""

from __future__ import annotations

import re

import sqlite_utils

from ivr.admin import limits
from ivr.admin.passwords import WeakPassword, check_strength, hash_password
from ivr.admin.sessions import end_all_for_user
from ivr.db import utcnow
from ivr.words import N_, ShownError

ROLES = ("caseworker", "supervisor", "admin", "brand")
# Roles that read cases (the same as ivr.admin.auth.CASE_ROLES, which imports nothing from here).
CASE_ROLES = ("caseworker", "supervisor")
# password_hash of an account whose owner has not chosen a password yet: matches nothing.
NO_PASSWORD = ""
USERNAME = re.compile(r"^[A-Za-z0-9._-]{2,32}$")


class UserError(ShownError, ValueError):
    """A user could not be saved; the message says why in plain words."""


def password_hash(password: str, username: str) -> str:
    """Check the password's strength and hash it. Slow on purpose (argon2): call it outside the
    writer thread (``asyncio.to_thread`` in the web UI) and hand the writer only the hash."""
    try:
        check_strength(password, username)
    except WeakPassword as exc:
        raise UserError(exc.words) from None
    return hash_password(password)


def add_user(
    db: sqlite_utils.Database,
    username: str,
    hashed: str,
    role: str,
    languages: str = "",
    brand_id: int | None = None,
    *,
    approved: bool = True,
    requested_by: int | None = None,
) -> int:
    if not USERNAME.match(username):
        raise UserError(N_("A username has 2 to 32 letters, digits, dots, dashes or underscores."))
    if role not in ROLES:
        raise UserError(N_("The role must be one of: %(roles)s."), roles=", ".join(ROLES))
    _check_brand(db, role, brand_id)
    if db.execute("select 1 from users where username = ? collate nocase", [username]).fetchone():
        raise UserError(N_("There is already a user called %(name)s."), name=username)
    cursor = db.execute(
        "insert into users (username, password_hash, role, languages, brand_id, created_at, approved, requested_by) "
        "values (?, ?, ?, ?, ?, ?, ?, ?)",
        [username, hashed, role, languages, brand_id, utcnow(), int(approved), requested_by],
    )
    return int(cursor.lastrowid or 0)


def _check_brand(db: sqlite_utils.Database, role: str, brand_id: int | None) -> None:
    if role != "brand":
        return
    if brand_id is None:
        raise UserError(N_("A brand user needs the brand they belong to (--brand-id)."))
    if not db.execute("select 1 from brands where id = ?", [brand_id]).fetchall():
        raise UserError(N_("There is no brand number %(n)s. Add the brand under Workplaces first, then use the "
                           "number shown there."), n=brand_id)


def create_account(db: sqlite_utils.Database, username: str, role: str, languages: str = "",
                   brand_id: int | None = None, *, requested_by: int | None = None) -> int:
    """An account made from the web UI or the CLI: no password yet; a case reader also awaits approval."""
    return add_user(db, username, NO_PASSWORD, role, languages, brand_id,
                    approved=role not in CASE_ROLES, requested_by=requested_by)


def approve(db: sqlite_utils.Database, user_id: int) -> str:
    """A supervisor's approval of a new case-reading account or of a pending role change; returns the role."""
    rows = db.execute("select role, pending_role, approved from users where id = ? and active = 1",
                      [user_id]).fetchall()
    if not rows or (rows[0][2] and rows[0][1] is None):
        raise UserError(N_("There is nothing to approve for this account."))
    role = str(rows[0][1] or rows[0][0])
    db.execute("update users set approved = 1, role = ?, pending_role = null where id = ?", [role, user_id])
    if rows[0][1] is not None:
        # Whoever knew the old password (an admin who set it, say) must not read cases with it:
        # the account's owner chooses a new one through the link the approving supervisor gets.
        db.execute("update users set password_hash = ? where id = ?", [NO_PASSWORD, user_id])
    end_all_for_user(db, user_id)
    return role


def refuse(db: sqlite_utils.Database, user_id: int) -> None:
    """A supervisor's refusal: a pending role change is dropped; an unapproved new account is deactivated."""
    rows = db.execute("select approved, pending_role from users where id = ?", [user_id]).fetchall()
    if not rows or (rows[0][0] and rows[0][1] is None):
        raise UserError(N_("There is nothing to refuse for this account."))
    if rows[0][0]:
        db.execute("update users set pending_role = null where id = ?", [user_id])
    else:
        db.execute("update users set active = 0 where id = ?", [user_id])
        end_all_for_user(db, user_id)


def edit(db: sqlite_utils.Database, username: str, role: str, languages: str, brand_id: int | None,
         *, requested_by: int | None = None) -> tuple[int, bool]:
    """Change an account's role and languages; returns (user id, whether the role waits for approval).

    A move to a case-reading role (from another role) waits for a supervisor; the account keeps its
    old role until then. Any applied role change signs the user out, so their pages follow it.
    """
    if role not in ROLES:
        raise UserError(N_("The role must be one of: %(roles)s."), roles=", ".join(ROLES))
    _check_brand(db, role, brand_id)
    user_id = _user_id(db, username)
    current = str(db.execute("select role from users where id = ?", [user_id]).fetchall()[0][0])
    db.execute("update users set languages = ?, brand_id = ? where id = ?",
               [languages, brand_id if role == "brand" else None, user_id])
    if role == current:
        db.execute("update users set pending_role = null where id = ?", [user_id])
        return user_id, False
    if role in CASE_ROLES:
        db.execute("update users set pending_role = ?, requested_by = ? where id = ?", [role, requested_by, user_id])
        return user_id, True
    db.execute("update users set role = ?, pending_role = null where id = ?", [role, user_id])
    end_all_for_user(db, user_id)
    return user_id, False


def role_of(db: sqlite_utils.Database, username: str) -> str:
    return str(db.execute("select role from users where id = ?", [_user_id(db, username)]).fetchall()[0][0])


def first_supervisor_allowed(db: sqlite_utils.Database) -> bool:
    """True on a fresh install: no active, approved supervisor exists yet."""
    return not db.execute("select 1 from users where role = 'supervisor' and active = 1 and approved = 1 "
                          "and password_hash != ''").fetchall()


def _user_id(db: sqlite_utils.Database, username: str) -> int:
    row = db.execute("select id from users where username = ? collate nocase", [username]).fetchone()
    if row is None:
        raise UserError(N_("There is no user called %(name)s."), name=username)
    return int(row[0])


def set_password(db: sqlite_utils.Database, username: str, hashed: str) -> int:
    user_id = _user_id(db, username)
    db.execute(
        "update users set password_hash = ?, failed_logins = 0, locked_until = null where id = ?",
        [hashed, user_id],
    )
    end_all_for_user(db, user_id)
    limits.clear_user(db, username)
    return user_id


def reset(db: sqlite_utils.Database, username: str) -> int:
    """Forget the password (a set-password link then lets the owner choose a new one), sign the user out
    everywhere and lift any sign-in slow-down for the username."""
    return set_password(db, username, NO_PASSWORD)


def deactivate(db: sqlite_utils.Database, username: str) -> int:
    user_id = _user_id(db, username)
    db.execute("update users set active = 0 where id = ?", [user_id])
    end_all_for_user(db, user_id)
    return user_id
