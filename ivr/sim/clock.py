"""Media time: the emulator's seconds of audio, optionally running faster than the wall clock.

With ``speed=10`` a 6 s prompt plays in 0.6 s of wall time, but the recordings, durations and
timers it produces are those of 6 s of audio. Tests use this; ``ivr demo`` and benchmarks of
realistic call lengths use ``speed=1``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Clock:
    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._origin = time.monotonic()

    def now(self) -> float:
        """Media seconds since the emulator was created."""
        return (time.monotonic() - self._origin) * self.speed

    def call_at(self, media_time: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        loop = asyncio.get_running_loop()
        delay = max(0.0, (media_time - self.now()) / self.speed)
        return loop.call_later(delay, callback)

    async def sleep(self, media_seconds: float) -> None:
        await asyncio.sleep(max(0.0, media_seconds / self.speed))

    async def wait(self, event: asyncio.Event, media_seconds: float) -> bool:
        """Wait until ``event`` is set (True) or ``media_seconds`` pass (False)."""
        if event.is_set():
            return True
        try:
            async with asyncio.timeout(max(0.0, media_seconds / self.speed)):
                await event.wait()
            return True
        except TimeoutError:
            return False
