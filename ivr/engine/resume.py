"""A call picked up again after the engine died: salvage first, then carry on where the caller is.

An engine can be killed (``kill -9``, an upgrade, a crash) while a caller speaks. Asterisk keeps the
channel in Stasis and keeps any live recording going while no app is connected (res_stasis only
deactivates the app; the channel's control loop, which runs the recording, goes on), so the next
engine gets the call back with ``Call.resumed``. What it does then:

1. :func:`restore` rebuilds the call's state from its row: language, case, main-menu choice, the
   case's category and workplace code, the take counter (from the names of the call's recordings,
   so a new take never reuses a name), and the case code if it was not yet read back twice (its hash
   is stored now if the old engine died before it had, see ``Session.hash_code_later``).
2. :func:`salvage` runs before anything is played or recorded again: a take brought home but not
   released (the caller was reviewing it) is released; a live recording of the call is followed
   to its end (the caller may still be speaking: '#' or silence ends it as before); a stored
   recording of the call that no row names is fetched and verified like any take. All of them are
   attached to the call's case.
3. The session restarts its last saved node. The resume point is saved at every wait and, beyond
   that, at the first node after one that changed what the caller has given (a take released, a
   case opened or found by its code, a call-back asked, an alert raised).

The resume table, node kind by node kind, is in callflows/README.md ("Resuming after an engine
restart"); tests/test_engine_resume.py plays each row against the emulator.

Why the case code is sealed on the call row: the case keeps only a slow salted hash, so a resumed
call could not read the code back, and a caller who never hears their code cannot follow up.
The code is sealed with Fernet under a key derived from the deployment secret for this purpose
only, kept on the open call row until it was read back twice, and wiped then, or when the call
ends, whichever comes first. Nobody with the database alone can read it, and it lives no longer
than the call, unless its hash could not be stored during the call: then it stays until the engine's
sweep has stored the hash (ivr/engine/codehash.py), since it is all that makes the code work.
"""

from __future__ import annotations

from typing import Any

from ivr.ari.errors import AriError
from ivr.engine import store
from ivr.engine.channel import HungUp, QuickExit
from ivr.engine.recordings import Stored, file_sha256
from ivr.engine.session import CallState, Session, Take
from ivr.protection.caller import NumberVault, VaultError
from ivr.settings import Settings

CODE_KEY = "case-code-resume"
READBACKS_KEPT = 2   # read back this many times, the sealed code is wiped
LIVE_STATES = ("queued", "recording", "paused")


def take_prefix(call_id: str) -> str:
    return f"ivr-{call_id}-"


def take_number(name: str | None, call_id: str) -> int:
    """The attempt number in a take's name (``ivr-<call>-<n>``), 0 if it is not one of this call's."""
    prefix = take_prefix(call_id)
    if not name or not name.startswith(prefix):
        return 0
    tail = name[len(prefix):]
    return int(tail) if tail.isdigit() else 0


# -- the case code ------------------------------------------------------------------------------------------

def seal_code(settings: Settings, code: str) -> str:
    return NumberVault(settings.key(CODE_KEY)).seal(code)


def open_code(settings: Settings, token: str | None) -> str | None:
    if not token:
        return None
    try:
        return NumberVault(settings.key(CODE_KEY)).open(token)
    except VaultError:
        return None   # another secret (rotated): the read-back is skipped, the case is intact


async def code_read_back(s: Session) -> None:
    """The case code was just read to the caller: after the second time, wipe its sealed copy."""
    st = s.state
    st.code_readbacks += 1
    if st.code_readbacks == READBACKS_KEPT:
        call_id = st.call_id
        await s.write(lambda db: store.wipe_sealed_code(db, call_id, code_readbacks=READBACKS_KEPT))


# -- state -----------------------------------------------------------------------------------------------------

