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
        self._sweep_at = 1024  # size at which stale keys are dropped (doubling: amortised O(1) per failure)

    def _recent(self, key: str) -> int:
        """How many failures ``key`` has in the window; a key with none is forgotten."""
        stamps = self._failures.get(key)
        if stamps is None:
            return 0
        now = self._clock()
        while stamps and stamps[0] <= now - self.window_s:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
        return len(stamps)

    def blocked(self, username: str, address: str) -> bool:
        """True when either the username or the address has failed too often lately."""
        return (self._recent("u:" + username.lower()) >= self.per_user
                or self._recent("a:" + address) >= self.per_address)

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        if len(self._failures) >= self._sweep_at:
            # Sprayed usernames would otherwise stay forever, each tried once.
            for stale in [k for k, stamps in self._failures.items() if stamps[-1] <= now - self.window_s]:
                del self._failures[stale]
            self._sweep_at = max(1024, 2 * len(self._failures))
        for key in ("u:" + username.lower(), "a:" + address):
            self._recent(key)
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str, address: str | None = None) -> None:
        """Clear the username's failures; with ``address``, take back the attempt :meth:`failed` counted for it.

        Sign-in counts each attempt as failed *before* the slow password check, so a burst of parallel
        tries cannot all pass :meth:`blocked`; a right password then takes its attempt back here.
        """
        self._failures.pop("u:" + username.lower(), None)
        if address is None:
            return
        stamps = self._failures.get("a:" + address)
        if stamps:
            stamps.pop()
            if not stamps:
                del self._failures["a:" + address]

    @property
    def wait_minutes(self) -> int:
        return int(self.window_s // 60)
