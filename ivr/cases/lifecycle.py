"""Every change to a case: the only module that writes ``cases`` and ``case_notes``.

Each operation is one function on a ``sqlite_utils.Database`` that runs inside the caller's
writer transaction (``await database.write(fn)``). It checks the rule that applies (the status
workflow in :data:`ivr.cases.TRANSITIONS`, a known category, an existing case), stamps the
times, writes one audit row per case it changed (ivr.protection.audit), and returns what changed.

Every row names who made the change: a user, or one of the :data:`SYSTEM` actors (the engine
opening a case from a call, transcription flagging it...), stored as ``(engine)`` the way the
command line is ``(cli)``, which no username can be. The details are ids, keys and counts, never
a number, a case code, a name or the caller's words. The case page's activity panel
(ivr.admin.history) reads them back as sentences in the reader's language.

The engine, the web UI, transcription, on-call, protection, retention and the supply chain call
these; ``tests/test_case_writes.py`` fails if any other module writes those tables.

Permission checks and the words a person reads stay with the caller (the web UI decides who may
assign whom); the rules about the case itself live here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlite_utils

from ivr.cases import CATEGORIES, PRIORITY_EMERGENCY, PRIORITY_HIGH, PRIORITY_NORMAL, STATUSES, can_move
from ivr.db import utcnow
from ivr.protection import audit

# The time column a status stamps the first time the case reaches it.
STATUS_STAMPS: dict[str, str] = {"acknowledged": "acknowledged_at", "resolved": "resolved_at", "closed": "closed_at"}


# Who changes a case when no person does (the audit row's username is "(engine)" and so on).
SYSTEM = ("engine", "fallback", "transcription", "registry", "retention", "demo")


class Actor(Protocol):
    """Who made a change (``ivr.admin.keys.User`` fits)."""

    @property
    def id(self) -> int: ...
    @property
    def username(self) -> str: ...


class CaseError(ValueError):
    """The change breaks a rule of the case; nothing was written."""


class NoSuchCase(CaseError):
    pass


class TransitionRefused(CaseError):
    """The status workflow does not allow this move."""

    def __init__(self, current: str, new: str) -> None:
        super().__init__(f"a case that is {current!r} cannot move to {new!r}")
        self.current, self.new = current, new


@dataclass(frozen=True)
class Change:
    """What one operation changed on one case: column -> new value (empty when nothing did)."""

    case_id: int
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.fields)


By = Actor | str  # a user, or a name from SYSTEM


def system_username(name: str) -> str:
    """How a system actor is named in the audit log: ``(engine)``."""
    if name not in SYSTEM:
        raise ValueError(f"{name!r} is not a system actor ({', '.join(SYSTEM)})")
    return f"({name})"


def _record(db: sqlite_utils.Database, by: By | None, action: str, case_id: int,
            detail: Mapping[str, Any] | None = None) -> None:
    user_id: int | None = None
    username: str | None = None
    if isinstance(by, str):
        username = system_username(by)
    elif by is not None:
        user_id, username = by.id, by.username
    audit.append(db, action=action, user_id=user_id, username=username, object_type="case", object_id=case_id,
                 detail=detail)


def _touch(db: sqlite_utils.Database, case_id: int) -> str:
    now = utcnow()
    db.execute("update cases set updated_at = ?, version = version + 1 where id = ?", [now, case_id])
    return now


def _status(db: sqlite_utils.Database, case_id: int) -> str:
    row = db.execute("select status from cases where id = ?", [case_id]).fetchone()
    if row is None:
        raise NoSuchCase(f"there is no case {case_id}")
    return str(row[0])


# -- opening -------------------------------------------------------------------------------------------------

def open_case(
    db: sqlite_utils.Database, *, call_id: str | None, caller_ref: str | None, language: str | None,
    category: str | None, workplace_code: str | None, workplace_id: int | None,
    code_hash: str | None, code_tag: str | None, emergency: bool = False, priority: int | None = None,
    callback: bool = False, by: By = "engine", source: str = "call",
) -> int:
    """A new case from a call (linked to the call row) or, with ``call_id`` None, from elsewhere.

    A caller-keyed ``workplace_code`` that an active workplace of the registry has links the case to it at
    once, unconfirmed, on record as the registry's link (a workplace registered later links it then:
    :func:`link_unlinked_to_workplaces`).
    """
    now = utcnow()
    from_code = _active_workplace(db, workplace_code) if workplace_id is None else None
    workplace_id = workplace_id if from_code is None else from_code
    if priority is None:
        priority = PRIORITY_EMERGENCY if emergency else PRIORITY_NORMAL
    cur = db.execute(
        "insert into cases (category, priority, language, workplace_code, workplace_id, caller_ref, source_call_id,"
        " code_hash, code_tag, emergency, callback_requested, created_at, updated_at)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [category if category in CATEGORIES else None, priority, language, workplace_code, workplace_id,
         caller_ref, call_id, code_hash, code_tag, int(emergency), int(callback), now, now],
    )
    case_id = int(cur.lastrowid or 0)
    if call_id is not None:
        db.execute("update calls set case_id = ? where id = ?", [case_id, call_id])
    _record(db, by, "case.open", case_id, {"source": source, "call": call_id, "emergency": emergency,
                                           "callback": callback, "workplace_id": workplace_id,
                                           "category": category if category in CATEGORIES else None})
    if from_code is not None:
        _record(db, "registry", "case.workplace", case_id, {"workplace_id": from_code, "confirmed": False})
    return case_id


def _active_workplace(db: sqlite_utils.Database, code: str | None) -> int | None:
    """The active workplace a caller's code names (codes are unique in the registry), or None."""
    if not code:
        return None
    row = db.execute("select id from workplaces where code = ? and active = 1", [code]).fetchone()
    return None if row is None else int(row[0])


