"""Waits: the steps that listen to the caller (menus, digits, recordings, transfers).

Each takes the call's context and its arguments and returns ``(category, shown_input)``;
``shown_input`` is what call_steps may hold (digits pressed, masked for secrets such as a case
code — never free text). :data:`WAITS` is the table from kind name to handler.
"""

from __future__ import annotations

import secrets
from typing import Any, Final

from ivr.ari.errors import AriError, Conflict
from ivr.ari.events import StasisEnd
from ivr.engine.channel import HungUp, QuickExit, RecordResult
from ivr.engine.session import Session, Wait

MAX_REPEATS = 5
MAX_NAME_TRIES = 20


def _opt(s: Session, args: dict[str, Any], name: str, fallback: Any) -> Any:
    return args.get(name, s.flow.default(name, fallback))


def _keys(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


async def menu(s: Session, args: dict[str, Any]) -> tuple[str, str | None]:
    choices: dict[str, str] = args["choices"]
    timeout = s.secs(float(_opt(s, args, "timeout", 6)))
    retries = int(_opt(s, args, "retries", 3))
    operator = s.flow.operator is not None and bool(s.settings.transfer_endpoint)
    last = ""
    repeats = 0
    attempt = 0
    while attempt < retries:
        final = attempt == retries - 1
        attempt += 1
        await s.say(_keys(args.get("prompts")))
        phrases = (args.get("speech") or {}).get(s.lang)
        if phrases and s.engine is not None and s.engine.speech is not None and not s.ch.typeahead:
            spoken = await s.engine.speech.choose(s, s.lang, choices, phrases)
            if spoken is not None:
                return spoken, "speech"
        key = await s.ch.digits(max_digits=1, timeout=timeout, terminator=None)
        if key == "":
            if final:
                return "no_input", None
            await s.say(_keys(_opt(s, args, "no_input_prompt", None)))
            continue
        if key == s.flow.repeat_key and repeats < MAX_REPEATS:
            repeats += 1
            attempt -= 1   # asking to hear it again is not a wrong answer
            continue
        last = key
        if key in choices:
            return choices[key], key
        if key == "0" and operator:
            return "operator", key
        await s.say(_keys(_opt(s, args, "invalid_prompt", None)))
        if final:
            return "invalid", last
    return "invalid", last


async def language_menu(s: Session, args: dict[str, Any]) -> tuple[str, str | None]:
    """Digit i is the i-th language of IVR_LANGUAGES; each offer is spoken in its own language."""
    languages = s.settings.languages
    prompt = str(args.get("prompt", "choose_language"))
    offer: list[str] = []
    for i, lang in enumerate(languages, start=1):
        offer += s.prompts.media(s.flow.prompt_key(prompt, lang), lang) + s.prompts.digits(str(i), lang)
    timeout = s.secs(float(_opt(s, args, "timeout", 6)))
    retries = int(_opt(s, args, "retries", 2))
    key = ""
    for _ in range(retries):
        await s.ch.play(offer, lang=None)
        key = await s.ch.digits(max_digits=1, timeout=timeout, terminator=None)
        if key.isdigit() and 1 <= int(key) <= len(languages):
            await s.set_language(languages[int(key) - 1])
            return "chosen", key
    return ("no_input" if key == "" else "invalid"), key or None


async def digits(s: Session, args: dict[str, Any]) -> tuple[str, str | None]:
    lo, hi = int(args.get("min", 1)), int(args.get("max", 20))
    terminator = args.get("terminator", "#")
    timeout = s.secs(float(_opt(s, args, "timeout", 6)))
    interdigit = s.secs(float(args.get("interdigit", s.flow.default("interdigit", 4))))
    retries = int(_opt(s, args, "retries", 3))
    into = str(args.get("into", "input"))
    secret = into == "code"   # a case code never reaches call_steps or a log line
    for attempt in range(retries):
        await s.say(_keys(args.get("prompts")))
        got = await s.ch.digits(max_digits=hi, timeout=timeout, interdigit=interdigit, terminator=terminator)
        if got == terminator:
            got = ""
        if got == "" and lo > 0:
            if attempt == retries - 1:
                return "no_input", None
            await s.say(_keys(s.flow.default("no_input_prompt", None)))
            continue
        s.state.vars[into] = got
        s.state.vars["input"] = got
        shown = f"[{len(got)} digits]" if secret else (got or "#")
        return "entered", shown
    return "no_input", None


async def record_message(s: Session, args: dict[str, Any]) -> tuple[str, str | None]:
    """Record a voice message; with ``review``: 1 keep, 2 listen, 3 record again."""
    review = bool(args.get("review", True))
    while True:
        await s.say(_keys(args.get("prompts")))
        result = await _record_take(s, args)
        name = result.name
        take = await s.bring_home(name, result.duration)
        category = "empty" if take.empty or take.stored is None else "recorded"
        if result.hung_up:
            await s.release(take)
            raise HungUp
        if result.quick_exit:
            await s.release(take)
            raise QuickExit
        if not review or take.stored is None:
            await s.release(take)
            return category, None
        choice = await _review(s, args, take.name)
        if choice == "again":
            await s.discard(take)
            continue
        await s.release(take)
        return category, None


async def _record_take(s: Session, args: dict[str, Any]) -> RecordResult:
    """One take under a name no file has: a name Asterisk already holds is skipped, never overwritten."""
    max_duration = int(args.get("max_duration", 180))
    for _ in range(MAX_NAME_TRIES):
        name = s.recording_name()
        try:
            return await s.ch.record(
                name, max_duration=max_duration, max_silence=int(args.get("max_silence", 6)),
                beep=bool(args.get("beep", True)), wall_limit=s.secs(max_duration),
            )
        except Conflict:
            s.log.warning("recording %s exists on Asterisk; left alone, taking the next name", name)
    raise RuntimeError(f"no free recording name after {MAX_NAME_TRIES} tries")


async def after_salvage(s: Session, args: dict[str, Any]) -> str:
    """A resumed caller whose message was saved: tell them, and let them add to it (1)."""
    category, _ = await menu(s, {"prompts": ["message_saved_resumed"], "choices": {"1": "add"}, "retries": 1})
    if category == "add":
        await record_message(s, args)
    return "recorded"


async def _review(s: Session, args: dict[str, Any], name: str) -> str:
    choices = {"1": "keep", "2": "listen", "3": "again"}
    prompt = _keys(args.get("review_prompt", "review_menu"))
    while True:
        category, _ = await menu(s, {"prompts": prompt, "choices": choices, "retries": 2})
        if category == "listen":
            await s.ch.play([f"recording:{name}"], lang=s.lang)
            continue
        return category if category == "again" else "keep"   # silence or a stray key keeps the message


async def transfer(s: Session, args: dict[str, Any]) -> tuple[str, str | None]:
    """Originate a call to the caseworker queue and bridge it; 'unavailable' when nobody answers.

    With ``context`` the dialplan takes the call instead (its queue, its voicemail fallback).
    """
    if args.get("context"):
        return await _to_dialplan(s, args)
    if s.state.emergency and s.engine is not None and s.engine.oncall_staffed():
        # An emergency caller holds while the on-call rota is rung; whoever takes it is bridged in.
        await s.say(_keys(args.get("prompts")))
        if await s.engine.hold_for_oncall(s, timeout=s.secs(s.settings.oncall_hold_seconds)):
            return "answered", "oncall"
    endpoint = s.settings.transfer_endpoint
    if not endpoint or s.engine is None:
        return "unavailable", None
    await s.say(_keys(args.get("prompts")))
    answered = await s.engine.transfer(s, endpoint, timeout=s.secs(float(args.get("timeout", 30))))
    if answered:
        return "answered", None
    await s.say(_keys(args.get("unavailable_prompt")))
    return "unavailable", None


async def _to_dialplan(s: Session, args: dict[str, Any]) -> tuple[str, str | None]:
    await s.say(_keys(args.get("prompts")))
    try:
        await s.call.client.continue_in_dialplan(
            s.call.channel_id, context=str(args["context"]), extension=str(args.get("extension", "s")),
            priority=int(args.get("priority", 1)),
        )
    except AriError as exc:
        s.log.warning("transfer to the dialplan failed (%s)", exc)
        await s.say(_keys(args.get("unavailable_prompt")))
        return "unavailable", None
    # The channel now belongs to the dialplan: wait for it to leave our app, and never hang it up.
    s.ch.ended = True
    while not isinstance(await s.call.next_event(s.secs(10) + 5), StasisEnd | None):
        pass
    s.log.info("handed to the dialplan context=%s", args["context"])
    return "answered", "dialplan"


def agent_channel_id(call_id: str) -> str:
    return f"agent-{call_id}-{secrets.token_hex(3)}"


# Kind name -> handler: the same names as the flow schema (ivr.flows.model.WAITS).
WAITS: Final[dict[str, Wait]] = {
    "menu": menu, "language_menu": language_menu, "digits": digits, "record": record_message, "transfer": transfer,
}
