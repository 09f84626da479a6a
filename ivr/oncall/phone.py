"""One staff phone call of an escalation, over ARI: ring, say the alert, wait for key 1.

The leg is originated into the engine's own Stasis app with a channel id that names the
step (``oncall-<escalation>-<seq>``), so the engine knows it as ours when it answers.
What the phone says: "Emergency on the hotline. Case number <digits>. The caller speaks
<language>. Press 1 to take it." in the staff member's first language. Never the caller's
number, never their words.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from ivr.ari.client import AriClient
from ivr.ari.errors import AriError, ChannelNotFound
from ivr.ari.events import StasisEnd
from ivr.ari.stasis import Call
from ivr.engine.channel import Channel, HungUp
from ivr.log import CallLog
from ivr.oncall.rota import Staff
from ivr.settings import Settings

log = logging.getLogger(__name__)

LEG_PREFIX = "oncall-"
LEG_ARG = "oncall"
# How often a ringing leg is looked at, so a busy or unreachable phone moves on at once.
CHECK_EVERY_S = 0.5
ALERT_PLAYS = 3
# Asterisk's own ring timeout is a little longer than ours, so a phone that simply rings on
# is told apart (no answer, we hang up) from one that refuses (busy: the channel goes early).
RING_MARGIN_S = 5


class PromptMedia(Protocol):
    def media(self, key: str, lang: str) -> list[str]: ...
    def digits(self, digits: str, lang: str) -> list[str]: ...


@dataclass
class Alert:
    """What the phone says, and what happens when the person presses 1."""

    case_id: int
    caller_language: str | None
    staff: Staff


def leg_id(escalation_id: int, seq: int) -> str:
    return f"{LEG_PREFIX}{escalation_id}-{seq}"


def is_leg(call: Call) -> bool:
    return call.channel_id.startswith(LEG_PREFIX) or bool(call.args and call.args[0] == LEG_ARG)


def dial_string(staff: Staff, trunk: str) -> str:
    """A SIP endpoint as it is; a number through the trunk template (IVR_ONCALL_TRUNK)."""
    if staff.is_number:
        if not trunk:
            raise ValueError("IVR_ONCALL_TRUNK is not set, so a phone number cannot be rung")
        return trunk.replace("{number}", staff.phone)
    return staff.phone


def alert_media(prompts: PromptMedia, alert: Alert, settings: Settings) -> tuple[list[str], str]:
    lang = next((c for c in alert.staff.languages if c in settings.languages), None) \
        or (alert.staff.languages[0] if alert.staff.languages else "en")
    media = prompts.media("oncall_alert", lang) + prompts.digits(str(alert.case_id), lang)
    if alert.caller_language:
        with contextlib.suppress(Exception):   # a language with no name prompt is simply not named
            media += prompts.media("oncall_caller_language", lang) \
                + prompts.media(f"lang_name_{alert.caller_language}", lang)
    return media + prompts.media("oncall_press_1", lang), lang


class Ringer:
    """Rings staff phones for the escalation service and runs each answered leg."""

    def __init__(self, settings: Settings, client: AriClient, prompts: PromptMedia, *, time_scale: float = 1.0) -> None:
        self.settings = settings
        self.client = client
        self.prompts = prompts
        self.time_scale = time_scale
        self._answered: dict[str, asyncio.Future[Call]] = {}
        self._done: dict[str, asyncio.Event] = {}

    async def ring(self, channel_id: str, staff: Staff) -> Call | str:
        """Ring one phone. The answered leg, or why not: 'no_answer', 'busy' or 'failed'."""
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[Call] = loop.create_future()
        self._answered[channel_id] = answered
        self._done[channel_id] = asyncio.Event()
        ring_s = self.settings.oncall_ring_seconds
        try:
            endpoint = dial_string(staff, self.settings.oncall_trunk)
            await self.client.originate(endpoint, app=self.settings.ari_app, app_args=f"{LEG_ARG},{channel_id}",
                                        channel_id=channel_id, timeout=ring_s + RING_MARGIN_S)
        except (AriError, ValueError) as exc:
            log.warning("oncall leg=%s could not ring staff=%s (%s)", channel_id, staff.id, type(exc).__name__)
            self._forget(channel_id)
            return "failed"
        deadline = loop.time() + ring_s / self.time_scale
        while not answered.done():
            left = deadline - loop.time()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(answered), min(left, CHECK_EVERY_S))
            if answered.done():
                break
            try:
                await self.client.get_channel(channel_id)
            except ChannelNotFound:
                # The phone refused or the trunk gave up before our ring time: busy, move on now.
                self._forget(channel_id)
                return "busy"
            except AriError:
                pass
        if not answered.done():
            with contextlib.suppress(AriError):
                await self.client.hangup(channel_id)
            self._forget(channel_id)
            return "no_answer"
        return answered.result()

    def _forget(self, channel_id: str) -> None:
        self._answered.pop(channel_id, None)
        done = self._done.pop(channel_id, None)
        if done is not None:
            done.set()

    async def take_leg(self, call: Call) -> None:
        """The engine's handler for an answered staff leg: hand it over, keep it until it is done."""
        channel_id = call.channel_id if call.channel_id in self._answered else [*call.args, "", ""][1]
        future = self._answered.get(channel_id)
        if future is None or future.done():
            # Not a leg we are ringing now (one from before a restart): the step is already closed.
            with contextlib.suppress(AriError):
                await call.client.hangup(call.channel_id)
            return
        done = self._done[channel_id]
        future.set_result(call)
        await done.wait()

    def release(self, channel_id: str) -> None:
        """The escalation is done with this leg: the engine's handler may return."""
        self._forget(channel_id)

    async def ask(self, call: Call, alert: Alert) -> str:
        """Play the alert until 1 is pressed: 'acknowledged', or 'no_ack' (hung up or silence)."""
        clog = CallLog(log, call.channel_id)
        ch = Channel(call, clog, quick_exit=None)
        media, _ = alert_media(self.prompts, alert, self.settings)
        wait = self.settings.oncall_ack_seconds / self.time_scale / ALERT_PLAYS
        try:
            for _ in range(ALERT_PLAYS):
                pressed = await ch.play(media, lang=None)
                key = pressed if pressed else await ch.digits(max_digits=1, timeout=wait, terminator=None)
                ch.typeahead.clear()
                if key == "1":
                    return "acknowledged"
        except HungUp:
            return "no_ack"
        return "no_ack"

    async def say(self, call: Call, key: str, alert: Alert) -> None:
        _, lang = alert_media(self.prompts, alert, self.settings)
        ch = Channel(call, CallLog(log, call.channel_id), quick_exit=None)
        with contextlib.suppress(HungUp, AriError):
            await ch.play(self.prompts.media(key, lang), lang=None, barge_in=False)

    async def hangup(self, call: Call) -> None:
        with contextlib.suppress(AriError):
            await self.client.hangup(call.channel_id)

    async def wait_gone(self, call: Call) -> None:
        """Until the staff member hangs up (after a bridge with the caller)."""
        while not call.hung_up:
            event: Any = await call.next_event(5.0)
            if isinstance(event, StasisEnd):
                break