def store_code_hash(db: sqlite_utils.Database, case_id: int, code_hash: str) -> Change:
    """The slow hash of the case's code, computed after the case was opened (the caller heard no wait for it).

    Only a case still without one takes it: a second hash of the same code (a resumed call and the orphan
    sweep both finishing it) verifies the same code, and the first one stays.
    """
    cur = db.execute("update cases set code_hash = ? where id = ? and code_hash is null", [code_hash, case_id])
    return Change(case_id, {"code_hash": code_hash} if cur.rowcount else {})


def open_fallback_case(db: sqlite_utils.Database, *, language: str | None) -> int:
    """A case for a voicemail the dialplan recorded while the engine was away: no call, no code."""
    return open_case(db, call_id=None, caller_ref=None, language=language, category=None, workplace_code=None,
                     workplace_id=None, code_hash=None, code_tag=None, by="fallback", source="fallback")


def open_past_case(db: sqlite_utils.Database, *, language: str, category: str, workplace_id: int | None,
                   at: str) -> int:
    """A case that was opened and closed at ``at``, confirmed at a workplace (the demo's year of reports)."""
    cur = db.execute(
        "insert into cases (language, priority, status, category, workplace_id, workplace_confirmed, "
        "created_at, updated_at) values (?, ?, 'closed', ?, ?, 1, ?, ?)",
        [language, PRIORITY_NORMAL, category, workplace_id, at, at])
    case_id = int(cur.lastrowid or 0)
    _record(db, "demo", "case.open", case_id, {"source": "demo", "category": category, "closed_at": at})
    return case_id


def follow_up(db: sqlite_utils.Database, case_id: int, *, by: By = "engine") -> Change:
    """The caller added to their case on a later call: bump it, and reopen it if it was finished."""
    row = db.execute("select status from cases where id = ?", [case_id]).fetchone()
    if row is None:
        return Change(case_id)
    before = status = row[0]
    if status in ("resolved", "closed") and can_move(status, "in_progress"):
        status = "in_progress"
    now = utcnow()
    db.execute("update cases set status = ?, updated_at = ?, version = version + 1 where id = ?",
               [status, now, case_id])
    _record(db, by, "case.followup", case_id, {"from": before, "to": status})
    return Change(case_id, {"status": status, "updated_at": now})


# -- a caseworker's decisions ----------------------------------------------------------------------------------

def move_status(db: sqlite_utils.Database, case_id: int, new: str, *, by: Actor | None,
                audit_action: str | None = "case.status") -> Change:
    """Move along the workflow, stamping the status's time the first time it is reached.

    ``audit_action`` None: the caller writes its own audit row for the same decision (an on-call
    acknowledgement records who answered the phone).
    """
    current = _status(db, case_id)
    if new not in STATUSES or not can_move(current, new):
        raise TransitionRefused(current, new)
    now = utcnow()
    stamp = STATUS_STAMPS.get(new)
    extra = f", {stamp} = coalesce({stamp}, ?)" if stamp else ""
    db.execute(f"update cases set status = ?{extra}, updated_at = ?, version = version + 1 where id = ?",
               [new, *([now] if stamp else []), now, case_id])
    if audit_action:
        _record(db, by, audit_action, case_id, {"from": current, "to": new})
    return Change(case_id, {"status": new, "updated_at": now})


def assign(db: sqlite_utils.Database, case_id: int, assignee_id: int | None, *, by: Actor | None) -> Change:
    row = db.execute("select assignee_id from cases where id = ?", [case_id]).fetchone()
    if row is None:
        raise NoSuchCase(f"there is no case {case_id}")
    db.execute("update cases set assignee_id = ? where id = ?", [assignee_id, case_id])
    now = _touch(db, case_id)
    _record(db, by, "case.assign", case_id, {"from": row[0], "to": assignee_id})
    return Change(case_id, {"assignee_id": assignee_id, "updated_at": now})


