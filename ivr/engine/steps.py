"""Actions (things the engine does) and routers (decisions that pick an exit), as handler tables.

Adding an action or a router is one handler here, one entry in its table below, and its argument
schema in :mod:`ivr.flows.model` (which ``ivr check`` and callflows/README.md read).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from ivr.cases import CATEGORIES, lifecycle
from ivr.engine import resume, store
from ivr.engine.session import Action, Router, Session, reply_media
from ivr.languages import LANGUAGES
from ivr.protection import callbacks, casecode
from ivr.protection.caller import NumberVault, normalise_number
from ivr.supply.codes import is_valid

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# -- actions -----------------------------------------------------------------------------------------------
# Each action takes the call's context and its arguments; the node is ``s.state.node``. Those that change
# something the caseworker should see write their step to call_steps (playing a prompt does not).

async def _logged(s: Session, kind: str, category: str | None = None) -> None:
    await s.step(str(s.state.node), kind, category=category)


async def play(s: Session, args: dict[str, Any]) -> None:
    await s.say([str(k) for k in args.get("prompts", [])])


async def _say_value(s: Session, args: dict[str, Any], *, digits: bool) -> None:
    value = s.resolve(args.get("value"))
    if value is None or str(value) == "":
        # Only after the case code was read back twice and its sealed copy wiped, on a call resumed
        # after that (ivr.engine.resume): the caller has heard it, and nothing else holds it.
        return
    if args.get("value") == "@case_code":
        await s.code_hashed()   # a code read back must already work (ivr.engine.session.hash_code_later)
    media = s.prompts.digits(str(value), s.lang) if digits else s.prompts.number(int(value), s.lang)
    await s.ch.play(media, lang=s.lang)
    if args.get("value") == "@case_code":
        await resume.code_read_back(s)


async def say_digits(s: Session, args: dict[str, Any]) -> None:
    await _say_value(s, args, digits=True)


async def say_number(s: Session, args: dict[str, Any]) -> None:
    await _say_value(s, args, digits=False)


async def set_language(s: Session, args: dict[str, Any]) -> None:
    code = s.resolve(args.get("value"))
    if code in LANGUAGES:
        await s.set_language(str(code))
    await _logged(s, "set_language")


async def set_vars(s: Session, args: dict[str, Any]) -> None:
    s.state.vars.update({str(k): s.resolve(v) for k, v in (args.get("values") or {}).items()})
    await _logged(s, "set")


async def set_category(s: Session, args: dict[str, Any]) -> None:
    value = s.resolve(args.get("value"))
    s.state.category = value if value in CATEGORIES else "other"
    await _logged(s, "set_category", s.state.category)


async def case(s: Session, args: dict[str, Any]) -> None:
    await _case(s, args)
    await _logged(s, "case")


async def callback(s: Session, args: dict[str, Any]) -> None:
    await _callback(s, str(s.resolve(args.get("window")) or ""))
    await _logged(s, "callback")


async def alert(s: Session, args: dict[str, Any]) -> None:
    await _alert(s, str(args.get("reason", "emergency")))
    await _logged(s, "alert")


async def play_reply(s: Session, args: dict[str, Any]) -> None:
    path = s.state.vars.get("reply_path")
    if path:
        await s.ch.play(reply_media(s.settings, str(path)), lang=s.lang)
    await _logged(s, "play_reply")


async def hangup(s: Session, args: dict[str, Any]) -> None:
    s.state.outcome = str(args.get("outcome", "completed"))
    await _logged(s, "hangup", s.state.outcome)
    await s.ch.hangup()


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
    await open_call_case(s, emergency=emergency, priority=None if priority is None else int(priority))


async def open_call_case(s: Session, *, emergency: bool, priority: int | None = None, callback: bool = False) -> int:
    """Open the call's case and give it a fresh case code (only its slow hash is stored).

    The case is opened at once and the hash computed while the caller hears what comes next
    (:meth:`Session.hash_code_later`): a caller must never sit in silence while hashing threads are
    busy with other calls. The hash is in the case before the code is read back or the call ends.
    """
    st = s.state
    code = casecode.new_code()
    tag = casecode.code_tag(s.settings.key("case-code"), code)
    workplace_id = st.vars.get("workplace_id")

    # Sealed on the call row until read back twice, so a resumed call can still say it (ivr.engine.resume),
    # and so the next engine can hash it if this one dies before the hash is stored.
    sealed = resume.seal_code(s.settings, code)

    def create(db: Any) -> int:
        case_id = lifecycle.open_case(
            db, call_id=st.call_id, caller_ref=st.caller_ref, language=st.language, category=st.category,
            workplace_code=st.workplace_code, workplace_id=workplace_id, code_hash=None, code_tag=tag,
            emergency=emergency, priority=priority, callback=callback,
        )
        store.update_call(db, st.call_id, code_sealed=sealed, code_readbacks=0)
        return case_id

    st.case_id = await s.write(create)
    s.hash_code_later(st.case_id, code)
    st.case_code = code
    st.code_readbacks = 0
    s.given = True
    if emergency:
        st.emergency = True
        if s.engine is not None:
            s.engine.emergency_opened(st.case_id)   # the on-call rota is rung at once (ivr/oncall)
    s.log.info("case=%d opened%s", st.case_id, " EMERGENCY" if emergency else "")
    return st.case_id


async def _callback(s: Session, window: str) -> None:
    st = s.state
    if normalise_number(st.number) is None:
        s.log.warning("call-back asked without a caller number; nothing stored")
        return
    vault = NumberVault(s.settings.key("callback-number"))
    if st.case_id is None:
        await open_call_case(s, emergency=False, callback=True)
    case_id, call_id, days, number = st.case_id, st.call_id, s.settings.callback_number_days, str(st.number)
    assert case_id is not None
    await s.write(lambda db: callbacks.request(db, vault, case_id=case_id, call_id=call_id, number=number,
                                               window=window, keep_days=days))
    s.given = True
    s.log.info("case=%d call-back requested window=%s", case_id, window)


async def _alert(s: Session, reason: str) -> None:
    st = s.state
    if st.case_id is None:
        await open_call_case(s, emergency=True)
    st.emergency = True
    case_id, call_id = st.case_id, st.call_id
    assert case_id is not None
    await s.write(lambda db: lifecycle.emergency_from_call(db, case_id, reason=reason, call_id=call_id))
    s.given = True
    # One unmistakable line for whoever watches the logs; the web UI shows the case at the top.
    s.log.warning("ALERT %s: case=%s needs staff now", reason.upper(), case_id)


# -- routers -----------------------------------------------------------------------------------------------

async def switch(s: Session, args: dict[str, Any]) -> str:
    value = s.resolve(args.get("operand"))
    return str(args.get("cases", {}).get(str(value), args.get("default", "other")))


async def office_hours(s: Session, args: dict[str, Any]) -> str:
    return "open" if in_office_hours(args, s.settings.tz) else "closed"


async def called_before(s: Session, args: dict[str, Any]) -> str:
    return "repeat" if s.state.repeat else "first"


async def has_number(s: Session, args: dict[str, Any]) -> str:
    return "number" if normalise_number(s.state.number) else "anonymous"


async def known_language(s: Session, args: dict[str, Any]) -> str:
    ref, call_id = s.state.caller_ref, s.state.call_id
    lang = await s.database.read(lambda db: store.previous_language(db, ref, call_id))
    if lang in s.settings.languages:
        await s.set_language(str(lang))
        return "known"
    return "unknown"


async def workplace_code(s: Session, args: dict[str, Any]) -> str:
    return await _workplace(s, str(s.resolve(args.get("operand", "@input")) or ""), int(args.get("tries", 3)))


async def code_attempts(s: Session, args: dict[str, Any]) -> str:
    ref, call_id = s.state.caller_ref, s.state.call_id
    left = await s.database.read(lambda db: casecode.attempts_left(db, ref, call_id))
    return "ok" if left > 0 else "too_many"


async def case_code(s: Session, args: dict[str, Any]) -> str:
    return await _case_code(s, str(s.resolve(args.get("operand", "@code")) or ""))


async def has_reply(s: Session, args: dict[str, Any]) -> str:
    case_id = s.state.case_id
    path = None if case_id is None else await s.database.read(lambda db: store.latest_reply(db, case_id))
    s.state.vars["reply_path"] = path
    return "reply" if path else "no_reply"


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


# -- the tables: kind name -> handler -------------------------------------------------------------------------
# The same names as the flow schema (ivr.flows.model.ACTIONS / ROUTERS), which ``ivr check`` and the
# reference in callflows/README.md read; tests/test_engine_units.py keeps the two equal.

ACTIONS: Final[dict[str, Action]] = {
    "play": play, "say_digits": say_digits, "say_number": say_number, "set_language": set_language,
    "set": set_vars, "set_category": set_category, "case": case, "callback": callback, "alert": alert,
    "play_reply": play_reply, "hangup": hangup,
}

ROUTERS: Final[dict[str, Router]] = {
    "switch": switch, "office_hours": office_hours, "called_before": called_before, "has_number": has_number,
    "known_language": known_language, "workplace_code": workplace_code, "code_attempts": code_attempts,
    "case_code": case_code, "has_reply": has_reply,
}
