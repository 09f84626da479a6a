"""Timestamps in the database's format, for moments other than now (see :func:`ivr.db.utcnow`)."""

from __future__ import annotations

from datetime import UTC, datetime


def stamp(moment: datetime) -> str:
    """``2026-11-24T10:05:00.000000Z``: ISO-8601 UTC text, which sorts and compares as time does."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
