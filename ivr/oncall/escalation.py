"""The escalation service: an emergency case rings the on-call rota until someone takes it.

wazo-calld style: the engine's stasis handler opens the case and tells this service
(:meth:`EscalationService.case_opened`); the service rings people through
:class:`ivr.oncall.phone.Ringer` and sends email and webhook messages through
:class:`ivr.oncall.messages.MessageSender`, which never wait on each other.

It also looks at the database every ``poll_every`` seconds, so an emergency raised
elsewhere (keywords found by the transcription worker, another process) is escalated too,
and an escalation left running by a stopped engine resumes: steps the old engine had
begun are closed as 'interrupted' and the next step rings the next person, never the
same step twice. A case taken in the web UI stops the ringing within ``poll_every``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from ivr.ari.stasis import Call
from ivr.db.writer import Database
from ivr.oncall import rota, store
from ivr.oncall.messages import MessageSender
from ivr.oncall.phone import Alert, Ringer, leg_id
from ivr.settings import Settings

log = logging.getLogger(__name__)

POLL_EVERY_S = 2.0
# Someone may press 1 while the caller still hears the emergency prompt, before they hold:
# wait this long (media seconds) for the caller to get there before saying they have gone.
HOLD_GRACE_S = 20.0


@dataclass
class Handoff:
    """A staff member who pressed 1 while the caller holds: the engine bridges the two."""

    call: Call
    gone: asyncio.Event = field(default_factory=asyncio.Event)


class EscalationService:
    def __init__(self, settings: Settings, database: Database, ringer: Ringer,
                 messages: MessageSender | None = None, *, time_scale: float = 1.0,
                 poll_every: float = POLL_EVERY_S) -> None:
        self.settings = settings
        self.database = database
        self.ringer = ringer
        self.messages = messages
        self.time_scale = time_scale
        self.poll_every = poll_every
        self.staff_count = 0
        self._kick = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._stopped: dict[int, asyncio.Event] = {}
        self._holding: dict[int, asyncio.Future[Handoff]] = {}
        self._expected: dict[int, asyncio.Event] = {}   # callers on their way to hold, by case
        self._taken: set[int] = set()   # escalations taken on the phone: that leg goes on to the bridge
        self._warned_empty = False

    # -- Service -------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._watcher = asyncio.create_task(self._watch(), name="oncall-escalations")

    async def stop(self) -> None:
        tasks = [t for t in (self._watcher, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.messages is not None:
            await self.messages.close()

    # -- what the engine calls ------------------------------------------------------------------------

    def case_opened(self, case_id: int, *, caller_on_line: bool = True) -> None:
        """An emergency case was opened (or raised to emergency): escalate it now, not at the next poll."""
        log.info("oncall case=%d emergency opened; escalating", case_id)
        if caller_on_line:
            self._expected.setdefault(case_id, asyncio.Event())
        self._kick.set()

    def hold(self, case_id: int) -> asyncio.Future[Handoff]:
        """The caller of ``case_id`` is holding: whoever presses 1 is handed to the engine to bridge."""
        future: asyncio.Future[Handoff] = asyncio.get_running_loop().create_future()
        self._holding[case_id] = future
        self._expected.setdefault(case_id, asyncio.Event()).set()
        self._kick.set()
        return future

    def unhold(self, case_id: int, future: asyncio.Future[Handoff]) -> None:
        if self._holding.get(case_id) is future:
            del self._holding[case_id]
        self._expected.pop(case_id, None)     # the caller left the hold (hung up, or leaves a message)

    async def _holder(self, case_id: int) -> asyncio.Future[Handoff] | None:
        expected = self._expected.get(case_id)
        if case_id not in self._holding and expected is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(expected.wait(), HOLD_GRACE_S / self.time_scale)
        holding = self._holding.get(case_id)
        return None if holding is None or holding.done() else holding

    async def take_leg(self, call: Call) -> None:
        await self.ringer.take_leg(call)

    # -- the watcher ----------------------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            try:
                await self._scan()
            except Exception:   # a locked database, a full disk: look again next round
                log.exception("oncall: escalation scan failed; next try in %.0fs", self.poll_every)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self.poll_every)
            self._kick.clear()

    async def _scan(self) -> None:
        channels = self.messages.channels if self.messages is not None else []

        def open_new(db: Any) -> list[dict[str, Any]]:
            # The rota may change in the web UI (another process): callers hold only if someone is on it.
            self.staff_count = int(db.execute("select count(*) from oncall_staff where active = 1").fetchone()[0])
            for case_id in store.unescalated_emergencies(db):
                store.open_escalation(db, case_id, channels)
            for esc in store.running(db):
                if int(esc["id"]) in self._stopped:
                    store.taken_in_web(db, int(esc["id"]))
            return store.running(db)

        def look(db: Any) -> tuple[bool, list[dict[str, Any]]]:
            self.staff_count = int(db.execute("select count(*) from oncall_staff where active = 1").fetchone()[0])
            return bool(store.unescalated_emergencies(db)), store.running(db)

        # Most of the time there is nothing to do: read, and take the writer only when there is.
        new, running = await self.database.read(look)
        if new or running:
            running = await self.database.write(open_new)
        live = {int(e["id"]) for e in running}
        for esc_id, stopped in list(self._stopped.items()):
            if esc_id not in live and esc_id not in self._taken:
                stopped.set()          # taken in the web UI: stop ringing
        for esc in running:
            esc_id = int(esc["id"])
            if esc_id not in self._tasks:
                self._stopped[esc_id] = asyncio.Event()
                self._tasks[esc_id] = asyncio.create_task(self._escalate(esc), name=f"oncall-escalation-{esc_id}")
                self._tasks[esc_id].add_done_callback(partial(self._forget, esc_id))

    def _forget(self, esc_id: int, _task: object = None) -> None:
        self._tasks.pop(esc_id, None)
        self._stopped.pop(esc_id, None)
        self._taken.discard(esc_id)

    # -- one escalation -------------------------------------------------------------------------------

    async def _escalate(self, esc: dict[str, Any]) -> None:
        esc_id, case_id, language = int(esc["id"]), int(esc["case_id"]), esc["language"]
        stopped = self._stopped[esc_id]
        closed = await self.database.write(lambda db: store.close_interrupted(db, esc_id))
        if closed:
            log.info("oncall case=%d escalation=%d resumed; %d step(s) cut off by a restart are not rung again",
                     case_id, esc_id, closed)
        if self.messages is not None:
            self.messages.send(esc_id, case_id)          # in the background: never holds the phones up
        while not stopped.is_set():
            staff = await self.database.read(lambda db: rota.list_staff(db, active_only=True))
            self.staff_count = len(staff)
            if not staff:
                if not self._warned_empty:
                    log.error("oncall case=%d: the on-call rota has nobody; add staff with `ivr oncall add`", case_id)
                    self._warned_empty = True
                await self._pause(stopped, self.poll_every)
                continue
            self._warned_empty = False
            order = rota.call_order(staff, language, datetime.now(UTC), self.settings.tz)
            seq = await self.database.read(lambda db: store.next_seq(db, esc_id))
            if seq > 1 and (seq - 1) % len(order) == 0:
                # Everyone was rung once: a short pause, then round again.
                await self._pause(stopped, self.settings.oncall_round_pause_seconds / self.time_scale)
                if stopped.is_set():
                    break
            person = order[(seq - 1) % len(order)]
            begun = await self.database.write(partial(store.begin_step, esc_id=esc_id, staff_id=person.id,
                                                      staff_name=person.name))
            if begun is None:
                break
            step_id, seq = begun
            log.info("oncall case=%d escalation=%d step=%d ringing staff=%s", case_id, esc_id, seq, person.id)
            step = asyncio.create_task(self._step(esc_id, case_id, language, step_id, seq, person))
            stop_wait = asyncio.create_task(stopped.wait())
            try:
                await asyncio.wait({step, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop_wait.cancel()
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    step.cancel()   # the engine is stopping: the step goes with it (a restart resumes)
            if not step.done():
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await step
                await self.database.write(partial(store.set_step, step_id=step_id, state="stopped"))
                break
            error = step.exception()
            if error is not None:
                # A bug or a lost connection on one phone must not end the alert: next person.
                log.error("oncall case=%d step=%d failed (%s); ringing the next person", case_id, seq,
                          type(error).__name__, exc_info=error)
                await self.database.write(partial(store.set_step, step_id=step_id, state="failed"))
                await self._pause(stopped, self.poll_every)
                continue
            if step.result() == "acknowledged":
                break
        log.info("oncall case=%d escalation=%d over", case_id, esc_id)

    async def _pause(self, stopped: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopped.wait(), seconds)

    async def _step(self, esc_id: int, case_id: int, language: str | None, step_id: int, seq: int,
                    person: rota.Staff) -> str:
        channel_id = leg_id(esc_id, seq)
        try:
            result = await self.ringer.ring(channel_id, person)
            if isinstance(result, str):
                await self.database.write(lambda db: store.set_step(db, step_id, result))
                log.info("oncall case=%d step=%d %s", case_id, seq, result)
                return result
            call = result
            await self.database.write(lambda db: store.set_step(db, step_id, "answered", final=False))
            alert = Alert(case_id=case_id, caller_language=language, staff=person)
            answer = await self.ringer.ask(call, alert)
            if answer != "acknowledged":
                await self.database.write(lambda db: store.set_step(db, step_id, "no_ack"))
                await self.ringer.hangup(call)
                log.info("oncall case=%d step=%d answered, not taken", case_id, seq)
                return "no_ack"
            name = person.name
            self._taken.add(esc_id)
            took = await self.database.write(
                lambda db: store.acknowledge(db, esc_id, by=name, via="phone", step_id=step_id))
            if not took:
                await self.ringer.say(call, "oncall_already_taken", alert)
                await self.ringer.hangup(call)
                return "acknowledged"
            log.info("oncall case=%d step=%d taken by staff=%s on the phone", case_id, seq, person.id)
            holding = await self._holder(case_id)
            if holding is None or call.hung_up:
                await self.ringer.say(call, "oncall_caller_gone", alert)
                await self.ringer.hangup(call)
                return "acknowledged"
            await self.ringer.say(call, "oncall_connecting", alert)
            if holding.done():    # the caller hung up while we spoke
                await self.ringer.hangup(call)
                return "acknowledged"
            handoff = Handoff(call)
            holding.set_result(handoff)
            await self.ringer.wait_gone(call)
            handoff.gone.set()
            return "acknowledged"
        finally:
            self.ringer.release(channel_id)
