"""What happened to a case, and the admins' view of the whole log, both read from the audit log.

The audit log is the one record of who did what (ivr.protection.audit); this module only
reads it: the case page's activity panel, and the filters, pages and CSV of ``/audit``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from ivr.admin.params import parse_int
from ivr.cases import CATEGORIES, STATUS_LABELS
from ivr.languages import LANGUAGES
from ivr.words import N_, ShownError

# The case's own history: changes, and the two moments that reveal something.
CASE_ACTIONS = (
    "case.open", "case.followup", "case.status", "case.assign", "case.workplace", "case.category",
    "transcript.edit", "reply.save", "callback.request", "callback.reveal", "callback.done", "alert.emergency",
    "alert.keywords", "case.note", "case.needs_transcript", "case.suggest", "case.anonymise",
    "oncall.escalation", "oncall.acknowledged",
)

# Who changed a case when no person did (ivr.cases.lifecycle.SYSTEM, and the command line), in words.
SYSTEM_WHO = {
    "(engine)": N_("the hotline (during a call)"),
    "(fallback)": N_("the hotline (message kept while the engine was down)"),
    "(transcription)": N_("the hotline (transcription)"),
    "(registry)": N_("the hotline (workplace registry)"),
    "(retention)": N_("the hotline (retention)"),
    "(demo)": N_("the demo"),
    "(cli)": N_("the command line"),
}
PAGE_SIZE = 100


class AuditFilterError(ShownError, ValueError):
    """A filter value on /audit that does not parse; the message says what to fix."""


def _untranslated(message: str) -> str:
    return message


# What the other case actions say, in the catalog's words.
ACTION_WORDS = {
    "case.workplace": N_("Workplace confirmed or changed"),
    "alert.keywords": N_("Flagged as an emergency from the caller's words"),
    "case.needs_transcript": N_("The machine could not transcribe a message well: a person should"),
    "case.anonymise": N_("Who called was forgotten (the report stays)"),
    "oncall.escalation": N_("On-call staff were alerted"),
    "oncall.acknowledged": N_("Acknowledged by the on-call person"),
    "reply.save": N_("Reply recorded for the caller"),
    "callback.request": N_("Caller asked for a call-back"),
    "callback.reveal": N_("Call-back number revealed"),
    "callback.done": N_("Call-back marked done (number deleted)"),
    "alert.emergency": N_("Emergency alert raised"),
    "case.note": N_("Note added"),
}


# Every action the log records, as the admins' /audit page names it (its filter and its Action column);
# an action missing here shows its key. tests/test_admin_history.py checks every recorded action is here.
AUDIT_ACTIONS = {
    "signin": N_("Signed in"),
    "signin.failed": N_("Sign-in failed"),
    "case.open": N_("Case opened"),
    "case.followup": N_("Caller called again"),
    "case.view": N_("Case viewed"),
    "case.view.refused": N_("Case view refused"),
    "case.search": N_("Cases searched"),
    "case.status": N_("Status changed"),
    "case.assign": N_("Assignment changed"),
    "case.category": N_("Problem confirmed"),
    "case.suggest": N_("Problems suggested"),
    "case.workplace": N_("Workplace linked"),
    "case.note": N_("Note added"),
    "case.needs_transcript": N_("Needs a transcript by hand"),
    "case.anonymise": N_("Caller forgotten"),
    "transcript.edit": N_("Transcript or translation saved"),
    "reply.save": N_("Reply recorded"),
    "recording.play": N_("Recording played"),
    "recording.download": N_("Recording downloaded"),
    "callback.request": N_("Call-back asked for"),
    "callback.reveal": N_("Call-back number revealed"),
    "callback.reveal.denied": N_("Call-back number refused"),
    "callback.done": N_("Call-back done"),
    "alert.emergency": N_("Emergency alert"),
    "alert.keywords": N_("Emergency from the caller's words"),
    "oncall.escalation": N_("On-call staff alerted"),
    "oncall.acknowledged": N_("On-call alert acknowledged"),
    "oncall.add": N_("Added to the on-call rota"),
    "oncall.edit": N_("On-call rota changed"),
    "oncall.move": N_("On-call order changed"),
    "oncall.remove": N_("Removed from the on-call rota"),
    "prompt.submit": N_("Prompt recording submitted"),
    "prompt.approve": N_("Prompt recording approved"),
    "prompt.reject": N_("Prompt recording rejected"),
    "prompt.replace": N_("Prompt recording replaced"),
    "prompt.text": N_("Prompt text changed"),
    "prompt.stand_in": N_("Stand-in language changed"),
    "prompt_line.call": N_("Prompt line called"),
    "prompt_line.pin_failed": N_("Prompt line: wrong PIN"),
    "prompt_line.pin_locked": N_("Prompt line locked"),
    "workplace.add": N_("Workplace added"),
    "workplace.edit": N_("Workplace changed"),
    "workplace.import": N_("Workplaces imported"),
    "supplier.add": N_("Supplier added"),
    "remediation.add": N_("Remediation added"),
    "remediation.status": N_("Remediation status changed"),
    "brand.report": N_("Brand report viewed"),
    "export": N_("Exported"),
    "retention.run": N_("Old data deleted (retention)"),
    "user.create": N_("User created"),
    "user.edit": N_("User changed"),
    "user.deactivate": N_("User deactivated"),
    "user.password": N_("Password reset"),
    "user.password.set": N_("Password set"),
    "user.approve": N_("Account approved"),
    "user.refuse": N_("Account refused"),
    "user.link": N_("Password link made"),
    "user.ui_language": N_("Site language changed"),
}


def action_label(action: str, _: Callable[[str], str] = _untranslated) -> str:
    return _(AUDIT_ACTIONS[action]) if action in AUDIT_ACTIONS else action


def describe(action: str, detail: Mapping[str, Any], names: Mapping[int, str],
             _: Callable[[str], str] = _untranslated) -> str:
    """One line a person reads, e.g. "Status: New → Acknowledged", in the reader's language (``_``)."""
    def who(user_id: Any) -> str:
        return _("nobody") if user_id is None else names.get(int(user_id), _("user %(id)s") % {"id": user_id})

    def label(table: Mapping[str, str], key: Any) -> str:
        return _(table[str(key)]) if str(key) in table else str(key)

    if action == "case.status":
        return _("Status: %(before)s → %(after)s") % {"before": label(STATUS_LABELS, detail.get("from")),
                                                     "after": label(STATUS_LABELS, detail.get("to"))}
    if action == "case.assign":
        return _("Assigned: %(before)s → %(after)s") % {"before": who(detail.get("from")),
                                                       "after": who(detail.get("to"))}
    if action == "case.category":
        return _("Problem confirmed: %(problem)s") % {"problem": label(CATEGORIES, detail.get("category"))}
    if action == "case.open":
        source = detail.get("source")
        if source == "fallback":
            return _("Opened from a message the caller left while the engine was down")
        if source == "demo":
            return _("Opened (demo data)")
        return _("Opened by a call, as an emergency") if detail.get("emergency") else _("Opened by a call")
    if action == "case.followup":
        if detail.get("from") != detail.get("to"):
            return _("The caller called again: reopened (%(before)s → %(after)s)") % {
                "before": label(STATUS_LABELS, detail.get("from")), "after": label(STATUS_LABELS, detail.get("to"))}
        return _("The caller called again about this case")
    if action == "case.suggest":
        problems = [label(CATEGORIES, c) for c in detail.get("categories") or []]
        return _("Problems suggested from the caller's words: %(problems)s") % {"problems": ", ".join(problems)}
    if action == "case.workplace" and detail.get("confirmed") is False:
        return _("Linked to a workplace from the code the caller keyed in (not yet confirmed)")
    if action == "transcript.edit":
        words = (_("Translation saved as version %(n)s") if detail.get("kind") == "translation"
                 else _("Transcript saved as version %(n)s"))
        return words % {"n": detail.get("version")}
    return _(ACTION_WORDS[action]) if action in ACTION_WORDS else action


