"""Alert email over SMTP with STARTTLS (the standard library's smtplib, run in a thread).

STARTTLS is required, with the certificate checked against the system's CAs (plus
IVR_ALERT_CA_FILE): a server that does not offer it gets no message rather than a
message in clear.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from ivr.oncall.payload import email_text
from ivr.settings import Settings

TIMEOUT_S = 20.0


def tls_context(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.alert_ca_file is not None:
        context.load_verify_locations(cafile=str(settings.alert_ca_file))
    return context


def send_sync(settings: Settings, payload: dict[str, Any]) -> None:
    subject, body = email_text(payload)
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(a.strip() for a in settings.alert_email_to.split(",") if a.strip())
    msg.set_content(body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S) as smtp:
        smtp.ehlo()
        smtp.starttls(context=tls_context(settings))   # raises SMTPNotSupportedError if not offered
        smtp.ehlo()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(msg)


async def send(settings: Settings, payload: dict[str, Any]) -> None:
    await asyncio.to_thread(send_sync, settings, payload)
