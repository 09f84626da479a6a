"""Reading one case for its page, and the changes a caseworker makes to it.

Reads take a ``sqlite_utils.Database`` (run them with ``Database.read``); changes
are writer functions (run them with ``Database.write``) that record themselves in
the audit log in the same transaction.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from ivr.admin.keys import User
from ivr.cases import CATEGORIES, STATUS_LABELS, lifecycle
from ivr.db import utcnow
from ivr.words import N_, ShownError, Words

# Words the recogniser was less sure of than this are shaded for a human to check.
LOW_CONFIDENCE = 0.6
MAX_TEXT = 20_000


class Conflict(ShownError):
    """Someone else saved first; nothing was written. ``current`` is what they saved."""

    def __init__(self, message: Words, current: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.current = current


class Refused(ShownError, ValueError):
    """The change is not allowed or not valid; the message says why in plain words (marked with N_())."""


# The two kinds of text a person types for a recording, as the conflict message names them.
TEXT_KINDS = {"transcript": N_("transcript"), "translation": N_("translation")}


def can_see(user: User, case: dict[str, Any]) -> bool:
    if user.role == "supervisor":
        return True
    if user.role != "caseworker":
        return False
    if case["assignee_id"] == user.id:
        return True
    return case["assignee_id"] is None and user.speaks(case["language"])


def get_case(db: sqlite_utils.Database, case_id: int) -> dict[str, Any] | None:
    rows = list(db.query(
        "select c.*, u.username as assignee from cases c left join users u on u.id = c.assignee_id where c.id = ?",
        [case_id],
    ))
    return rows[0] if rows else None


def words_view(words_json: str, text: str) -> list[dict[str, Any]]:
    """The transcript as words with a ``low`` flag; plain words when there is no timing data."""
    try:
        words = json.loads(words_json or "[]")
    except ValueError:
        words = []
    if not isinstance(words, list) or not words:
        return [{"word": w, "low": False} for w in text.split()]
    out = []
    for w in words:
        if not isinstance(w, dict) or "word" not in w:
            continue
        conf = w.get("conf")
        out.append({"word": str(w["word"]), "low": isinstance(conf, int | float) and conf < LOW_CONFIDENCE,
                    "conf": conf, "start": w.get("start")})
    return out


def case_page_data(db: sqlite_utils.Database, case: dict[str, Any]) -> dict[str, Any]:
    """Everything the case page shows besides the case row, in one read."""
    case_id = case["id"]
    calls = list(db.query(
        "select id, started_at, ended_at, duration_s, language, outcome, menu_choice from calls "
        "where case_id = ? or id = ? order by started_at", [case_id, case["source_call_id"]],
    ))
    steps: dict[str, list[dict[str, Any]]] = {c["id"]: [] for c in calls}
    if calls:
        marks = ", ".join("?" for _ in calls)
        for s in db.query(
            f"select call_id, seq, at, node, action, input, category from call_steps where call_id in ({marks}) "
            "order by call_id, seq", [c["id"] for c in calls],
        ):
            steps[s["call_id"]].append(s)
    recordings = list(db.query(
        "select r.id, r.call_id, r.kind, r.state, r.duration_s, r.created_at, r.path, u.username as author "
        "from recordings r left join users u on u.id = r.created_by where r.case_id = ? order by r.created_at",
        [case_id],
    ))
    versions: dict[tuple[int, str], list[dict[str, Any]]] = {}
    if recordings:
        marks = ", ".join("?" for _ in recordings)
        for t in db.query(
            "select t.id, t.recording_id, t.kind, t.engine, t.language, t.text, t.words, t.confidence, t.version, "
            f"t.created_at, u.username as author from transcripts t left join users u on u.id = t.author_id "
            f"where t.recording_id in ({marks}) order by t.version desc", [r["id"] for r in recordings],
        ):
            versions.setdefault((t["recording_id"], t["kind"]), []).append(t)
    for r in recordings:
        for kind in ("transcript", "translation"):
            history = versions.get((r["id"], kind), [])
            latest = history[0] if history else None
            r[kind] = latest
            r[kind + "_history"] = history
            r[kind + "_version"] = latest["version"] if latest else 0
        if r["transcript"]:
            r["words"] = words_view(r["transcript"]["words"], r["transcript"]["text"])
    notes = list(db.query(
        "select n.body, n.created_at, u.username as author from case_notes n left join users u on u.id = n.author_id "
        "where n.case_id = ? order by n.created_at", [case_id],
    ))
    try:
        suggested = [c for c in json.loads(case["categories_suggested"] or "[]") if c in CATEGORIES]
    except ValueError:
        suggested = []
    return {"calls": calls, "steps": steps, "recordings": recordings, "notes": notes, "suggested": suggested}


# -- changes (the case's own rules and its writes are ivr.cases.lifecycle's) --------------------------


def save_transcript(db: sqlite_utils.Database, user: User, case: dict[str, Any], recording_id: int, kind: str,
                    base_version: int, text: str) -> int:
    """Add a human version. ``base_version`` is the version the editor started from; if someone saved
    after it, :class:`Conflict` carries their version and nothing is written."""
    if kind not in ("transcript", "translation"):
        raise Refused(N_("Choose transcript or translation."))
    if len(text) > MAX_TEXT:
        raise Refused(N_("The text is too long (more than %(n)s characters)."), n=MAX_TEXT)
    rec = db.execute("select id from recordings where id = ? and case_id = ?", [recording_id, case["id"]]).fetchone()
    if rec is None:
        raise Refused(N_("That recording is not part of this case."))
    rows = list(db.query(
        "select t.version, t.text, t.created_at, u.username as author from transcripts t "
        "left join users u on u.id = t.author_id where t.recording_id = ? and t.kind = ? "
        "order by t.version desc limit 1", [recording_id, kind],
    ))
    current = rows[0]["version"] if rows else 0
    if current != base_version:
        kind_words = Words(TEXT_KINDS[kind])
        message = (Words(N_("%(who)s saved a newer %(kind)s while you were editing."), who=rows[0]["author"],
                         kind=kind_words) if rows[0]["author"]
                   else Words(N_("The transcription engine saved a newer %(kind)s while you were editing."),
                              kind=kind_words))
        raise Conflict(message, rows[0] if rows else None)
    version = current + 1
    db.execute(
        "insert into transcripts (recording_id, kind, engine, language, text, words, version, author_id, created_at) "
        "values (?, ?, 'human', ?, ?, '[]', ?, ?, ?)",
        [recording_id, kind, case["language"] if kind == "transcript" else "en", text, version, user.id, utcnow()],
    )
    lifecycle.transcript_edited(db, case["id"], recording_id=recording_id, kind=kind, version=version, by=user)
    return version


def _case_version(db: sqlite_utils.Database, case_id: int, seen: int) -> dict[str, Any]:
    row = get_case(db, case_id)
    if row is None:
        raise Refused(N_("This case no longer exists."))
    if row["version"] != seen:
        raise Conflict(Words(N_("Someone else changed this case while you had it open. Look at the page again and "
                                 "retry.")))
    return row


def _status_words(status: str) -> Words | str:
    """A status as its label in the reader's language; an unknown one (typed into a form) as it came."""
    return Words(STATUS_LABELS[status]) if status in STATUS_LABELS else status.replace("_", " ")