def set_category(db: sqlite_utils.Database, case_id: int, category: str, *, by: Actor | None) -> Change:
    if category not in CATEGORIES:
        raise CaseError(f"unknown category {category!r}")
    db.execute("update cases set category = ? where id = ?", [category, case_id])
    now = _touch(db, case_id)
    _record(db, by, "case.category", case_id, {"category": category})
    return Change(case_id, {"category": category, "updated_at": now})


def add_note(db: sqlite_utils.Database, case_id: int, body: str, *, by: Actor) -> Change:
    db.execute("insert into case_notes (case_id, author_id, body, created_at) values (?, ?, ?, ?)",
               [case_id, by.id, body, utcnow()])
    now = _touch(db, case_id)
    _record(db, by, "case.note", case_id)
    return Change(case_id, {"updated_at": now})


def transcript_edited(db: sqlite_utils.Database, case_id: int, *, recording_id: int, kind: str, version: int,
                      by: Actor) -> Change:
    """A person saved a transcript or translation version: a human transcript clears the flag asking for one."""
    fields: dict[str, Any] = {}
    if kind == "transcript":
        db.execute("update cases set needs_human_transcript = 0 where id = ?", [case_id])
        fields["needs_human_transcript"] = 0
    fields["updated_at"] = _touch(db, case_id)
    _record(db, by, "transcript.edit", case_id, {"recording_id": recording_id, "kind": kind, "version": version})
    return Change(case_id, fields)


def attach_reply(db: sqlite_utils.Database, case_id: int, *, path: str, duration_s: float, size: int, sha256: str,
                 by: Actor) -> int:
    """Store a caseworker's recorded reply on the case (the caller hears the newest); returns the recording id."""
    cursor = db.execute(
        "insert into recordings (case_id, kind, path, format, duration_s, size_bytes, sha256, state, "
        "created_at, created_by) values (?, 'reply', ?, 'wav', ?, ?, ?, 'stored', ?, ?)",
        [case_id, path, duration_s, size, sha256, utcnow(), by.id],
    )
    recording_id = int(cursor.lastrowid or 0)
    _touch(db, case_id)
    _record(db, by, "reply.save", case_id, {"recording_id": recording_id})
    return recording_id


# -- what the machine noticed -----------------------------------------------------------------------------------

def needs_human_transcript(db: sqlite_utils.Database, case_id: int, *, by: By = "transcription") -> Change:
    """The recogniser could not transcribe a message well: a person should (recorded once, when it changes)."""
    now = utcnow()
    cur = db.execute("update cases set needs_human_transcript = 1, version = version + 1, updated_at = ? "
                     "where id = ? and needs_human_transcript = 0", [now, case_id])
    if not cur.rowcount:
        return Change(case_id)
    _record(db, by, "case.needs_transcript", case_id)
    return Change(case_id, {"needs_human_transcript": 1, "updated_at": now})


def suggest_categories(db: sqlite_utils.Database, case_id: int, categories: Iterable[str], *,
                       by: By = "transcription") -> Change:
    """Add suggestions from the caller's words (the caseworker confirms them) and raise the priority to high."""
    row = db.execute("select categories_suggested from cases where id = ?", [case_id]).fetchone()
    if row is None:
        return Change(case_id)
    try:
        current = [c for c in json.loads(row[0] or "[]") if isinstance(c, str)]
    except ValueError:
        current = []
    added = list(dict.fromkeys(c for c in categories if c not in current))
    merged = current + added
    now = utcnow()
    db.execute(
        "update cases set categories_suggested = ?, priority = max(priority, ?), version = version + 1, "
        "updated_at = ? where id = ?", [json.dumps(merged), PRIORITY_HIGH, now, case_id])
    # The category keys only (wages, documents...): never the words that matched.
    _record(db, by, "case.suggest", case_id, {"categories": added})
    return Change(case_id, {"categories_suggested": merged, "updated_at": now})


def emergency_from_words(db: sqlite_utils.Database, case_id: int, *, by: By = "transcription") -> Change:
    """The caller's words say they are in danger now: the case becomes an emergency (once), and the
    engine's escalation service (ivr/oncall) rings the on-call rota at its next look (seconds)."""
    row = db.execute("select emergency from cases where id = ?", [case_id]).fetchone()
    if row is None or row[0]:
        return Change(case_id)
    now = utcnow()
    db.execute("update cases set emergency = 1, priority = ?, version = version + 1, updated_at = ? where id = ?",
               [PRIORITY_EMERGENCY, now, case_id])
    _record(db, by, "alert.keywords", case_id, {"source": "transcript"})
    return Change(case_id, {"emergency": 1, "priority": PRIORITY_EMERGENCY, "updated_at": now})


