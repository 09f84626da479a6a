"""Recording what a web UI user did, in the protection part's tamper-evident log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlite_utils

from ivr.admin.keys import User
from ivr.protection import audit


def record(
    db: sqlite_utils.Database,
    user: User | None,
    action: str,
    object_type: str | None = None,
    object_id: str | int | None = None,
    detail: Mapping[str, Any] | None = None,
    *,
    username: str | None = None,
) -> int:
    """Inside a writer function, in the same transaction as the change it records."""
    return audit.append(
        db,
        action=action,
        user_id=user.id if user else None,
        username=user.username if user else username,
        object_type=object_type,
        object_id=object_id,
        detail=detail,
    )