def user_names(db: sqlite_utils.Database) -> dict[int, str]:
    return {int(r[0]): str(r[1]) for r in db.execute("select id, username from users").fetchall()}


# What /audit's "About" column calls a logged object, in the reader's language: a named thing by its name,
# else by its kind and number ("brand 1" and "oncall_staff 3" were shown as stored). For each kind: the
# words with its name, the words with only its number, and the words when the row names no one object.
NAMED_KINDS: dict[str, tuple[str, str, str]] = {
    "user": (N_("user %(name)s"), N_("user %(id)s"), N_("an unknown user")),
    "brand": (N_("brand %(name)s"), N_("brand #%(id)s"), N_("brands")),
    "supplier": (N_("supplier %(name)s"), N_("supplier #%(id)s"), N_("suppliers")),
    "workplace": (N_("workplace %(name)s"), N_("workplace #%(id)s"), N_("workplaces")),
    "oncall_staff": (N_("on-call staff %(name)s"), N_("on-call staff #%(id)s"), N_("on-call staff")),
}
NAME_SQL = {
    "user": "select id, username from users",
    "brand": "select id, name from brands",
    "supplier": "select id, name from suppliers",
    "workplace": "select id, name || ' (' || code || ')' from workplaces",
    "oncall_staff": "select id, name from oncall_staff",
}
OTHER_KINDS = {
    "case": N_("case #%(id)s"),
    "recording": N_("recording #%(id)s"),
    "prompt_line": N_("the prompt phone line"),
    "retention": N_("data retention"),
    "audit_log": N_("the audit log"),
    "workplaces": N_("the workplace list"),
    "dashboard": N_("dashboard table %(id)s"),
}


