"""The engine as a process of its own, so a test can ``kill -9`` it: ``python engine_proc.py SPEED [slow-hash]``.

Settings come from the IVR_* environment; SPEED is the emulator's media speed (the engine scales
its waits for the caller to match, as ``ivr demo`` does). Logs go to standard error. ``slow-hash``
holds every case code's hash back for a minute (the hashing threads busy with a burst of calls), so a
test can kill the engine between a case being opened and its code's hash being stored.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from ivr import log
from ivr.db.writer import Database
from ivr.engine.service import Engine
from ivr.lifecycle import run_services
from ivr.protection import casecode
from ivr.settings import load

SLOW_HASH_S = 60.0


def slow_hash(code: str) -> str:
    time.sleep(SLOW_HASH_S)
    return casecode.hash_code(code)


def main() -> None:
    settings = load(environ=dict(os.environ), mode="engine")
    log.setup("INFO")
    database = Database(settings.db_path)
    hasher = slow_hash if sys.argv[2:3] == ["slow-hash"] else casecode.hash_code
    try:
        asyncio.run(run_services([Engine(settings, database, time_scale=float(sys.argv[1]), hasher=hasher)]))
    finally:
        database.close()


if __name__ == "__main__":
    main()