def emergency_from_call(db: sqlite_utils.Database, case_id: int, *, reason: str, call_id: str,
                        by: By = "engine") -> Change:
    """The caller asked for help in an emergency during the call: every such alert is logged with its reason.

    ``updated_at`` is left as it is: the case was opened moments ago in this call.
    """
    db.execute("update cases set emergency = 1, priority = ?, updated_at = updated_at where id = ?",
               [PRIORITY_EMERGENCY, case_id])
    _record(db, by, "alert.emergency", case_id, {"reason": reason, "call": call_id})
    return Change(case_id, {"emergency": 1, "priority": PRIORITY_EMERGENCY})


def callback_requested(db: sqlite_utils.Database, case_id: int, *, at: str, callback_id: int, window: str | None,
                       by: By = "engine") -> Change:
    """The caller agreed to be called back (the sealed number is in ``callbacks``, ivr.protection.callbacks)."""
    db.execute("update cases set callback_requested = 1, updated_at = ? where id = ?", [at, case_id])
    _record(db, by, "callback.request", case_id, {"callback_id": callback_id, "window": window})
    return Change(case_id, {"callback_requested": 1, "updated_at": at})


# -- the workplace -------------------------------------------------------------------------------------------

def link_workplace_from_code(db: sqlite_utils.Database, case_id: int,
                             lookup: Callable[[str | None], int | None], *, by: By = "registry") -> int | None:
    """Link the case to the workplace its caller keyed in (``lookup`` finds it), unconfirmed, unless a
    caseworker already decided. Returns the workplace id linked (None when the code matches nothing)."""
    row = db.execute("select workplace_code, workplace_confirmed from cases where id = ?", [case_id]).fetchone()
    if row is None or row[1]:
        return None
    workplace_id = lookup(row[0])
    if workplace_id is not None:
        db.execute("update cases set workplace_id = ?, updated_at = ? where id = ?", [workplace_id, utcnow(), case_id])
        _record(db, by, "case.workplace", case_id, {"workplace_id": workplace_id, "confirmed": False})
    return workplace_id


def link_unlinked_to_workplaces(db: sqlite_utils.Database, *, by: By = "registry") -> int:
    """Link every unconfirmed, unlinked case whose caller code matches an active workplace; return how many.

    The registry runs it whenever a workplace is added, imported or edited (its code or its being active
    may have changed), so a case keyed before its workplace was registered is linked then."""
    # The cases first, so each gets its own audit row (the case page shows the link).
    found = db.execute(
        """select c.id, min(w.id) from cases c join workplaces w on w.code = c.workplace_code and w.active = 1
           where c.workplace_id is null and c.workplace_confirmed = 0 and c.workplace_code is not null
           group by c.id order by c.id""").fetchall()
    now = utcnow()
    for case_id, workplace_id in found:
        db.execute("update cases set workplace_id = ?, updated_at = ? where id = ?", [workplace_id, now, case_id])
        _record(db, by, "case.workplace", case_id, {"workplace_id": workplace_id, "confirmed": False})
    return len(found)


def confirm_workplace(db: sqlite_utils.Database, case_id: int, workplace_id: int | None, *, by: By) -> Change:
    """A caseworker's decision: the case concerns this workplace (or none). Raises NoSuchCase."""
    now = utcnow()
    cur = db.execute(
        "update cases set workplace_id = ?, workplace_confirmed = 1, updated_at = ?, version = version + 1 "
        "where id = ?",
        [workplace_id, now, case_id],
    )
    if cur.rowcount == 0:
        raise NoSuchCase(f"there is no case {case_id}")
    _record(db, by, "case.workplace", case_id, {"workplace_id": workplace_id, "confirmed": True})
    return Change(case_id, {"workplace_id": workplace_id, "workplace_confirmed": 1, "updated_at": now})


# -- retention -----------------------------------------------------------------------------------------------

def anonymise(db: sqlite_utils.Database, case_ids: Iterable[int], *, by: By = "retention") -> int:
    """Forget who called about these cases (the caller reference); the report itself stays. Returns how many."""
    found = [int(r[0]) for r in db.execute(
        "select id from cases where caller_ref is not null and id in (select value from json_each(?)) order by id",
        [json.dumps(list(case_ids))]).fetchall()]
    db.execute("update cases set caller_ref = null where id in (select value from json_each(?))", [json.dumps(found)])
    for case_id in found:
        _record(db, by, "case.anonymise", case_id)
    return len(found)
