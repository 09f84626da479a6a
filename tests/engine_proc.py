"""The engine as a process of its own, so a test can ``kill -9`` it: ``python engine_proc.py SPEED``.

Settings come from the IVR_* environment; SPEED is the emulator's media speed (the engine scales
its waits for the caller to match, as ``ivr demo`` does). Logs go to standard error.
"""

from __future__ import annotations

import asyncio
import os
import sys

from ivr import log
from ivr.db.writer import Database
from ivr.engine.service import Engine
from ivr.lifecycle import run_services
from ivr.settings import load


def main() -> None:
    settings = load(environ=dict(os.environ), mode="engine")
    log.setup("INFO")
    database = Database(settings.db_path)
    try:
        asyncio.run(run_services([Engine(settings, database, time_scale=float(sys.argv[1]))]))
    finally:
        database.close()


if __name__ == "__main__":
    main()
