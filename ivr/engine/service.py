"""The call engine as a Service: the Stasis app, one session per call, live transfers.

``Engine(settings, database)``: ``start()`` loads the flow (a broken flow stops start-up
with its problems), imports the dialplan's fallback voicemails, then connects to ARI.
Each channel entering the app runs in its own task. A channel that was mid-call when the
engine (or its socket) went away comes back with ``Call.resumed`` and continues from the
node it was on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from ivr.ari.client import AriClient
from ivr.ari.errors import AriError
from ivr.ari.events import ChannelDestroyed, ChannelHangupRequest, StasisEnd
from ivr.ari.stasis import Call, StasisApp
from ivr.db.writer import Database
from ivr.engine import store
from ivr.engine.background import Background
from ivr.engine.channel import HungUp
from ivr.engine.fallback import import_fallback
from ivr.engine.session import CallState, Prompts, Session, new_call_state
from ivr.engine.waits import agent_channel_id
from ivr.flows.load import FlowError, flow_path, load_flow
from ivr.flows.model import Flow
from ivr.log import CallLog
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
    ) -> None:
        self.name = "engine"
        self.settings = settings
        self.database = database
        self.prompts = prompts
        self.speech = speech
        self.time_scale = time_scale
        self.fallback_every = fallback_every
        self.background = Background()
        self.client = client or AriClient(settings.ari_url, settings.ari_user, settings.ari_password)
        self.app = StasisApp(self.client, settings.ari_app, self.handle)
        self.flow: Flow | None = None
        self.sessions: dict[str, Session] = {}
        self._agents: dict[str, asyncio.Future[Call]] = {}
        self._agent_gone: dict[str, asyncio.Event] = {}
        self._importer: asyncio.Task[None] | None = None
        self._ready: asyncio.Task[None] | None = None

    # -- Service -------------------------------------------------------------------------------------

    async def start(self) -> None:
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
        await import_fallback(self.settings, self.database)
        self._importer = asyncio.create_task(self._import_fallback_every(self.fallback_every), name="fallback-import")
        await self.app.start()
        # Ready means the event socket is connected: before that no call can reach the engine.
        if not self.app.connected.is_set():
            log.warning("engine not ready: Asterisk at %s cannot be reached yet; retrying", self.settings.ari_url)
        self._ready = asyncio.create_task(self._log_ready(), name="engine-ready")

    async def _log_ready(self) -> None:
        await self.app.connected.wait()
        assert self.flow is not None
        log.info("engine ready: flow=%s version=%s app=%s", self.flow.name, self.flow.version, self.settings.ari_app)

    async def stop(self) -> None:
        if self._ready is not None:
            self._ready.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ready
        if self._importer is not None:
            self._importer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._importer
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

    # -- calls ----------------------------------------------------------------------------------------

    async def handle(self, call: Call) -> None:
        # A caseworker's leg we originated (known by the channel id we gave it; args as a fallback).
        if call.channel_id in self._agents or (call.args and call.args[0] == AGENT_ARG):
            await self._agent_leg(call)
            return
        assert self.flow is not None and self.prompts is not None
        state, start = await self._state_for(call)
        session = Session(settings=self.settings, database=self.database, flow=self.flow, prompts=self.prompts,
                          call=call, state=state, engine=self, time_scale=self.time_scale,
                          background=self.background)
        self.sessions[call.channel_id] = session
        try:
            # A resumed call may have been left before its answer (the old engine died in between).
            if not call.resumed or call.channel.get("state") != "Up":
                try:
                    await call.client.answer(call.channel_id)
                except AriError:
                    session.ch.ended = True
            await session.run(start)
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
            bridge_id = str((await self.client.create_bridge("mixing"))["id"])
            await self.client.add_to_bridge(bridge_id, [session.call.channel_id, agent.channel_id])
            session.log.info("transfer: caseworker answered; bridged")
            while not gone.is_set():
                event = await session.call.next_event(1.0)
                if isinstance(event, ChannelHangupRequest | ChannelDestroyed | StasisEnd):
                    session.ch.ended = True
                    raise HungUp
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
