"""Actions (things the engine does) and routers (decisions that pick an exit)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ivr.cases import CATEGORIES, lifecycle
from ivr.engine import resume, store, waits
from ivr.engine.session import reply_media
from ivr.flows.model import Node, Step
from ivr.languages import LANGUAGES
from ivr.protection import callbacks, casecode
from ivr.protection.caller import NumberVault, normalise_number
from ivr.supply.codes import is_valid

if TYPE_CHECKING:
    from ivr.engine.session import Session

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# -- actions -----------------------------------------------------------------------------------------------

async def run_action(s: Session, node: Node, action: Step) -> None:
    args = action.args
    st = s.state
    kind = action.kind
    if kind == "play":
        await s.say([str(k) for k in args.get("prompts", [])])
        return
    if kind in ("say_digits", "say_number"):
        value = s.resolve(args.get("value"))
        if value is None or str(value) == "":
            # Only after the case code was read back twice and its sealed copy wiped, on a call resumed
            # after that (ivr.engine.resume): the caller has heard it, and nothing else holds it.
            return
        media = s.prompts.digits(str(value), s.lang) if kind == "say_digits" else s.prompts.number(int(value), s.lang)
        await s.ch.play(media, lang=s.lang)
        if args.get("value") == "@case_code":
            await resume.code_read_back(s)
        return
    if kind == "set_language":
        code = s.resolve(args.get("value"))
        if code in LANGUAGES:
            await waits.set_language(s, str(code))
    elif kind == "set":
        st.vars.update({str(k): s.resolve(v) for k, v in (args.get("values") or {}).items()})
    elif kind == "set_category":
        value = s.resolve(args.get("value"))
        st.category = value if value in CATEGORIES else "other"
    elif kind == "case":
        await _case(s, args)
    elif kind == "callback":
        await _callback(s, str(s.resolve(args.get("window")) or ""))
    elif kind == "alert":
        await _alert(s, str(args.get("reason", "emergency")))
    elif kind == "play_reply":
        path = st.vars.get("reply_path")
        if path:
            await s.ch.play(reply_media(s.settings, str(path)), lang=s.lang)
    elif kind == "hangup":
        st.outcome = str(args.get("outcome", "completed"))
        await s.step(node.id, "hangup", category=st.outcome)
        await s.ch.hangup()
        return
    await s.step(node.id, kind, category=st.category if kind == "set_category" else None)


async def _case(s: Session, args: dict[str, Any]) -> None:
    st = s.state
    if args.get("op", "create") == "update" and st.case_id is not None:
        case_id = st.case_id
        await s.write(lambda db: lifecycle.follow_up(db, case_id))
        return
    if st.case_id is not None:   # a second 'create' in one call adds to the same case
        return
    emergency = bool(args.get("emergency", False))
    if args.get("category"):
        st.category = str(s.resolve(args["category"]))
    priority = args.get("priority")
    await waits.create_case(s, emergency=emergency, priority=None if priority is None else int(priority))


async def _callback(s: Session, window: str) -> None:
    st = s.state
    if normalise_number(st.number) is None:
        s.log.warning("call-back asked without a caller number; nothing stored")
        return
    vault = NumberVault(s.settings.key("callback-number"))
    if st.case_id is None:
        await waits.create_case(s, emergency=False, callback=True)
    case_id, call_id, days, number = st.case_id, st.call_id, s.settings.callback_number_days, str(st.number)
    assert case_id is not None
    await s.write(lambda db: callbacks.request(db, vault, case_id=case_id, call_id=call_id, number=number,
                                               window=window, keep_days=days))
    s.given = True
    s.log.info("case=%d call-back requested window=%s", case_id, window)


async def _alert(s: Session, reason: str) -> None:
    st = s.state
    if st.case_id is None:
        await waits.create_case(s, emergency=True)
    st.emergency = True
    case_id, call_id = st.case_id, st.call_id
    assert case_id is not None
    await s.write(lambda db: lifecycle.emergency_from_call(db, case_id, reason=reason, call_id=call_id))
    s.given = True
    # One unmistakable line for whoever watches the logs; the web UI shows the case at the top.
    s.log.warning("ALERT %s: case=%s needs staff now", reason.upper(), case_id)


# -- routers -----------------------------------------------------------------------------------------------

async def run_router(s: Session, node: Node, router: Step) -> str:
    args = router.args
    st = s.state
    kind = router.kind
    if kind == "switch":
        value = s.resolve(args.get("operand"))
        return str(args.get("cases", {}).get(str(value), args.get("default", "other")))
    if kind == "office_hours":
        return "open" if in_office_hours(args, s.settings.tz) else "closed"
    if kind == "called_before":
        return "repeat" if st.repeat else "first"
    if kind == "has_number":
        return "number" if normalise_number(st.number) else "anonymous"
    if kind == "known_language":
        ref, call_id = st.caller_ref, st.call_id
        lang = await s.database.read(lambda db: store.previous_language(db, ref, call_id))
        if lang in s.settings.languages:
            await waits.set_language(s, str(lang))
            return "known"
        return "unknown"
    if kind == "workplace_code":
        return await _workplace(s, str(s.resolve(args.get("operand", "@input")) or ""), int(args.get("tries", 3)))
    if kind == "code_attempts":
        ref, call_id = st.caller_ref, st.call_id
        left = await s.database.read(lambda db: casecode.attempts_left(db, ref, call_id))
        return "ok" if left > 0 else "too_many"
    if kind == "case_code":
        return await _case_code(s, str(s.resolve(args.get("operand", "@code")) or ""))
    if kind == "has_reply":
        case_id = st.case_id
        path = None if case_id is None else await s.database.read(lambda db: store.latest_reply(db, case_id))
        st.vars["reply_path"] = path
        return "reply" if path else "no_reply"
    raise ValueError(f"unknown router {kind!r}")


def in_office_hours(args: dict[str, Any], default_tz: ZoneInfo, now: datetime | None = None) -> bool:
    tz = ZoneInfo(str(args["timezone"])) if args.get("timezone") else default_tz
    local = (now or datetime.now(tz)).astimezone(tz)
    days = [str(d).lower()[:3] for d in args.get("days", DAYS)]
    if DAYS[local.weekday()] not in days:
        return False
    hhmm = local.strftime("%H:%M")
    return str(args.get("open", "00:00")) <= hhmm < str(args.get("close", "24:00"))


async def _workplace(s: Session, code: str, tries: int) -> str:
    st = s.state
    if code in ("", "#"):
        return "skip"
    if is_valid(code):
        st.workplace_code = code
        return "valid"
    st.vars["workplace_tries"] = int(st.vars.get("workplace_tries", 0)) + 1
    return "too_many" if st.vars["workplace_tries"] >= tries else "invalid"


async def _case_code(s: Session, code: str) -> str:
    st = s.state
    key = s.settings.key("case-code")
    ref, call_id = st.caller_ref, st.call_id

    # The slow hashes run on the engine's background threads, between a read and a short
    # write, so a wrong code never holds the writer (and every other call's writes) for long.
    def budget_and_candidates(db: Any) -> tuple[int, list[tuple[int, str]]]:
        return casecode.attempts_left(db, ref, call_id), casecode.candidates(db, key, code)

    left, rows = await s.database.read(budget_and_candidates)
    if left <= 0:
        return "too_many"
    case_id = await s.background.run(casecode.first_match, code, rows)

    def record(db: Any) -> str:
        casecode.record_attempt(db, ref, call_id, case_id is not None)
        if case_id is not None:
            return "found"
        return "too_many" if casecode.attempts_left(db, ref, call_id) <= 0 else "not_found"

    result = await s.write(record)
    if case_id is not None:
        st.case_id = case_id
        cid = case_id
        await s.write(lambda db: store.update_call(db, call_id, case_id=cid))
        s.given = True
    s.log.info("case code %s%s", result, f" case={case_id}" if case_id else "")
    return result
