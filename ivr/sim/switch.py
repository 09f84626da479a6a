"""Channel behaviour: Local pairs, Stasis entry and exit, answer, hang-up order, DTMF, audio paths.

A ``Local/<exten>@<context>`` originate makes two legs. Leg ;1 belongs to the originating app;
leg ;2 runs the dialplan of ``<context>``, which the emulator reduces to ``Stasis(<routed app>)``.
When the app answers ;2, ;1 is answered too and enters its app with StasisStart. Each channel
has a control queue: playbacks and recordings run one after the other, as on a real Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import re
from typing import Any

from ivr.sim.media import Sound
from ivr.sim.recording import LiveRecording
from ivr.sim.state import Bridge, Channel, MediaPort, Op, Segment, World, heard_speech

log = logging.getLogger(__name__)

CAUSES = {
    "normal": 16, "busy": 17, "congestion": 34, "no_answer": 19, "timeout": 19, "rejected": 21,
    "unallocated": 1, "normal_unspecified": 31, "number_incomplete": 28, "codec_mismatch": 58,
    "interworking": 127, "failure": 38, "answered_elsewhere": 26,
}
CAUSE_TEXT = {
    16: "Normal Clearing", 17: "User busy", 19: "User alerting, no answer", 21: "Call Rejected",
    1: "Unallocated (unassigned) number", 31: "Normal, unspecified", 28: "Invalid number format (addr incomplete)",
    34: "Circuit/channel congestion", 58: "Bearer capability not available", 127: "Interworking, unspecified",
    38: "Network out of order", 26: "Answered elsewhere", 0: "Unknown",
}
SOFTHANGUP_EXPLICIT = 32  # what a REST hang-up reports as ``cause`` with ``soft: true``
DTMF_DIGITS = set("0123456789ABCDabcd*#")
_CALLER_ID = re.compile(r'^\s*"?([^"<]*?)"?\s*<([^>]*)>\s*$')


def parse_caller_id(text: str | None) -> dict[str, str]:
    if not text:
        return {"name": "", "number": ""}
    m = _CALLER_ID.match(text)
    if m:
        return {"name": m.group(1).strip(), "number": m.group(2).strip()}
    return {"name": "", "number": text.strip()}


class Switch:
    def __init__(self, world: World) -> None:
        self.world = world
        self._local_seq = 0x10
        # What a playback or a recording this switch runs on a channel may use of the world.
        self.media = MediaPort(
            clock=world.clock, sounds_dir=world.sounds_dir, spool_dir=world.spool_dir, emit=world.emit,
            send_audio=self.send_audio, cut_audio=self.cut_audio,
            forget_playback=self._forget_playback, forget_recording=self._forget_recording,
        )

    def _forget_playback(self, playback_id: str) -> None:
        self.world.playbacks.pop(playback_id, None)

    def _forget_recording(self, name: str) -> None:
        self.world.recordings.pop(name, None)

    # -- creating calls ---------------------------------------------------------------------------------------

    def originate_local(
        self,
        exten: str,
        context: str,
        *,
        app: str | None,
        app_args: str,
        caller: dict[str, str],
        timeout: float,
        channel_id: str | None,
        other_channel_id: str | None,
        variables: dict[str, str],
    ) -> Channel:
        self._local_seq += 1
        base = f"Local/{exten}@{context}-{self._local_seq:08x}"
        one = Channel(
            id=channel_id or self.world.new_channel_id(), name=f"{base};1", state="Down", caller=caller,
            context=context, exten=exten, priority=1, app_name="AppDial2", app_data="(Outgoing Line)",
        )
        two = Channel(
            id=other_channel_id or self.world.new_channel_id(), name=f"{base};2", state="Ring", caller=caller,
            context=context, exten=exten, priority=1,
        )
        one.peer, two.peer = two, one
        one.variables.update(variables)
        two.variables.update(variables)
        if app:
            one.origin_apps.add(app)
            two.origin_apps.add(app)
            one.variables["__ivr_originate_app"] = f"{app},{app_args}" if app_args else app
        for ch in (one, two):
            self.world.channels[ch.id] = ch
        asyncio.get_running_loop().call_soon(self._run_dialplan, two)
        if timeout > 0:
            self.world.clock.call_at(self.world.clock.now() + timeout, lambda: self._ring_timeout(one))
        return one

    def _ring_timeout(self, one: Channel) -> None:
        if one.id in self.world.channels and one.state != "Up":
            self.hangup(one, cause=CAUSES["no_answer"], soft=False)

    def _run_dialplan(self, ch: Channel, *, priority: int = 2) -> None:
        """The dialplan of ``ch.context``: Stasis(<routed app>), or nothing (hang up) when unrouted."""
        if ch.id not in self.world.channels:
            return
        app = self.world.route(ch.context)
        if app is None:
            self.hangup(ch, cause=16, soft=False)
            return
        ch.priority, ch.app_name, ch.app_data = priority, "Stasis", app
        self.world.channel_event("ChannelDialplan", ch, dialplan_app="Stasis", dialplan_app_data=app)
        if app not in self.world.apps:
            # "Stasis app 'X' not active": STASISSTATUS=FAILED and, with no fallback, the caller is hung up on.
            log.warning("stasis app %s not active; hanging up channel %s", app, ch.id)
            ch.variables["STASISSTATUS"] = "FAILED"
            self.hangup(ch, cause=16, soft=False)
            return
        self.enter_stasis(ch, app, [])

    def enter_stasis(self, ch: Channel, app: str, args: list[str]) -> None:
        ch.stasis_app = app
        self.world.channel_event("StasisStart", ch, apps={app}, args=args)

    def leave_stasis(self, ch: Channel) -> None:
        if ch.stasis_app is None:
            return
        app = ch.stasis_app
        self._drop_ops(ch)
        self.world.channel_event("StasisEnd", ch, apps={app})
        ch.stasis_app = None
        ch.variables["STASISSTATUS"] = "SUCCESS"

    def answer(self, ch: Channel) -> None:
        if ch.state == "Up":
            return
        self._set_state(ch, "Up")
        peer = ch.peer
        if peer is not None and peer.state != "Up" and ";1" in peer.name:
            self._set_state(peer, "Up")
            origin = peer.variables.pop("__ivr_originate_app", "")
            if origin:
                app, _, args = origin.partition(",")
                peer.app_name, peer.app_data = "Stasis", origin
                self.enter_stasis(peer, app, [args] if args else [])

    def _set_state(self, ch: Channel, state: str) -> None:
        ch.state = state
        self.world.channel_event("ChannelStateChange", ch)

    def continue_in_dialplan(self, ch: Channel, context: str | None, exten: str | None, priority: int | None) -> None:
        self.leave_stasis(ch)
        ch.app_name = ch.app_data = ""
        ch.context = context or ch.context
        ch.exten = exten or ch.exten
        # Our dialplans run Stasis() at their second step; priority 1 starts there too.
        asyncio.get_running_loop().call_soon(lambda: self._run_dialplan(ch, priority=max(2, priority or 1)))

    # -- hanging up -------------------------------------------------------------------------------------------

    def hangup(self, ch: Channel, *, cause: int, soft: bool, final_cause: int | None = None) -> None:
        """The real order: ChannelHangupRequest, the media op's final event, StasisEnd, ChannelDestroyed."""
        if ch.hanging_up or ch.id not in self.world.channels:
            return
        ch.hanging_up = True
        fields: dict[str, Any] = {"cause": cause}
        if soft:
            fields["soft"] = True
        self.world.channel_event("ChannelHangupRequest", ch, **fields)
        self._drop_ops(ch)
        self.leave_stasis(ch)
        if ch.bridge is not None:
            self.leave_bridge(ch)
        final = final_cause if final_cause is not None else cause
        self.world.channel_event("ChannelDestroyed", ch, cause=final, cause_txt=CAUSE_TEXT.get(final, "Unknown"))
        self._forget(ch)
        if ch.peer is not None:
            self.hangup(ch.peer, cause=final, soft=False)

    def drop(self, ch: Channel) -> None:
        """Vanish without a word (the whole server went away)."""
        ch.hanging_up = True
        self._drop_ops(ch)
        self._forget(ch)

    def _forget(self, ch: Channel) -> None:
        self.world.channels.pop(ch.id, None)
        if ch.talk_timer is not None:
            ch.talk_timer.cancel()
        if ch.control is not None:
            ch.control.cancel()

    def _drop_ops(self, ch: Channel) -> None:
        while not ch.ops.empty():
            ch.ops.get_nowait().abort()
        if ch.current is not None:
            current, ch.current = ch.current, None
            current.abort()
        for op in list(ch.lingering):
            op.abort()

    # -- the control queue ------------------------------------------------------------------------------------

    def queue_op(self, ch: Channel, op: Op) -> None:
        ch.ops.put_nowait(op)
        if ch.control is None or ch.control.done():
            ch.control = asyncio.create_task(self._control(ch), name=f"sim-control:{ch.id}")

    async def _control(self, ch: Channel) -> None:
        while not ch.ops.empty():
            op = ch.ops.get_nowait()
            ch.current = op
            try:
                await op.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("media operation failed on channel %s", ch.id)
            finally:
                if ch.current is op:
                    ch.current = None

    # -- audio ------------------------------------------------------------------------------------------------

    def send_audio(self, ch: Channel, sound: Sound, start: float | None = None) -> Segment:
        now = self.world.clock.now()
        start = now if start is None else min(start, now)
        seg = Segment(start, sound, start + sound.duration)
        ch.output = [s for s in ch.output if s.end > now - 3600] + [seg]
        self._audio_changed(ch)
        return seg

    def cut_audio(self, ch: Channel, seg: Segment) -> None:
        seg.end = min(seg.end, self.world.clock.now())
        self._audio_changed(ch)

    def _audio_changed(self, source: Channel) -> None:
        for listener in self._listeners(source):
            if isinstance(listener.current, LiveRecording):
                listener.current.heard_changed()
            if listener.talk_detect is not None:
                self._talk_schedule(listener)

    def _listeners(self, source: Channel) -> list[Channel]:
        out = [source.peer] if source.peer is not None else []
        if source.bridge is not None:
            out += [c for c in source.bridge.channels if c is not source and c not in out]
        return out

    def _talk_schedule(self, ch: Channel) -> None:
        """TALK_DETECT: talking starts after talk_threshold of speech; it only ends inside a stream of
        frames (a pause longer than silence_threshold); a Local channel that stops sending sends nothing."""
        assert ch.talk_detect is not None
        silence_s, talk_s = ch.talk_detect
        if ch.talk_timer is not None:
            ch.talk_timer.cancel()
            ch.talk_timer = None
        now = self.world.clock.now()
        stretches = heard_speech(ch, now - 60, float("inf"), join=0.04)
        if ch.talking_since is None:
            for a, b in stretches:
                if b - a >= talk_s and a + talk_s >= now - 0.001:
                    ch.talk_timer = self.world.clock.call_at(a + talk_s, functools.partial(self._talk_started, ch, a))
                    return
            return
        streaming = [seg for src in ch.heard_from() for seg in src.output if seg.end > now]
        for (_, b), (a2, _) in itertools.pairwise(stretches):
            if a2 - b >= silence_s and b + silence_s > now and any(s.start <= b and s.end >= b + silence_s
                                                                    for s in streaming):
                ch.talk_timer = self.world.clock.call_at(b + silence_s, functools.partial(self._talk_finished, ch, b))
                return

    def _talk_started(self, ch: Channel, since: float) -> None:
        if ch.id in self.world.channels:
            ch.talking_since = since
            self.world.channel_event("ChannelTalkingStarted", ch)
            self._talk_schedule(ch)

    def _talk_finished(self, ch: Channel, at: float) -> None:
        if ch.id in self.world.channels and ch.talking_since is not None:
            duration = int((at - ch.talking_since) * 1000)
            ch.talking_since = None
            self.world.channel_event("ChannelTalkingFinished", ch, duration=duration)
            self._talk_schedule(ch)

    # -- DTMF -------------------------------------------------------------------------------------------------

    async def send_dtmf(self, ch: Channel, digits: str, *, before: int, between: int, duration: int) -> None:
        """Digits sent on ``ch`` arrive on the channels that hear it, one by one."""
        await self.world.clock.sleep(before / 1000)
        for i, digit in enumerate(digits):
            if i:
                await self.world.clock.sleep(between / 1000)
            if digit == ",":
                await self.world.clock.sleep(0.5)
                continue
            await self.world.clock.sleep(duration / 1000)
            if ch.id not in self.world.channels:
                return
            for target in self._listeners(ch):
                self.world.channel_event("ChannelDtmfReceived", target, digit=digit, duration_ms=duration)
                if isinstance(target.current, LiveRecording):
                    target.current.dtmf(digit)

    # -- bridges ----------------------------------------------------------------------------------------------

    def join_bridge(self, bridge: Bridge, ch: Channel) -> None:
        if ch.bridge is bridge:
            return
        if ch.bridge is not None:
            self.leave_bridge(ch)
        ch.bridge = bridge
        bridge.channels.append(ch)
        self.world.emit("ChannelEnteredBridge", self._bridge_apps(bridge, ch), bridge=bridge.json(), channel=ch.json())

    def leave_bridge(self, ch: Channel) -> None:
        bridge = ch.bridge
        if bridge is None:
            return
        with contextlib.suppress(ValueError):
            bridge.channels.remove(ch)
        ch.bridge = None
        self.world.emit("ChannelLeftBridge", self._bridge_apps(bridge, ch), bridge=bridge.json(), channel=ch.json())

    def destroy_bridge(self, bridge: Bridge) -> None:
        for ch in list(bridge.channels):
            self.leave_bridge(ch)
        self.world.bridges.pop(bridge.id, None)
        self.world.emit("BridgeDestroyed", {bridge.creator_app} if bridge.creator_app else set(), bridge=bridge.json())

    def _bridge_apps(self, bridge: Bridge, ch: Channel) -> set[str]:
        return ch.subscribers | ({bridge.creator_app} if bridge.creator_app else set())
