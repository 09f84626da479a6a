"""Case codes whose slow hash could not be stored during their call: hashed afterwards, then wiped.

A case keeps only a slow salted hash of its code (ivr.protection.casecode). The call computes it while
the caller listens (``Session.hash_code_later``), and the code is sealed on the call row meanwhile
(ivr.engine.resume). If the hash cannot be computed or stored then (the hashing thread ran out of
memory, the database was locked for too long), the caller has still heard a code: it must work. So the
sealed code outlives the call while its case has no hash (``store.wipe_sealed_code`` and
``store.close_call`` keep it), and :func:`sweep`, which the engine runs with its fallback import and
orphan sweep (every ``fallback_every`` seconds), hashes it, stores the hash and only then wipes the
sealed copy. Nothing is lost: a failure is logged and tried again at the next round.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ivr.cases import lifecycle
from ivr.db.writer import Database
from ivr.engine import store
from ivr.engine.resume import open_code
from ivr.log import CallLog
from ivr.settings import Settings

log = logging.getLogger(__name__)


async def sweep(settings: Settings, database: Database, hash_code: Callable[[str], Awaitable[str]]) -> list[int]:
    """Store the hash of every ended call's case code still waiting for it; return those cases' ids.

    ``hash_code``: the engine's slow hash, run on its hashing threads.
    """
    rows = await database.read(store.sealed_after_end)
    done = []
    for row in rows:
        call_id, case_id = str(row["id"]), row["case_id"]
        clog = CallLog(log, call_id)
        code_hash = None
        if row["unhashed"]:
            code = open_code(settings, row["code_sealed"])
            if code is None:
                # Sealed under another secret: no one can read it back now, so keeping it saves nothing.
                clog.error("case=%s: its sealed case code cannot be opened with this secret; wiped", case_id)
            else:
                try:
                    code_hash = await hash_code(code)
                except Exception:
                    clog.exception("case=%s: the case code's hash failed again; next try at the next sweep",
                                   case_id)
                    continue
        await database.write(functools.partial(_finish, call_id=call_id, case_id=case_id, code_hash=code_hash))
        if code_hash is not None:
            clog.info("case=%s: code hash stored after the call; sealed code wiped", case_id)
            done.append(int(case_id))
    return done


def _finish(db: Any, *, call_id: str, case_id: int | None, code_hash: str | None) -> None:
    if code_hash is not None and case_id is not None:
        lifecycle.store_code_hash(db, case_id, code_hash)
    store.update_call(db, call_id, code_sealed=None)
