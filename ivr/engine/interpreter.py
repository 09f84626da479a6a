"""The flow interpreter: walks one call's nodes until the call ends.

For each node: its actions in order, then its wait or its router, then its exit for the category
that yielded. Each kind is looked up by name in a handler table (actions and routers:
:mod:`ivr.engine.steps`; waits: :mod:`ivr.engine.waits`); each handler takes the call's context
(:class:`ivr.engine.session.Session`) and the step's arguments. Every step is written to
``call_steps``. Whatever happens — the caller hangs up, presses the quick-exit key, or the engine
hits a bug — the call row is closed with its outcome and every recording is brought home.
"""

from __future__ import annotations

import asyncio
import contextlib

from ivr.ari.errors import AriError
from ivr.engine import resume, store
from ivr.engine.channel import HungUp, QuickExit
from ivr.engine.session import Session
from ivr.engine.steps import ACTIONS, ROUTERS, open_call_case
from ivr.engine.waits import WAITS, after_salvage, record_message
from ivr.flows.model import Node

# A flow that moves this many times without the call ending is broken (the checker catches most).
MAX_TRANSITIONS = 400
# Where the dialplan takes a caller the engine cannot serve (asterisk_conf/extensions.conf).
FALLBACK_CONTEXT = "hotline-fallback"


class FlowBug(Exception):
    """The flow led somewhere the engine cannot follow (e.g. no exit for a category)."""


async def run(s: Session, start: str | None = None, *, resumed: bool = False) -> None:
    """Run the flow from ``start`` (a resumed call restarts its last node) until the call ends.

    A resumed call first salvages what the caller said before the old engine died.
    """
    try:
        first = await _resume(s, start or s.flow.start) if resumed else None
        await _walk(s, start or s.flow.start, first)
    except QuickExit:
        s.state.outcome = "quick_exit"
        s.log.info("quick exit")
        await s.ch.hangup()
    except HungUp:
        pass
    except asyncio.CancelledError:
        # The engine is stopping: the channel stays in Stasis for the next engine to resume.
        # What the caller already said is filed now; the call row stays open.
        for take in list(s.state.takes):
            with contextlib.suppress(Exception):
                await s.release(take)
        with contextlib.suppress(Exception):
            await s.code_hashed()   # else the next engine hashes the sealed code
        s.log.info("engine stopping; call left at node=%s to resume", s.state.node)
        raise
    except Exception:
        s.log.exception("unexpected error at node=%s; apologising and taking a message", s.state.node)
        s.state.outcome = "error"
        await _rescue(s)
    await s.finish()


async def _resume(s: Session, node_id: str) -> str | None:
    """Salvage first; in a record step with a message saved, the category it ends with."""
    node = s.flow.nodes[node_id]
    s.state.node = node.id
    recording = node.wait is not None and node.wait.kind == "record"
    limit = s.secs(int(node.wait.args.get("max_duration", 180))) if recording and node.wait else 180.0
    saved = await resume.salvage(s, wall_limit=limit)
    if not recording or not saved or node.wait is None:
        return None
    category = await after_salvage(s, node.wait.args)
    await s.step(node.id, "record", input="resumed", category=category)
    return category


async def _walk(s: Session, node_id: str, first: str | None = None) -> None:
    """Walk from ``node_id``; ``first``: that node's category is already known (a salvaged take)."""
    state = s.state
    for _ in range(MAX_TRANSITIONS):
        node = s.flow.nodes[node_id]
        state.node = node.id
        if first is not None:
            category: str | None = first
            first = None
            state.vars["choice"] = category
            node_id = _after(s, node, category)
            continue
        if node.wait is not None or s.given:
            s.given = False
            await _save(s, last_node=node.id)   # where a resumed call picks up again
        for action in node.actions:
            await ACTIONS[action.kind](s, action.args)
            if s.ch.ended:
                return
        category = None
        if node.wait is not None:
            category, shown = await WAITS[node.wait.kind](s, node.wait.args)
            await s.step(node.id, node.wait.kind, input=shown, category=category)
            state.vars["choice"] = category
        elif node.router is not None:
            category = await ROUTERS[node.router.kind](s, node.router.args)
            await s.step(node.id, node.router.kind, category=category)
        if node.report == "menu_choice" and category not in (None, "no_input", "invalid"):
            state.menu_choice = category
            await _save(s, menu_choice=category)
        if _next(s, node, category) is None and node.ends_call():
            return
        node_id = _after(s, node, category)
    raise FlowBug(f"more than {MAX_TRANSITIONS} transitions without the call ending")


def _after(s: Session, node: Node, category: str | None) -> str:
    nxt = _next(s, node, category)
    if nxt is None:
        raise FlowBug(f"node {node.id}: no exit for category {category!r}")
    return nxt


def _next(s: Session, node: Node, category: str | None) -> str | None:
    if category is not None and category in node.exits:
        return node.exits[category]
    if category == "operator" and s.flow.operator:
        return s.flow.operator
    return node.exit


async def _save(s: Session, **fields: str) -> None:
    call_id = s.state.call_id
    await s.write(lambda db: store.update_call(db, call_id, **fields))


# Takes the rescue voicemail offers. It has no review menu, so a caller still silent when the first ends
# (unsure after the apology, or not alone yet) is told nothing was heard and gets one more.
RESCUE_TAKES = 2


async def _rescue(s: Session) -> None:
    """Never strand a caller: apologise, then take a voicemail, else hand back to the dialplan."""
    if s.ch.ended:
        return
    with contextlib.suppress(HungUp, QuickExit, AriError):
        await s.ch.play(s.media(["apology_message"]), lang=s.lang, barge_in=False)
    try:
        if s.state.case_id is None:
            await open_call_case(s, emergency=False)
        kept = False
        for take in range(RESCUE_TAKES):
            prompts = ["record_instructions"] if take == 0 else ["no_input", "record_instructions"]
            category, _ = await record_message(s, {"prompts": prompts, "beep": True, "review": False})
            if kept := category != "empty":
                break
        # "Saved" only when something was: a caller told so after a silent take would hang up and be lost.
        await s.ch.play(s.media(["message_saved", "goodbye"] if kept else ["goodbye"]), lang=s.lang, barge_in=False)
        await s.ch.hangup()
    except (HungUp, QuickExit):
        return
    except Exception:
        s.log.exception("voicemail rescue failed; continuing in the dialplan fallback")
        with contextlib.suppress(AriError):
            await s.call.client.continue_in_dialplan(s.call.channel_id, context=FALLBACK_CONTEXT,
                                                     extension="s", priority=1)
            s.ch.ended = True