def change_status(db: sqlite_utils.Database, user: User, case_id: int, seen_version: int, new: str) -> None:
    row = _case_version(db, case_id, seen_version)
    try:
        lifecycle.move_status(db, case_id, new, by=user)
    except lifecycle.TransitionRefused:
        raise Refused(N_("A case that is “%(before)s” cannot move to “%(after)s”."),
                      before=_status_words(row["status"]), after=_status_words(new)) from None


def assign(db: sqlite_utils.Database, user: User, case_id: int, seen_version: int, assignee_id: int | None) -> None:
    row = _case_version(db, case_id, seen_version)
    if user.role != "supervisor":
        # A caseworker may take an unassigned case, or hand their own back.
        if not ((assignee_id == user.id and row["assignee_id"] is None)
                or (assignee_id is None and row["assignee_id"] == user.id)):
            raise Refused(N_("Only a supervisor can assign a case to someone else."))
    if assignee_id is not None:
        target = db.execute(
            "select 1 from users where id = ? and active = 1 and role in ('caseworker', 'supervisor')", [assignee_id]
        ).fetchone()
        if target is None:
            raise Refused(N_("That person cannot take cases."))
    lifecycle.assign(db, case_id, assignee_id, by=user)


def add_note(db: sqlite_utils.Database, user: User, case_id: int, body: str) -> None:
    body = body.strip()
    if not body:
        raise Refused(N_("The note is empty."))
    if len(body) > MAX_TEXT:
        raise Refused(N_("The note is too long (more than %(n)s characters)."), n=MAX_TEXT)
    lifecycle.add_note(db, case_id, body, by=user)


def confirm_category(db: sqlite_utils.Database, user: User, case_id: int, category: str) -> None:
    if category not in CATEGORIES:
        raise Refused(N_("Choose a problem from the list."))
    lifecycle.set_category(db, case_id, category, by=user)
