"""Call-back requests: the one case where the caller's number is kept, sealed, for a while.

The caller asks to be called back and picks a safe time window. The number is sealed with
:class:`ivr.protection.caller.NumberVault` and kept until the call-back is marked done or
``delete_after`` (consent + ``settings.callback_number_days``) passes, whichever is first.
Only the caseworker the case is assigned to can reveal it, giving a reason; each reveal is
an audit row (``callback.reveal``). Every function here runs inside a write transaction
(a function given to ``Database.write``) so the audit row and the change commit together.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlite_utils

from ivr.cases import lifecycle
from ivr.db import utcnow
from ivr.protection import audit
from ivr.protection.caller import NumberVault
from ivr.protection.times import stamp
from ivr.words import N_, ShownError

log = logging.getLogger(__name__)

MIN_REASON = 5
# Roles that may close a call-back (and so destroy the number) besides the assignee.
CLOSERS = frozenset({"supervisor"})


class Actor(lifecycle.Actor, Protocol):
    """A signed-in user with a role (``ivr.admin.keys.User`` fits)."""

    @property
    def role(self) -> str: ...


class CallbackError(ShownError):
    """The call-back cannot be used as asked; the message is fit to show the user."""


class NotAllowed(CallbackError):
    pass


class NumberGone(CallbackError):
    pass


class ReasonRequired(CallbackError):
    pass


def request(
    db: sqlite_utils.Database,
    vault: NumberVault,
    *,
    case_id: int,
    call_id: str | None,
    number: str,
    window: str,
    keep_days: int,
    now: datetime | None = None,
) -> int:
    """Keep ``number`` sealed for a call-back on ``case_id``; returns the callback id.

    ``keep_days`` is ``settings.callback_number_days``; ``window`` is the time the caller
    chose (a menu value such as "evening"), shown to the caseworker.
    """
    moment = now or datetime.now(UTC)
    cursor = db.execute(
        "insert into callbacks (case_id, call_id, number_encrypted, window, state, consent_at, delete_after,"
        " created_at) values (?, ?, ?, ?, 'requested', ?, ?, ?)",
        [case_id, call_id, vault.seal(number), window, stamp(moment),
         stamp(moment + timedelta(days=keep_days)), stamp(moment)],
    )
    callback_id = int(cursor.lastrowid or 0)
    lifecycle.callback_requested(db, case_id, at=stamp(moment), callback_id=callback_id, window=window)
    log.info("case=%s callback=%s requested", case_id, callback_id)
    return callback_id


def _load(db: sqlite_utils.Database, callback_id: int) -> dict[str, Any]:
    rows = list(db.query(
        "select callbacks.*, cases.assignee_id from callbacks left join cases on cases.id = callbacks.case_id"
        " where callbacks.id = ?", [callback_id],
    ))
    if not rows:
        raise CallbackError(N_("call-back %(n)s does not exist"), n=callback_id)
    return rows[0]


def reveal(db: sqlite_utils.Database, vault: NumberVault, callback_id: int, user: Actor, reason: str) -> str:
    """The caller's number, for the assigned caseworker only, with the reveal and its reason logged."""
    row = _load(db, callback_id)
    if row["assignee_id"] is None or row["assignee_id"] != user.id:
        raise NotAllowed(N_("Only the caseworker assigned to this case can see the number."))
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON:
        raise ReasonRequired(N_("Say why you need the number (for example: calling back now, in the chosen "
                                "window)."))
    if row["number_encrypted"] is None or row["state"] != "requested":
        raise NumberGone(N_("The number has been deleted (call-back done or expired)."))
    number = vault.open(row["number_encrypted"])
    audit.append(db, action="callback.reveal", user_id=user.id, username=user.username, object_type="case",
                 object_id=row["case_id"], detail={"callback_id": callback_id, "reason": reason})
    log.info("case=%s callback=%s revealed to user=%s", row["case_id"], callback_id, user.id)
    return number


def mark_done(db: sqlite_utils.Database, callback_id: int, user: Actor) -> None:
    """Close the call-back and delete the number (the assignee, or a supervisor)."""
    row = _load(db, callback_id)
    if row["assignee_id"] != user.id and user.role not in CLOSERS:
        raise NotAllowed(N_("Only the assigned caseworker or a supervisor can close this call-back."))
    if row["state"] != "requested":
        raise NumberGone(N_("This call-back is already closed."))
    now = utcnow()
    db.execute(
        "update callbacks set number_encrypted = null, state = 'done', done_at = ? where id = ?", [now, callback_id]
    )
    audit.append(db, action="callback.done", user_id=user.id, username=user.username, object_type="case",
                 object_id=row["case_id"], detail={"callback_id": callback_id})
    log.info("case=%s callback=%s done by user=%s; number deleted", row["case_id"], callback_id, user.id)


def due_for_expiry(db: sqlite_utils.Database, now: datetime | None = None) -> list[int]:
    """Ids of call-backs whose number is past ``delete_after``."""
    cutoff = stamp(now or datetime.now(UTC))
    return [int(r[0]) for r in db.execute(
        "select id from callbacks where number_encrypted is not null and delete_after <= ? order by id", [cutoff]
    ).fetchall()]


def expire(db: sqlite_utils.Database, now: datetime | None = None) -> list[int]:
    """Delete numbers past ``delete_after``; returns the call-backs expired."""
    ids = due_for_expiry(db, now)
    for callback_id in ids:
        db.execute(
            "update callbacks set number_encrypted = null,"
            " state = case state when 'requested' then 'expired' else state end where id = ?",
            [callback_id],
        )
    if ids:
        log.info("expired %d call-back numbers", len(ids))
    return ids


def for_case(db: sqlite_utils.Database, case_id: int) -> list[dict[str, Any]]:
    """The case's call-backs for display: window, state, dates, and whether a number is held (never the number)."""
    return [
        {**{k: r[k] for k in ("id", "window", "state", "consent_at", "delete_after", "done_at")},
         "has_number": r["number_encrypted"] is not None}
        for r in db.query("select * from callbacks where case_id = ? order by id", [case_id])
    ]
