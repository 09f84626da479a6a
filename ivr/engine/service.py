"""The call engine as a Service: the Stasis app, one session per call, live transfers.

``Engine(settings, database)``: ``start()`` loads the flow (a broken flow stops start-up
with its problems), imports the dialplan's fallback voicemails, then connects to ARI.
Each channel entering the app runs in its own task: its context (:class:`ivr.engine.session.Session`)
run by :func:`ivr.engine.interpreter.run`. A channel that was mid-call when the
engine (or its socket) went away comes back with ``Call.resumed`` and continues from the
node it was on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from ivr.ari.client import AriClient
from ivr.ari.errors import AriError
from ivr.ari.events import ChannelDestroyed, ChannelHangupRequest, StasisEnd
from ivr.ari.stasis import Call, StasisApp
from ivr.db.connect import utcnow
from ivr.db.writer import Database
from ivr.engine import codehash, interpreter, orphans, resume, store
from ivr.engine.background import Background
from ivr.engine.channel import HungUp
from ivr.engine.fallback import import_fallback
from ivr.engine.integrity import log_problems
from ivr.engine.session import CallState, Prompts, Session, new_call_state
from ivr.engine.waits import agent_channel_id
from ivr.flows.load import FlowError, flow_path, load_flow
from ivr.flows.model import Flow
from ivr.log import CallLog
from ivr.oncall.escalation import EscalationService
from ivr.oncall.phone import is_leg as is_oncall_leg
from ivr.protection import casecode
from ivr.protection.caller import caller_ref
from ivr.settings import Settings, SettingsError

log = logging.getLogger(__name__)

AGENT_ARG = "agent"
# Voicemails the dialplan takes while the engine runs (its socket was down, or it handed a caller
# over) would otherwise wait for the next restart to reach a caseworker.
FALLBACK_EVERY_S = 60.0


class SpeechMenu(Protocol):
    """Hook for spoken menu answers (ivr.engine.speech.VoskMenus is the real one).

    ``choose`` listens to the caller and returns the category (a value of ``choices``,
    digit -> category) whose words in ``phrases`` (category -> words) they said, or None
    to fall back to the keypad.
    """

    async def choose(self, session: Session, lang: str, choices: dict[str, str],
                     phrases: dict[str, list[str]]) -> str | None: ...


class Engine:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        prompts: Prompts | None = None,
        speech: SpeechMenu | None = None,
        client: AriClient | None = None,
        time_scale: float = 1.0,
        fallback_every: float = FALLBACK_EVERY_S,
        escalations: EscalationService | None = None,
        hasher: Callable[[str], str] = casecode.hash_code,
    ) -> None:
        self.name = "engine"
        self.settings = settings
        self.database = database
        self.prompts = prompts
        self.speech = speech
        self.time_scale = time_scale
        self.fallback_every = fallback_every
        self.background = Background()
        self.hasher = hasher   # the case code's slow hash (tests make it slow to show no caller waits for it)
        self.client = client or AriClient(settings.ari_url, settings.ari_user, settings.ari_password)
        self.app = StasisApp(self.client, settings.ari_app, self.handle)
        self.flow: Flow | None = None
        self.sessions: dict[str, Session] = {}
        self._agents: dict[str, asyncio.Future[Call]] = {}
        self._agent_gone: dict[str, asyncio.Event] = {}
        self._importer: asyncio.Task[None] | None = None
        self._ready: asyncio.Task[None] | None = None
        self.started_at = utcnow()
        # Emergencies ring the on-call rota (ivr/oncall); built in start() unless given.
        self.escalations = escalations

    # -- Service -------------------------------------------------------------------------------------

    async def start(self) -> None:
        # Calls opened before this moment belong to an earlier engine process (see _sweep_orphans).
        self.started_at = utcnow()
        try:
            self.flow = load_flow(flow_path(self.settings.flows_dir, self.settings.flow))
        except FlowError as exc:
            raise SettingsError(f"IVR_FLOW: {exc.problems[0]}") from None
        if self.speech is None and self.settings.models_dir.is_dir():
            from ivr.engine.speech import VoskMenus

            self.speech = VoskMenus(self.settings.models_dir)
        if self.prompts is None:
            from ivr.prompts.resolve import PromptResolver

            self.prompts = PromptResolver(self.settings)
        if self.escalations is None:
            from ivr.oncall.service import build_escalations

            self.escalations = build_escalations(self.settings, self.database, self.client, self.prompts,
                                                 time_scale=self.time_scale)
        await import_fallback(self.settings, self.database)
        await asyncio.to_thread(log_problems, self.settings)   # a stored message damaged since: say so now
        self._importer = asyncio.create_task(self._import_fallback_every(self.fallback_every), name="fallback-import")
        await self.app.start()
        await self.escalations.start()
        # Ready means the event socket is connected: before that no call can reach the engine.
        if not self.app.connected.is_set():
            log.warning("engine not ready: Asterisk at %s cannot be reached yet; retrying", self.settings.ari_url)
        self._ready = asyncio.create_task(self._log_ready(), name="engine-ready")

    async def _log_ready(self) -> None:
        await self.app.connected.wait()
        assert self.flow is not None
        log.info("engine ready: flow=%s version=%s app=%s", self.flow.name, self.flow.version, self.settings.ari_app)
        await self.app.reconciled.wait()
        await self._sweep_orphans()
        await self._hash_left_codes()

    async def stop(self) -> None:
        if self._ready is not None:
            self._ready.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ready
        if self._importer is not None:
            self._importer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._importer
        if self.escalations is not None:
            await self.escalations.stop()
        await self.app.stop()
        await self.client.close()
        self.background.close()

    async def _import_fallback_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await import_fallback(self.settings, self.database)
            except Exception:   # a full disk, a locked database: try again next round
                log.exception("fallback voicemail import failed; next try in %.0fs", seconds)
            await self._sweep_orphans()
            await self._hash_left_codes()

    async def hash_code(self, code: str) -> str:
        """The case code's slow hash on the engine's hashing threads: what the sweeps use, as calls do
        (``Session`` runs the same ``hasher`` on the same ``background``), so a test's slow or failing
        hasher covers them all, and a sweep never adds hashing threads beside the calls' in a burst."""
        return await self.background.run(self.hasher, code)

    async def _hash_left_codes(self) -> None:
        """Hash the case codes whose hash a call could not store (ivr/engine/codehash.py)."""
        try:
            await codehash.sweep(self.settings, self.database, self.hash_code)
        except Exception:   # a locked database: the sealed codes stay, try again next round
            log.exception("case codes left unhashed not finished; next try in %.0fs", self.fallback_every)

    async def _sweep_orphans(self) -> None:
        """Finish calls an earlier engine left open whose caller has gone (ivr/engine/orphans.py)."""
        if not self.app.reconciled.is_set():
            return   # the socket is down or calls are being picked up again: judge nothing now
        try:
            await orphans.sweep(self.settings, self.database, self.client, started_before=self.started_at,
                                held=lambda: set(self.app.calls), hash_code=self.hash_code,
                                background=self.background)
        except Exception:   # a full disk, a locked database: try again next round
            log.exception("orphaned calls not finished; next try in %.0fs", self.fallback_every)

    # -- calls ----------------------------------------------------------------------------------------

    async def handle(self, call: Call) -> None:
        # An on-call staff member's phone we rang for an emergency.
        if self.escalations is not None and is_oncall_leg(call):
            await self.escalations.take_leg(call)
            return
        # A caseworker's leg we originated (known by the channel id we gave it; args as a fallback).
        if call.channel_id in self._agents or (call.args and call.args[0] == AGENT_ARG):
            await self._agent_leg(call)
            return
        assert self.flow is not None and self.prompts is not None
        state, start = await self._state_for(call)
        session = Session(settings=self.settings, database=self.database, flow=self.flow, prompts=self.prompts,
                          call=call, state=state, engine=self, time_scale=self.time_scale,
                          background=self.background, hasher=self.hasher)
        self.sessions[call.channel_id] = session
        if state.code_unhashed and state.case_id is not None and state.case_code is not None:
            # The old engine died between opening the case and storing its code's hash.
            session.hash_code_later(state.case_id, state.case_code)
        try:
            # A resumed call may have been left before its answer (the old engine died in between).
            if not call.resumed or call.channel.get("state") != "Up":
                try:
                    await call.client.answer(call.channel_id)
                except AriError:
                    session.ch.ended = True
            await interpreter.run(session, start, resumed=call.resumed and start is not None)
        finally:
            self.sessions.pop(call.channel_id, None)

    async def _state_for(self, call: Call) -> tuple[CallState, str | None]:
        """A new call's state, or a resumed call's from its row (language, case, node)."""
        flow = self.flow
        assert flow is not None
        if call.resumed:
            row = await self.database.read(lambda db: store.open_call_for_channel(db, call.channel_id))
            if row is not None:
                state = CallState(call_id=row["id"], channel_id=call.channel_id, caller_ref=row["caller_ref"],
                                  number=str((call.channel.get("caller") or {}).get("number") or "") or None,
                                  language=row["language"] or self.settings.languages[0],
                                  repeat=bool(row["repeat_caller"]), case_id=row["case_id"],
                                  menu_choice=row["menu_choice"])
                settings = self.settings
                await self.database.read(lambda db: resume.restore(db, settings, row, state))
                CallLog(log, state.call_id).info("resumed at node=%s", row["last_node"] or flow.start)
                node = row["last_node"] if row["last_node"] in flow.nodes else None
                return state, node
        number = (call.channel.get("caller") or {}).get("number")
        ref = caller_ref(self.settings.key("caller-ref"), number)
        state = new_call_state(self.settings, call.channel, ref)
        cid, chan, name, version = state.call_id, call.channel_id, flow.name, flow.version
        state.repeat = await self.database.write(
            lambda db: store.open_call(db, call_id=cid, channel_id=chan, caller_ref=ref, flow=name, version=version)
        )
        CallLog(log, cid).info("call started channel=%s repeat=%s", chan, state.repeat)
        return state, None

    # -- live transfer ----------------------------------------------------------------------------------

    async def transfer(self, session: Session, endpoint: str, *, timeout: float) -> bool:  # noqa: ASYNC109
        """Ring the caseworker queue; bridge the caller in if someone answers within ``timeout``."""
        agent_id = agent_channel_id(session.state.call_id)
        answered: asyncio.Future[Call] = asyncio.get_running_loop().create_future()
        self._agents[agent_id] = answered
        gone = self._agent_gone[agent_id] = asyncio.Event()
        bridge_id: str | None = None
        try:
            try:
                await self.client.originate(endpoint, app=self.settings.ari_app,
                                            app_args=f"{AGENT_ARG},{agent_id}", channel_id=agent_id,
                                            timeout=max(1, round(timeout * self.time_scale)))   # media seconds
            except AriError as exc:
                session.log.info("transfer: could not ring the caseworkers (%s)", type(exc).__name__)
                return False
            # A caller who hangs up (or presses quick exit) while it rings ends the ringing too.
            if not await session.ch.listen_until(answered, timeout):
                session.log.info("transfer: nobody answered")
                return False
            agent = answered.result()
            bridge_id = await self._bridge(session, agent.channel_id, gone, "caseworker")
            return True
        finally:
            # Whatever happened, the caseworker's leg never stays ringing or alone in a bridge.
            if bridge_id is not None:
                with contextlib.suppress(AriError):
                    await self.client.destroy_bridge(bridge_id)
            agents = {agent_id} | ({answered.result().channel_id} if answered.done() else set())
            for channel_id in agents:
                with contextlib.suppress(AriError):
                    await self.client.hangup(channel_id)
            self._agents.pop(agent_id, None)
            self._agent_gone.pop(agent_id, None)

    async def _bridge(self, session: Session, other: str, gone: asyncio.Event, who: str) -> str:
        """Bridge the caller with ``other`` and stay until either leaves (the caller: HungUp).
        Returns the bridge id; the caller of this method destroys it."""
        bridge_id = str((await self.client.create_bridge("mixing"))["id"])
        try:
            await self.client.add_to_bridge(bridge_id, [session.call.channel_id, other])
            session.log.info("transfer: %s answered; bridged", who)
            while not gone.is_set():
                event = await session.call.next_event(1.0)
                if isinstance(event, ChannelHangupRequest | ChannelDestroyed | StasisEnd):
                    session.ch.ended = True
                    raise HungUp
        except BaseException:
            with contextlib.suppress(AriError):
                await self.client.destroy_bridge(bridge_id)
            raise
        return bridge_id

    def emergency_opened(self, case_id: int) -> None:
        """The flow opened (or raised) an emergency case: ring the on-call rota now."""
        if self.escalations is not None:
            self.escalations.case_opened(case_id)

    def oncall_staffed(self) -> bool:
        return self.escalations is not None and self.escalations.staff_count > 0

    async def hold_for_oncall(self, session: Session, timeout: float) -> bool:  # noqa: ASYNC109
        """Keep an emergency caller on the line while the rota is rung; bridge whoever presses 1."""
        case_id = session.state.case_id
        if self.escalations is None or case_id is None:
            return False
        holding = self.escalations.hold(case_id)
        bridge_id: str | None = None
        try:
            if not await session.ch.listen_until(holding, timeout):
                session.log.info("transfer: no on-call staff took the case while the caller held")
                return False
            handoff = holding.result()
            bridge_id = await self._bridge(session, handoff.call.channel_id, handoff.gone, "on-call staff")
            return True
        finally:
            self.escalations.unhold(case_id, holding)
            if bridge_id is not None:
                with contextlib.suppress(AriError):
                    await self.client.destroy_bridge(bridge_id)
            if holding.done() and not holding.cancelled():
                with contextlib.suppress(AriError):
                    await self.client.hangup(holding.result().call.channel_id)

    async def _agent_leg(self, call: Call) -> None:
        agent_id = call.channel_id if call.channel_id in self._agents else [*call.args, "", ""][1]
        future = self._agents.get(agent_id)
        if future is None or future.done():
            with contextlib.suppress(AriError):
                await call.client.hangup(call.channel_id)
            return
        future.set_result(call)
        while not call.hung_up:
            event: Any = await call.next_event(5.0)
            if isinstance(event, StasisEnd):
                break
        gone = self._agent_gone.get(agent_id)
        if gone is not None:
            gone.set()
