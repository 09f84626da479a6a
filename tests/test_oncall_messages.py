"""Alert email (a real aiosmtpd server with STARTTLS) and the signed webhook (a real HTTPS aiohttp server)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from aiohttp import web
from aiosmtpd.controller import Controller
from conftest import free_port
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ivr.db.writer import Database
from ivr.oncall import store
from ivr.oncall.messages import MessageSender
from ivr.oncall.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER
from ivr.settings import Settings

SECRET = "webhook-secret-0123456789"
NUMBER = "+66812345678"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is its own CA)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[bool, str]] = []   # (arrived over TLS, the message)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((session.ssl is not None, envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def smtp(cert: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*cert)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=context,
                            require_starttls=True)
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture
def plain_smtp() -> Iterator[int]:
    controller = Controller(Inbox(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port
    controller.stop()


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings.db_path)
    yield db
    db.close()


async def escalation(database: Database, channels: list[str]) -> tuple[int, int]:
    def seed(db: sqlite_utils.Database) -> tuple[int, int]:
        now = "2026-12-02T10:00:00.000000Z"
        case_id = int(db.execute(
            "insert into cases (language, priority, emergency, caller_ref, created_at, updated_at)"
            " values ('my', 3, 1, 'ref-abc', ?, ?)", [now, now]).lastrowid or 0)
        return store.open_escalation(db, case_id, channels), case_id

    return await database.write(seed)


async def test_email_goes_over_starttls_with_only_case_language_time_and_link(
        settings: Settings, database: Database, smtp: tuple[Inbox, int], cert: tuple[Path, Path]) -> None:
    inbox, port = smtp
    s = dataclasses.replace(settings, smtp_host="127.0.0.1", smtp_port=port, smtp_from="hotline@example.org",
                            alert_email_to="duty@example.org", alert_ca_file=cert[0],
                            public_url="https://hotline.example.org")
    esc_id, case_id = await escalation(database, ["email"])
    sender = MessageSender(s, database, first_wait=0.01)
    sender.send(esc_id, case_id)
    await sender.wait()
    await sender.close()
    assert len(inbox.messages) == 1
    over_tls, text = inbox.messages[0]
    assert over_tls
    assert f"EMERGENCY on the hotline: case {case_id}" in text
    assert f"https://hotline.example.org/cases/{case_id}" in text and "language: my" in text
    assert "ref-abc" not in text and NUMBER not in text
    row = await database.query_one("select state, attempts from escalation_messages where escalation_id = ?", [esc_id])
    assert row == {"state": "sent", "attempts": 1}


async def test_a_server_without_starttls_gets_nothing_and_the_failure_is_kept(
        settings: Settings, database: Database, plain_smtp: int, caplog: pytest.LogCaptureFixture) -> None:
    s = dataclasses.replace(settings, smtp_host="127.0.0.1", smtp_port=plain_smtp, smtp_from="hotline@example.org",
                            alert_email_to="duty@example.org")
    esc_id, case_id = await escalation(database, ["email"])
    sender = MessageSender(s, database, first_wait=0.01, attempts=3)
    with caplog.at_level(logging.WARNING, logger="ivr.oncall.messages"):
        sender.send(esc_id, case_id)
        await sender.wait()
    await sender.close()
    row = await database.query_one("select state, attempts, last_error from escalation_messages"
                                   " where escalation_id = ?", [esc_id])
    assert row == {"state": "failed", "attempts": 3, "last_error": "SMTPNotSupportedError"}
    assert "giving up" in caplog.text and f"case={case_id}" in caplog.text


@pytest.fixture
async def receiver(cert: tuple[Path, Path]) -> AsyncIterator[tuple[str, list[dict[str, Any]], list[int]]]:
    """An HTTPS chat bridge that checks the signature; it fails the first request (a retry must follow)."""
    got: list[dict[str, Any]] = []
    statuses: list[int] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        stamp = request.headers[TIMESTAMP_HEADER]
        expected = "sha256=" + hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(expected, request.headers[SIGNATURE_HEADER])
        status = 401 if not ok else (500 if not statuses else 204)
        statuses.append(status)
        if status == 204:
            got.append(json.loads(body))
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*cert)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    yield f"https://127.0.0.1:{port}/hook", got, statuses
    await runner.cleanup()


async def test_webhook_is_signed_retried_and_carries_no_personal_data(
        settings: Settings, database: Database, cert: tuple[Path, Path],
        receiver: tuple[str, list[dict[str, Any]], list[int]]) -> None:
    url, got, statuses = receiver
    s = dataclasses.replace(settings, alert_webhook_url=url, alert_webhook_secret=SECRET, alert_ca_file=cert[0])
    esc_id, case_id = await escalation(database, ["webhook"])
    sender = MessageSender(s, database, first_wait=0.01)
    sender.send(esc_id, case_id)
    await sender.wait()
    await sender.close()
    assert statuses == [500, 204]                      # refused once, sent again, signature good both times
    assert got == [{"event": "emergency", "case_id": case_id, "language": "my",
                    "opened_at": "2026-12-02T10:00:00.000000Z", "link": f"http://{s.admin_bind}/cases/{case_id}"}]
    row = await database.query_one("select state, attempts from escalation_messages where escalation_id = ?", [esc_id])
    assert row == {"state": "sent", "attempts": 2}


async def test_a_wrong_secret_is_refused_by_the_receiver(
        settings: Settings, database: Database, cert: tuple[Path, Path],
        receiver: tuple[str, list[dict[str, Any]], list[int]]) -> None:
    url, got, statuses = receiver
    s = dataclasses.replace(settings, alert_webhook_url=url, alert_webhook_secret="another-secret-0123456",
                            alert_ca_file=cert[0])
    esc_id, case_id = await escalation(database, ["webhook"])
    sender = MessageSender(s, database, first_wait=0.01, attempts=2)
    sender.send(esc_id, case_id)
    await sender.wait()
    await sender.close()
    assert statuses == [401, 401] and got == []
    row = await database.query_one("select state, last_error from escalation_messages where escalation_id = ?",
                                   [esc_id])
    assert row == {"state": "failed", "last_error": "refused (HTTP 401)"}
