"""What an alert message says: the case id, its language, the time and a link. Nothing else.

Never a phone number, a transcript, a case code or a name: an email or a chat message
can be read by anyone who gets hold of the inbox or the phone it lands on.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from ivr.settings import Settings


def build(db: sqlite_utils.Database, settings: Settings, case_id: int) -> dict[str, Any]:
    row = db.execute("select language, created_at from cases where id = ?", [case_id]).fetchone()
    language, opened = (row[0], row[1]) if row else (None, None)
    base = (settings.public_url or f"http://{settings.admin_bind}").rstrip("/")
    return {"event": "emergency", "case_id": case_id, "language": language, "opened_at": opened,
            "link": f"{base}/cases/{case_id}"}


def email_text(payload: dict[str, Any]) -> tuple[str, str]:
    subject = f"EMERGENCY on the hotline: case {payload['case_id']}"
    body = (f"An emergency case was opened on the hotline and nobody has taken it yet.\n\n"
            f"Case: {payload['case_id']}\nCaller's language: {payload['language'] or 'not chosen'}\n"
            f"Opened (UTC): {payload['opened_at']}\n\nOpen it: {payload['link']}\n")
    return subject, body
