"""One call's context: its state, its ARI channel, and what every step needs from them.

A :class:`Session` is what the interpreter (:mod:`ivr.engine.interpreter`) and every handler
(actions and routers in :mod:`ivr.engine.steps`, waits in :mod:`ivr.engine.waits`) work on: it
plays prompts, resolves ``@variables``, writes steps to ``call_steps``, brings recordings home and
closes the call row. It imports nothing of the interpreter or the handlers, which import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ivr.ari.errors import AriError
from ivr.cases import lifecycle
from ivr.db.writer import Database
from ivr.engine import store
from ivr.engine.background import Background
from ivr.engine.channel import Channel
from ivr.engine.recordings import RecordingError, Stored, shred, store_bytes
from ivr.flows.model import Flow
from ivr.log import CallLog
from ivr.protection import casecode
from ivr.settings import Settings

if TYPE_CHECKING:
    from ivr.engine.channel import CallLike

log = logging.getLogger(__name__)

class Prompts(Protocol):
    """What the engine needs from the prompts part (ivr.prompts.resolve.PromptResolver)."""

    def media(self, key: str, lang: str) -> list[str]: ...

    def digits(self, digits: str, lang: str) -> list[str]: ...

    def number(self, n: int, lang: str) -> list[str]: ...


@dataclass
class Take:
    """A recording brought home but not yet released on Asterisk (the caller may still review it)."""

    recording_id: int
    name: str
    stored: Stored | None
    empty: bool


@dataclass
class CallState:
    call_id: str
    channel_id: str
    caller_ref: str | None
    number: str | None = field(default=None, repr=False)   # in memory only; sealed if a call-back is asked
    language: str = "en"
    repeat: bool = False
    vars: dict[str, Any] = field(default_factory=dict)
    case_id: int | None = None
    case_code: str | None = field(default=None, repr=False)   # read back to the caller, never stored
    category: str | None = None
    workplace_code: str | None = None
    menu_choice: str | None = None
    outcome: str | None = None
    emergency: bool = False
    node: str | None = None
    takes: list[Take] = field(default_factory=list)
    recordings: int = 0          # takes named so far (restored on resume, so a name is never reused)
    code_readbacks: int = 0      # times the case code was read to the caller (see ivr.engine.resume)
    code_unhashed: bool = False  # resumed: the case still waits for its code's hash (the old engine died first)


class Session:
    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        flow: Flow,
        prompts: Prompts,
        call: CallLike,
        state: CallState,
        engine: Any = None,
        background: Background,
        time_scale: float = 1.0,
        hasher: Callable[[str], str] = casecode.hash_code,
    ) -> None:
        self.settings = settings
        self.database = database
        self.flow = flow
        self.prompts = prompts
        self.call = call
        self.state = state
        self.engine = engine   # the Engine (for live transfer); None in isolation
        # >1 when the emulator runs media time faster than the wall clock (tests, demos)
        self.time_scale = time_scale
        self.background = background   # the engine's threads for CPU-heavy work
        self.hasher = hasher           # the case code's slow hash (runs on ``background``)
        self._code_hash: asyncio.Task[None] | None = None
        self.log = CallLog(log, state.call_id)
        self.ch = Channel(call, self.log, quick_exit=flow.quick_exit)
        # Something the caller has given changed (a take filed, a case opened or found): the next node
        # is saved as the resume point even if it is not a wait (ivr.engine.resume).
        self.given = False

    # -- helpers the steps use --------------------------------------------------------------------

    @property
    def lang(self) -> str:
        return self.state.language

    def media(self, keys: list[str] | tuple[str, ...]) -> list[str]:
        out: list[str] = []
        for key in keys:
            out += self.prompts.media(self.flow.prompt_key(key, self.lang), self.lang)
        return out

    async def say(self, keys: list[str] | tuple[str, ...], *, barge_in: bool = True) -> str | None:
        return await self.ch.play(self.media(keys), lang=self.lang, barge_in=barge_in)

    def secs(self, seconds: float) -> float:
        """A wait for the caller, in wall seconds."""
        return seconds / self.time_scale

    def resolve(self, value: Any) -> Any:
        """``"@name"`` is the variable ``name``; anything else is itself."""
        if not isinstance(value, str) or not value.startswith("@"):
            return value
        name = value[1:]
        if name == "case_code":
            return self.state.case_code
        if name == "language":
            return self.state.language
        return self.state.vars.get(name)

    async def set_language(self, code: str) -> None:
        self.state.language = code
        call_id = self.state.call_id
        await self.write(lambda db: store.update_call(db, call_id, language=code))

    async def write(self, fn: Any) -> Any:
        return await self.database.write(fn)

    async def step(self, node: str, action: str | None, *, input: str | None = None,
                   category: str | None = None) -> None:
        call_id = self.state.call_id
        await self.write(lambda db: store.add_step(db, call_id, node=node, action=action, input=input,
                                                   category=category))
        # A menu key is logged; longer entries (a workplace code) only by their length.
        shown = input if input is None or len(input) <= 1 or input.startswith("[") else f"[{len(input)} digits]"
        self.log.info("node=%s %s%s%s", node, action or "-", f" input={shown}" if shown else "",
                      f" category={category}" if category else "")

    # -- the case code's hash ---------------------------------------------------------------------------

    def hash_code_later(self, case_id: int, code: str) -> None:
        """Compute the case code's slow hash while the call goes on, and store it on the case.

        The case is opened at once, with the code sealed on the call row (ivr.engine.resume), so the
        caller hears the next prompt without waiting for a hashing thread; under a burst of calls those
        queue up for seconds. :meth:`code_hashed` waits for it before the code is read back and before
        the call row is closed (which wipes the sealed copy); an engine that dies in between leaves the
        sealed code, from which the next engine hashes it (a resumed call, or the orphan sweep). A hash
        that cannot be computed or stored now is only logged: the sealed code then outlives the call
        (ivr.engine.store.wipe_sealed_code) until the engine's sweep stores it (ivr.engine.codehash), so the
        code the caller hears works all the same, a minute later at most.
        """
        self._code_hash = asyncio.create_task(self._store_code_hash(case_id, code),
                                              name=f"code-hash-{self.state.call_id}")

    async def _store_code_hash(self, case_id: int, code: str) -> None:
        try:
            code_hash = await self.background.run(self.hasher, code)
            await self.write(lambda db: lifecycle.store_code_hash(db, case_id, code_hash))
        except Exception:   # out of memory, a locked database: the sweep finishes it from the sealed code
            self.log.exception("case=%d: the case code's hash could not be stored; it stays sealed for the sweep",
                               case_id)
            return
        self.log.info("case=%d code hash stored", case_id)

    async def code_hashed(self) -> None:
        """Return once the case holds its code's hash, or the hashing failed and was left to the sweep (at
        once if there is nothing to wait for). Never raises: a caller is not cut off over a hash."""
        if self._code_hash is not None:
            await self._code_hash

    # -- the end of a call ----------------------------------------------------------------------------

    def final_outcome(self) -> str:
        s = self.state
        if s.outcome in ("quick_exit", "error"):
            return s.outcome
        if s.emergency:
            return "emergency"
        if s.outcome:
            return s.outcome
        return "abandoned" if s.menu_choice is None else "hangup"

    async def finish(self) -> None:
        """Release recordings, file orphaned ones under a case, close the call row."""
        s = self.state
        for take in list(s.takes):
            with contextlib.suppress(Exception):
                await self.release(take)
        # The hash first: closing the row wipes the sealed code once the case holds it.
        await self.code_hashed()
        if not self.ch.ended:
            await self.ch.hangup()
        outcome = self.final_outcome()
        call_id, node = s.call_id, s.node

        def close(db: Any) -> int | None:
            orphan = db.execute(
                "select count(*) from recordings where call_id = ? and case_id is null and state != 'deleted'",
                [call_id],
            ).fetchone()[0]
            case_id = s.case_id
            if orphan and case_id is None:
                # A message with no case yet (the caller hung up early): it still reaches a caseworker.
                case_id = lifecycle.open_case(
                    db, call_id=call_id, caller_ref=s.caller_ref, language=s.language, category=s.category,
                    workplace_code=s.workplace_code, workplace_id=None, code_hash=None, code_tag=None,
                    emergency=s.emergency,
                )
            if case_id is not None:
                store.attach_recordings(db, call_id, case_id)
            store.close_call(db, call_id, outcome=outcome, last_node=node)
            return case_id

        case_id = await self.write(close)
        self.log.info("call ended outcome=%s case=%s recordings=%d", outcome, case_id or "-", s.recordings)

    # -- recordings -----------------------------------------------------------------------------------

    def recording_name(self) -> str:
        self.state.recordings += 1
        return f"ivr-{self.state.call_id}-{self.state.recordings}"

    async def bring_home(self, name: str, duration: float | None) -> Take:
        """Fetch, verify and file a recording; it stays on Asterisk until :meth:`release`."""
        s = self.state
        client = self.call.client
        stored: Stored | None = None
        try:
            data = await client.download_stored_recording(name)
            stored = await self.background.run(store_bytes, data, self.settings.data_dir, name)
        except (AriError, RecordingError) as exc:
            # Left on Asterisk with a 'failed' row naming it, so it can be fetched again later.
            self.log.error("recording %s could not be brought home (%s); kept on Asterisk", name, exc)
        # Judged from the audio itself, never from Asterisk's duration: that is whole seconds, so a
        # "help!" of 0.7 s finishes as 0 s, and would be filed as empty and never transcribed.
        empty = stored is not None and stored.silent
        state = "failed" if stored is None else ("empty" if empty else "stored")

        def insert(db: Any) -> int:
            return store.insert_recording(
                db, call_id=s.call_id, case_id=s.case_id, kind="voicemail",
                path=stored.relative if stored else None,
                duration=stored.duration if stored else (float(duration) if duration is not None else None),
                size=stored.size if stored else None, sha256=stored.sha256 if stored else None,
                state=state, asterisk_name=name,
            )

        rec_id = await self.write(insert)
        self.log.info("recording=%d state=%s", rec_id, state)
        take = Take(rec_id, name, stored, empty)
        s.takes.append(take)
        return take

    async def release(self, take: Take) -> None:
        """The take is final: delete Asterisk's copy (only if ours is verified) and queue transcription."""
        if take in self.state.takes:
            self.state.takes.remove(take)
        if take.stored is None:
            return
        self.given = True
        with contextlib.suppress(AriError):
            await self.call.client.delete_stored_recording(take.name)
        rec_id, lang, empty = take.recording_id, self.state.language, take.empty

        def final(db: Any) -> None:
            store.release_recording(db, rec_id)
            if not empty:
                store.queue_transcription(db, rec_id, lang)

        await self.write(final)

    async def discard(self, take: Take) -> None:
        """The caller chose to record again: the earlier take goes, at their request."""
        if take in self.state.takes:
            self.state.takes.remove(take)
        with contextlib.suppress(AriError):
            await self.call.client.delete_stored_recording(take.name)
        if take.stored is not None:
            await asyncio.to_thread(shred, take.stored.path)
        rec_id = take.recording_id
        await self.write(lambda db: store.discard_recording(db, rec_id))


def new_call_state(settings: Settings, channel: dict[str, Any], caller_ref: str | None) -> CallState:
    number = str((channel.get("caller") or {}).get("number") or "") or None
    return CallState(
        call_id=uuid.uuid4().hex[:16], channel_id=str(channel["id"]), caller_ref=caller_ref,
        number=number, language=settings.languages[0],
    )


def reply_media(settings: Settings, relative: str) -> list[str]:
    """A caseworker's reply, played from the data dir (Asterisk sees it when it runs here)."""
    path = (settings.data_dir / relative).resolve()
    return [f"sound:{path.with_suffix('')}"] if path.suffix else [f"sound:{Path(path)}"]


# What the flow's kinds run as: each handler takes the call's context and the step's arguments.
# The tables from kind name to handler are ivr.engine.steps.ACTIONS / ROUTERS and ivr.engine.waits.WAITS.
Action = Callable[[Session, dict[str, Any]], Awaitable[None]]
Wait = Callable[[Session, dict[str, Any]], Awaitable[tuple[str, str | None]]]   # (category, shown input)
Router = Callable[[Session, dict[str, Any]], Awaitable[str]]                      # the category
