"""Figures for the dashboard and for health/metrics endpoints: emergencies nobody has taken yet.

:func:`unacknowledged_emergencies` is the one function a health or metrics endpoint needs
(``ivr_emergencies_unacknowledged`` and ``ivr_emergency_oldest_age_seconds``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from ivr.oncall import store


@dataclass(frozen=True)
class EmergencyStatus:
    count: int                  # emergency cases still 'new' and not acknowledged
    oldest_age_s: float | None  # seconds since the oldest of them opened; None when there are none

    @property
    def oldest_words(self) -> str:
        return age_words(self.oldest_age_s)


def unacknowledged_emergencies(db: sqlite_utils.Database, now: datetime | None = None) -> EmergencyStatus:
    count, oldest, _ = store.unacknowledged(db, now)
    return EmergencyStatus(count, oldest)


def age_words(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 120:
        return f"{int(seconds)} seconds"
    if seconds < 7200:
        return f"{int(seconds // 60)} minutes"
    return f"{int(seconds // 3600)} hours"
