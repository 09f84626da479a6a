"""Alert webhook: a JSON POST over https, signed with HMAC-SHA256, for the organisation's chat bridge.

Headers: ``X-IVR-Timestamp`` (Unix seconds) and ``X-IVR-Signature: sha256=<hex>``, the
HMAC-SHA256 with IVR_ALERT_WEBHOOK_SECRET of ``<timestamp>.<body>``. The receiver
recomputes it over the raw body and rejects old timestamps, so a copied request cannot be
replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
from typing import Any

import aiohttp

from ivr.oncall.email import tls_context
from ivr.settings import Settings

TIMEOUT_S = 15.0
SIGNATURE_HEADER = "X-IVR-Signature"
TIMESTAMP_HEADER = "X-IVR-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookError(Exception):
    """The receiver did not take the message (its status, never the body)."""


async def send(session: aiohttp.ClientSession, settings: Settings, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
               SIGNATURE_HEADER: signature(settings.alert_webhook_secret, timestamp, body)}
    context: ssl.SSLContext = tls_context(settings)
    async with session.post(settings.alert_webhook_url, data=body, headers=headers, ssl=context,
                            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S), allow_redirects=False) as response:
        if not 200 <= response.status < 300:
            raise WebhookError(f"HTTP {response.status}")
