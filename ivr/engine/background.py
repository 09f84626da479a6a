"""CPU-heavy work of a call (the case code's slow hash, checking a recording) off the event loop.

It runs on a few threads that lower their own scheduling priority, so on a busy machine the
event loop — which must stop a prompt within milliseconds of a key press — wins the CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

NICE = 10


def _lower_priority() -> None:
    # On Linux a thread's nice value is its own (PRIO_PROCESS with the thread id).
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)


class Background:
    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ivr-engine-bg",
                                        initializer=_lower_priority)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=False)
