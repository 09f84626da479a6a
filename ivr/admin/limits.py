"""Sign-in rate limiting, per username and per client address.

Kept in memory: it slows guessing down, and a restart that forgets it costs an
attacker a restart. Failures only count; a successful sign-in clears the username.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class LoginLimiter:
    def __init__(
        self,
        *,
        per_user: int = 5,
        per_address: int = 20,
        window_s: float = 15 * 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_user = per_user
        self.per_address = per_address
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        stamps = self._failures.setdefault(key, deque())
        while stamps and stamps[0] <= now - self.window_s:
            stamps.popleft()
        return stamps

    def blocked(self, username: str, address: str) -> bool:
        """True when either the username or the address has failed too often lately."""
        return (
            len(self._recent("u:" + username.lower())) >= self.per_user
            or len(self._recent("a:" + address)) >= self.per_address
        )

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        self._recent("u:" + username.lower()).append(now)
        self._recent("a:" + address).append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop("u:" + username.lower(), None)

    @property
    def wait_minutes(self) -> int:
        return int(self.window_s // 60)
