"""Talking to one caller's channel: prompts with barge-in, keypad input, recordings.

Everything the call's task hears comes through ``Call.next_event`` in order. Digits
that arrive while a prompt plays stop it (DTMF alone never stops a playback on a real
Asterisk: the engine DELETEs it) and are kept as type-ahead for the next question.
The quick-exit key raises :class:`QuickExit` wherever it is pressed; a hang-up raises
:class:`HungUp` — except during a recording, which always ends with its result so the
message is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ivr.ari.errors import AriError, NotFound
from ivr.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    Event,
    PlaybackEvent,
    Reconnected,
    RecordingEvent,
    StasisEnd,
)
from ivr.log import CallLog

# A playback whose PlaybackFinished never comes (unknown scheme, lost event) must not hold the call.
PLAYBACK_GRACE_S = 120.0
RECORDING_GRACE_S = 15.0


class HungUp(Exception):
    """The caller hung up (or the channel left Stasis)."""


class QuickExit(Exception):
    """The caller pressed the quick-exit key."""


class CallLike(Protocol):
    channel_id: str
    client: Any
    hung_up: bool

    async def next_event(self, timeout: float | None = None) -> Event | None: ...  # noqa: ASYNC109


@dataclass
class RecordResult:
    name: str
    duration: float | None
    hung_up: bool          # the caller hung up during the recording (the message is still kept)
    quick_exit: bool
    failed: bool = False


_ids = itertools.count(1)


class Channel:
    def __init__(self, call: CallLike, log: CallLog, *, quick_exit: str | None = "*") -> None:
        self.call = call
        self.client = call.client
        self.log = log
        self.quick_exit = quick_exit
        self.typeahead: list[str] = []
        self.ended = False
        # A terminator still to come after an entry that filled up (the eight digits of a case code, then
        # '#' as many phone systems teach): (key, time.perf_counter() until which it is taken as that
        # entry's end). A key is judged by when it reached the engine (Event.received_at), not by when
        # the call reads it: what runs between the entry and the next prompt (looking a case code up,
        # on hashing threads that queue up in a burst) may well take longer than the window.
        self._late_terminator: tuple[str, float] | None = None

    # -- events -----------------------------------------------------------------------------------

    async def _event(self, timeout: float | None) -> Event | None:  # noqa: ASYNC109
        if self.ended:
            raise HungUp
        event = await self.call.next_event(timeout)
        if isinstance(event, ChannelHangupRequest | ChannelDestroyed | StasisEnd):
            self.ended = True
        return event

    def _digit(self, event: Event) -> str | None:
        if isinstance(event, ChannelDtmfReceived) and event.channel_id == self.call.channel_id:
            late, self._late_terminator = self._late_terminator, None
            if late is not None and event.digit == late[0] and (event.received_at or time.perf_counter()) <= late[1]:
                return None   # it ends the entry just made: it never barges into the next prompt
            return event.digit
        return None

    # -- prompts --------------------------------------------------------------------------------------

    async def play(self, media: Sequence[str], *, lang: str | None = None, barge_in: bool = True) -> str | None:
        """Play ``media``; return the key that interrupted it (kept as type-ahead), if any."""
        if not media:
            return None
        if barge_in and self.typeahead:
            return self.typeahead[0]   # the caller already answered: skip the question
        playback_id = f"{self.call.channel_id}-pb{next(_ids)}"
        try:
            await self.client.play(self.call.channel_id, list(media), lang=lang, playback_id=playback_id)
        except NotFound:
            raise HungUp from None
        pressed: str | None = None
        while True:
            event = await self._event(PLAYBACK_GRACE_S)
            if event is None:
                # A playback that never ends (unknown media scheme, lost event) would hold back every later
                # prompt and recording on the channel: stop it, and carry on rather than strand the caller.
                with contextlib.suppress(AriError):
                    await self._stop_playback(playback_id)
                return pressed
            if isinstance(event, Reconnected):
                return pressed   # its end may have been lost with the socket: carry on
            if self.ended:
                raise HungUp
            if isinstance(event, PlaybackEvent) and event.playback_id == playback_id:
                if event.type == "PlaybackFinished":
                    return pressed
                continue
            digit = self._digit(event)
            if digit is None:
                continue
            if digit == self.quick_exit:
                await self._stop_playback(playback_id)
                raise QuickExit
            self.typeahead.append(digit)
            if barge_in and pressed is None:
                pressed = digit
                await self._stop_playback(playback_id)

    async def _stop_playback(self, playback_id: str) -> None:
        with contextlib.suppress(NotFound):
            await self.client.stop_playback(playback_id)

    # -- keypad ----------------------------------------------------------------------------------------

    async def digits(
        self, *, max_digits: int, timeout: float, interdigit: float = 4.0, terminator: str | None = "#"  # noqa: ASYNC109
    ) -> str:
        """Keys pressed (type-ahead first) until ``max_digits``, the terminator, or a pause.

        An entry that fills ``max_digits`` may still be followed by the terminator: it is consumed
        as the entry's end (from the type-ahead, or when it arrives within ``interdigit``), so it
        neither cuts the next prompt nor answers the next question.
        """
        self._late_terminator = None
        got = ""
        deadline = timeout
        while len(got) < max_digits:
            if self.typeahead:
                digit: str | None = self.typeahead.pop(0)
            else:
                event = await self._event(deadline)
                if event is None:
                    break
                if self.ended:
                    raise HungUp
                digit = self._digit(event)
                if digit is None:
                    continue
            if digit == self.quick_exit:
                raise QuickExit
            if terminator and digit == terminator:
                return got if got else terminator
            got += str(digit)
            deadline = interdigit
        if terminator and len(got) >= max_digits:
            if self.typeahead and self.typeahead[0] == terminator:
                self.typeahead.pop(0)
            elif not self.typeahead:
                self._late_terminator = (terminator, time.perf_counter() + interdigit)
        return got

    # -- recordings ------------------------------------------------------------------------------------

    async def record(
        self, name: str, *, max_duration: int, max_silence: int, beep: bool, wall_limit: float | None = None,
        terminate_on: Literal["#", "any"] = "#",
    ) -> RecordResult:
        """Record until '#', silence, the maximum, a hang-up, or the quick-exit key. Never loses the take.

        ``wall_limit``: wall seconds after which a recording whose finish event never came is
        fetched anyway (default ``max_duration``).
        """
        await self._settle_late_terminator()
        self.typeahead.clear()
        try:
            # Never over an existing file: a name Asterisk already holds is a take not yet brought home
            # (the client raises Conflict, and the caller picks the next name).
            await self.client.record(
                self.call.channel_id, name, format="wav", max_duration=max_duration, max_silence=max_silence,
                beep=beep, terminate_on=terminate_on, if_exists="fail",
            )
        except NotFound:
            raise HungUp from None
        return await self.follow_recording(name, wall_limit=max_duration if wall_limit is None else wall_limit,
                                           terminate_on=terminate_on)

    async def _settle_late_terminator(self) -> None:
        """Before a recording starts, wait out a terminator still due from the entry before it.

        Asterisk ends a recording on '#' by itself (terminateOn), before the engine sees the key: a
        caller who typed a full code and then '#' a moment late would end the take they had not yet
        begun, and be told nothing was heard. Waiting costs nothing when a prompt longer than the
        window came in between, which is the usual case."""
        while (late := self._late_terminator) is not None:
            left = late[1] - time.perf_counter()
            if left <= 0:
                self._late_terminator = None
                return
            event = await self._event(left)
            if event is None:
                continue   # the window closed: the loop ends above
            if self.ended:
                raise HungUp
            if self._digit(event) == self.quick_exit:   # any key closes the window (see _digit)
                raise QuickExit

    async def follow_recording(
        self, name: str, *, wall_limit: float, terminate_on: Literal["#", "any"] = "#",
    ) -> RecordResult:
        """Wait for a live recording (started by this engine or, on resume, by the one before) to end."""
        hung_up = quick = False
        while True:
            limit = wall_limit
            timeout = RECORDING_GRACE_S if (hung_up or quick) else limit + RECORDING_GRACE_S
            event = await self.call.next_event(timeout)
            if event is None:
                # No RecordingFinished: keep whatever Asterisk stored.
                self.log.warning("recording %s: no finish event; fetching what was stored", name)
                await self._stop_recording(name)
                return RecordResult(name, None, hung_up or self.call.hung_up, quick)
            if isinstance(event, ChannelHangupRequest | ChannelDestroyed | StasisEnd):
                self.ended = True
                hung_up = True
                if isinstance(event, StasisEnd):
                    return RecordResult(name, None, True, quick)
                continue
            if isinstance(event, Reconnected):
                # Its finish may have happened while the socket was down: ask Asterisk.
                if not await self._still_recording(name):
                    return RecordResult(name, None, hung_up, quick)
                continue
            if isinstance(event, RecordingEvent) and event.name == name:
                if event.type == "RecordingFinished":
                    return RecordResult(name, event.duration, hung_up, quick)
                if event.type == "RecordingFailed":
                    self.log.warning("recording %s failed (%s)", name, event.cause or "no cause")
                    return RecordResult(name, None, hung_up, quick, failed=True)
                continue
            digit = self._digit(event)
            if digit == self.quick_exit and not quick:
                quick = True
                await self._stop_recording(name)   # stop = keep: what they said so far is a message
            elif digit is not None and terminate_on == "any":
                self.typeahead.append(digit)       # a spoken answer cut short by a key: the key answers

    async def _still_recording(self, name: str) -> bool:
        try:
            live = await self.client.get_live_recording(name)
        except NotFound:
            return False
        except AriError:
            return True
        return str(live.get("state", "recording")) in ("queued", "recording", "paused")

    async def _stop_recording(self, name: str) -> None:
        with contextlib.suppress(AriError):
            await self.client.stop_recording(name)

    # -- waiting on something else ---------------------------------------------------------------------

    async def listen_until(self, done: asyncio.Future[Any], timeout: float) -> bool:  # noqa: ASYNC109
        """Keep listening to the caller until ``done`` completes (True) or ``timeout`` passes (False).

        A hang-up or the quick-exit key raises at once, as anywhere else, instead of being noticed
        only when the wait is over; other keys are kept as type-ahead.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done.done():
            left = deadline - loop.time()
            if left <= 0:
                return False
            listen = asyncio.ensure_future(self._event(left))
            await asyncio.wait({listen, done}, return_when=asyncio.FIRST_COMPLETED)
            if not listen.done():
                listen.cancel()   # the caller's queue keeps any event it had not yet handed over
                with contextlib.suppress(asyncio.CancelledError):
                    await listen
                break
            event = listen.result()
            if event is None:
                continue
            if self.ended:
                raise HungUp
            digit = self._digit(event)
            if digit == self.quick_exit:
                raise QuickExit
            if digit is not None:
                self.typeahead.append(digit)
        return True

    # -- endings ---------------------------------------------------------------------------------------

    async def hangup(self) -> None:
        if self.ended:
            return
        self.ended = True
        with contextlib.suppress(AriError):
            await self.client.hangup(self.call.channel_id)