def object_names(db: sqlite_utils.Database, rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """The names of the named objects ``rows`` are about, by kind and id (as stored: text)."""
    out: dict[str, dict[str, str]] = {}
    for kind, sql in NAME_SQL.items():
        ids = sorted({str(r["object_id"]) for r in rows if r["object_type"] == kind and r["object_id"]})
        if ids:
            marks = ", ".join("?" for _ in ids)
            found = db.execute(f"select * from ({sql}) where cast(id as text) in ({marks})", ids).fetchall()
            out[kind] = {str(i): str(name) for i, name in found}
    return out


def about(kind: str | None, object_id: Any, names: Mapping[str, Mapping[str, str]],
          _: Callable[[str], str] = _untranslated) -> str:
    """What a log row is about, in words: "brand Acme", "case #12", "prompt main_menu (Thai)"."""
    if not kind:
        return ""
    if kind in NAMED_KINDS:
        named, numbered, none = NAMED_KINDS[kind]
        if object_id in (None, ""):
            return _(none)
        name = names.get(kind, {}).get(str(object_id))
        return _(named) % {"name": name} if name else _(numbered) % {"id": object_id}
    if kind == "prompt" and "/" in str(object_id):
        lang, key = str(object_id).split("/", 1)
        return _("prompt %(key)s (%(language)s)") % {"key": key, "language": _language(lang, _)}
    if kind == "language":
        return _("the prompts in %(language)s") % {"language": _language(str(object_id), _)}
    if kind in OTHER_KINDS and (object_id not in (None, "") or "%(id)s" not in OTHER_KINDS[kind]):
        return _(OTHER_KINDS[kind]) % {"id": object_id}
    return f"{kind} {object_id or ''}".strip()  # a kind this page does not know yet: as stored


def _language(code: str, _: Callable[[str], str]) -> str:
    lang = LANGUAGES.get(code)
    return _(lang.english) if lang else code


def shown_row(row: Mapping[str, Any], names: Mapping[int, str], objects: Mapping[str, Mapping[str, str]],
              _: Callable[[str], str] = _untranslated) -> dict[str, Any]:
    """A row of ``log_rows`` as /audit shows it: the action named in the reader's language, a case's
    change in words ("Status: New → Acknowledged"), and the raw details only where there are no words."""
    action, detail = str(row["action"]), json.loads(row["detail"] or "{}")
    words = describe(action, detail, names, _) if action in CASE_ACTIONS and row["object_type"] == "case" else ""
    if words == _(AUDIT_ACTIONS.get(action, "")):
        words = ""   # the same words twice say nothing more
    who = row["username"]
    return {**row, "label": action_label(action, _),
            "who": _(SYSTEM_WHO[who]) if who in SYSTEM_WHO else who or _("the hotline"),
            "about": about(row["object_type"], row["object_id"], objects, _),
            "words": words, "raw": "" if words or row["detail"] in (None, "{}") else row["detail"]}


def case_history(db: sqlite_utils.Database, case_id: int, limit: int = 200,
                 _: Callable[[str], str] = _untranslated) -> list[dict[str, Any]]:
    """The case's changes, newest first, each with who, when and what."""
    marks = ", ".join("?" for _ in CASE_ACTIONS)
    rows = db.execute(
        f"select at, username, action, detail from audit_log where object_type = 'case' and object_id = ? "
        f"and action in ({marks}) order by id desc limit ?", [str(case_id), *CASE_ACTIONS, limit]).fetchall()
    names = user_names(db)
    return [{"at": at, "who": _(SYSTEM_WHO[username]) if username in SYSTEM_WHO else username or _("the hotline"),
             "action": action,
             "text": describe(action, json.loads(detail or "{}"), names, _)} for at, username, action, detail in rows]


@dataclass(frozen=True)
class AuditFilter:
    user: str = ""
    action: str = ""
    case: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    raw: dict[str, str] = field(default_factory=dict)

    def query_string(self, **changes: Any) -> str:
        from urllib.parse import urlencode

        values = {**self.raw, **{k: str(v) for k, v in changes.items()}}
        return urlencode({k: v for k, v in values.items() if v})


def _day(name: str, value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise AuditFilterError(N_("The filter “%(name)s” needs a date like 2026-01-31, not “%(value)s”."), name=name,
                               value=value) from None


def parse(query: Mapping[str, str]) -> AuditFilter:
    raw = {k: query.get(k, "").strip() for k in ("user", "action", "case", "from", "to", "page")}
    if len(raw["user"]) > 64 or len(raw["action"]) > 64:
        raise AuditFilterError(N_("A user name or action is at most 64 characters."))
    case = parse_int(raw["case"], high=10**12 - 1) if raw["case"] else None
    if raw["case"] and case is None:
        raise AuditFilterError(N_("The filter “case” needs a case number, not “%(value)s”."), value=raw["case"])
    page = parse_int(raw["page"] or "1", low=1, high=1_000_000)
    if page is None:
        raise AuditFilterError(N_("The page number “%(value)s” is not a number from 1 up."), value=raw["page"])
    return AuditFilter(user=raw["user"], action=raw["action"], case=case,
                       date_from=_day("from", raw["from"]), date_to=_day("to", raw["to"]), page=page,
                       raw={k: v for k, v in raw.items() if v and k != "page"})


def _utc(day: date, tz: ZoneInfo) -> str:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log_rows(db: sqlite_utils.Database, f: AuditFilter, tz: ZoneInfo, *, limit: int | None = PAGE_SIZE + 1,
             offset: int = 0) -> list[dict[str, Any]]:
    """Rows of the log matching ``f``, newest first (the details are JSON, never a number or transcript)."""
    parts: list[str] = ["1"]
    args: list[Any] = []
    if f.user:
        parts.append("username = ?")
        args.append(f.user)
    if f.action:
        parts.append("(action = ? or action like ? escape '\\')")
        args += [f.action, f.action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ".%"]
    if f.case is not None:
        parts.append("object_type = 'case' and object_id = ?")
        args.append(str(f.case))
    if f.date_from:
        parts.append("at >= ?")
        args.append(_utc(f.date_from, tz))
    if f.date_to:
        parts.append("at < ?")
        args.append(_utc(f.date_to + timedelta(days=1), tz))
    sql = (f"select id, at, username, action, object_type, object_id, detail from audit_log "
           f"where {' and '.join(parts)} order by id desc")
    if limit is not None:
        sql += " limit ? offset ?"
        args += [limit, offset]
    cursor = db.execute(sql, args)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def actions(db: sqlite_utils.Database) -> list[str]:
    return [r[0] for r in db.execute("select distinct action from audit_log order by action").fetchall()]