def restore(db: Any, settings: Settings, row: dict[str, Any], state: CallState) -> None:
    """Fill a resumed call's state from the database (runs in a reader thread)."""
    state.code_readbacks = int(row.get("code_readbacks") or 0)
    if state.code_readbacks < READBACKS_KEPT:
        state.case_code = open_code(settings, row.get("code_sealed"))
    if state.case_id is not None:
        case = db.execute("select category, workplace_code, emergency, code_hash is null and code_tag is not null"
                          " from cases where id = ?", [state.case_id]).fetchone()
        if case is not None:
            state.category, state.workplace_code, state.emergency = case[0], case[1], bool(case[2])
            # Opened by this call, which died before its code's hash was stored: the session stores it.
            state.code_unhashed = bool(case[3]) and state.case_code is not None
    names = [r[0] for r in db.execute("select asterisk_name from recordings where call_id = ?", [state.call_id])]
    state.recordings = max([take_number(n, state.call_id) for n in names] + [0])


# -- salvage ------------------------------------------------------------------------------------------------

async def salvage(s: Session, *, wall_limit: float) -> int:
    """File every take of this call that Asterisk or the data dir holds; return how many hold a voice.

    ``wall_limit``: how long a live take may still run (the record node's maximum, in wall seconds).
    """
    st = s.state
    call_id = st.call_id
    rows = await s.database.read(lambda db: store.call_takes(db, call_id))
    known = {str(r["asterisk_name"]) for r in rows if r["asterisk_name"]}
    saved = 0
    # Brought home, never released: the old engine died while the caller reviewed the take.
    for r in rows:
        if r["state"] not in ("stored", "empty") or r["released_at"] is not None or r["queued"]:
            continue
        path = s.settings.data_dir / str(r["path"])
        digest = await s.background.run(file_sha256, path)
        if digest != r["sha256"]:
            s.log.error("recording=%d: its file is missing or changed; left for `ivr check`", r["id"])
            continue
        empty = r["state"] == "empty"
        stored = Stored(path, str(r["path"]), int(r["size_bytes"]), str(r["sha256"]), float(r["duration_s"] or 0),
                        empty)
        await s.release(Take(int(r["id"]), str(r["asterisk_name"]), stored, empty))
        s.log.info("resume: recording=%d kept (it was under review)", r["id"])
        saved += 0 if empty else 1
    # On Asterisk: a take still recording, or one that ended while no engine listened.
    try:
        on_asterisk = {str(x.get("name")) for x in await s.call.client.list_stored_recordings()}
    except AriError as exc:
        s.log.warning("resume: stored recordings could not be listed (%s)", type(exc).__name__)
        on_asterisk = set()
    mine = {n for n in on_asterisk if take_number(n, call_id)}
    st.recordings = max([st.recordings] + [take_number(n, call_id) for n in mine])
    # The next name is the take the old engine may have started without any trace in the database.
    candidates = (mine - known) | ({f"{take_prefix(call_id)}{st.recordings + 1}"} - known)
    for name in sorted(candidates, key=lambda n: take_number(n, call_id)):
        result = None
        if await _is_live(s, name):
            s.log.info("resume: recording %s still running; following it", name)
            result = await s.ch.follow_recording(name, wall_limit=wall_limit)
        elif name not in mine:
            continue
        st.recordings = max(st.recordings, take_number(name, call_id))
        take = await s.bring_home(name, None if result is None else result.duration)
        await s.release(take)
        if take.stored is not None and not take.empty:
            saved += 1
        s.log.info("resume: recording=%d salvaged", take.recording_id)
        if result is not None and result.hung_up:
            raise HungUp
        if result is not None and result.quick_exit:
            raise QuickExit
    if saved and st.case_id is not None:
        case_id = st.case_id
        await s.write(lambda db: store.attach_recordings(db, call_id, case_id))
    return saved


async def _is_live(s: Session, name: str) -> bool:
    try:
        live = await s.call.client.get_live_recording(name)
    except AriError:   # 404: not recording (any more); anything else: what is stored is fetched below
        return False
    return str(live.get("state", "")) in LIVE_STATES
