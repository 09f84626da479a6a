"""Signed checkpoints of the audit chain: what the unkeyed hash chain alone cannot catch.

Someone who can write the database can drop the append-only triggers, edit a row, recompute every
later hash and restore the triggers; the chain then verifies. Against that, the chain's head is
signed with an Ed25519 key that lives outside the database and its backups
(``IVR_AUDIT_SIGNING_KEY_FILE``): every hour in ``ivr serve``, and at each retention run. A
checkpoint stores the rows it covers (since the previous one), their hashes, and a signature over
all of them, so :func:`verify` needs only the public key and names the first row that changed
after the last checkpoint that still holds.

Each new checkpoint is handed to :func:`publish`, the one place that sends it out of the machine
(today: a log line; the alert channels hook in there), so a copy survives someone deleting
checkpoints from the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ivr.db import utcnow
from ivr.db.writer import Database
from ivr.settings import Settings, SettingsError

log = logging.getLogger(__name__)


class SigningKeyError(SettingsError):
    """A signing or public key cannot be used; the message is one line naming it."""


@dataclass(frozen=True)
class Checkpoint:
    id: int
    first_id: int
    audit_id: int
    row_hash: str
    signed_at: str
    reason: str
    public_key: str
    signature: str

    def line(self) -> str:
        """One line with no personal data, to keep elsewhere."""
        return (f"audit checkpoint {self.id}: rows {self.first_id}-{self.audit_id} head {self.row_hash} "
                f"signed {self.signed_at} ({self.reason}) key {self.public_key} sig {self.signature}")


def message(first_id: int, audit_id: int, row_hash: str, row_hashes: str, signed_at: str) -> bytes:
    digest = hashlib.sha256(row_hashes.encode()).hexdigest()
    return f"ivr-audit-checkpoint/1\n{first_id}-{audit_id}\n{row_hash}\n{digest}\n{signed_at}".encode()


def public_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def generate(path: Path) -> str:
    """Write a new private key to ``path`` (mode 0600, never overwriting); return the public key's hex."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningKeyError(f"{path} already exists; refusing to overwrite a signing key") from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return public_hex(key)


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise SigningKeyError(f"IVR_AUDIT_SIGNING_KEY_FILE: cannot read {path} ({exc.strerror})") from None
    except ValueError:
        raise SigningKeyError(f"IVR_AUDIT_SIGNING_KEY_FILE: {path} is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"IVR_AUDIT_SIGNING_KEY_FILE: {path} is not an Ed25519 key")
    return key


def load_public(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text.strip()))
    except ValueError:
        raise SigningKeyError("the audit public key must be 64 hex digits (printed by `ivr audit keygen`)") from None


def outside(path: Path, data_dir: Path) -> bool:
    """True when ``path`` is not inside ``data_dir`` (which holds the database and is what is backed up)."""
    return not path.resolve().is_relative_to(data_dir.resolve())


def sign(db: sqlite_utils.Database, key: Ed25519PrivateKey, reason: str) -> Checkpoint | None:
    """Writer function: sign the rows since the last checkpoint; None when there are none."""
    last = db.execute("select max(audit_id) from audit_checkpoints").fetchall()[0][0] or 0
    rows = db.execute("select id, row_hash from audit_log where id > ? order by id", [last]).fetchall()
    if not rows:
        return None
    first_id, audit_id, row_hash = int(rows[0][0]), int(rows[-1][0]), str(rows[-1][1])
    row_hashes = "".join(str(r[1]) for r in rows)
    signed_at = utcnow()
    signature = key.sign(message(first_id, audit_id, row_hash, row_hashes, signed_at)).hex()
    values = [first_id, audit_id, row_hash, row_hashes, signed_at, reason, public_hex(key), signature]
    cursor = db.execute(
        "insert into audit_checkpoints (first_id, audit_id, row_hash, row_hashes, signed_at, reason, public_key, "
        "signature) values (?, ?, ?, ?, ?, ?, ?, ?)", values)
    return Checkpoint(int(cursor.lastrowid or 0), first_id, audit_id, row_hash, signed_at, reason,
                      public_hex(key), signature)


def publish(checkpoint: Checkpoint) -> None:
    """Send a new checkpoint out of the machine. The alert channels (issue 15) hook in here."""
    log.info("%s", checkpoint.line())


@dataclass
class Result:
    problems: list[str]
    checked: int
    last_good: int | None  # audit row id of the newest checkpoint that still holds


def verify(db: sqlite_utils.Database, public_key: Ed25519PublicKey) -> Result:
    """Check every checkpoint's signature with ``public_key`` and the rows it covers against the log."""
    current = dict(db.execute("select id, row_hash from audit_log").fetchall())
    cps = db.execute("select id, first_id, audit_id, row_hash, row_hashes, signed_at, signature "
                     "from audit_checkpoints order by id").fetchall()
    problems: list[str] = []
    last_good: int | None = None
    expected_first = 1
    for ident, first_id, audit_id, head, row_hashes, signed_at, signature in cps:
        label = f"checkpoint {ident} (rows {first_id}-{audit_id}, signed {signed_at})"
        try:
            public_key.verify(bytes.fromhex(signature),
                              message(first_id, audit_id, head, row_hashes, signed_at))
        except (InvalidSignature, ValueError):
            problems.append(f"{label}: the signature does not verify with this public key (forged, or another key)")
            continue
        if first_id != expected_first:
            problems.append(f"{label}: rows {expected_first}-{first_id - 1} are covered by no checkpoint "
                            "(a checkpoint was deleted)")
        expected_first = audit_id + 1
        hashes = [row_hashes[i:i + 64] for i in range(0, len(row_hashes), 64)]
        changed = next(((first_id + i, h) for i, h in enumerate(hashes) if current.get(first_id + i) != h), None)
        if changed is None:
            last_good = audit_id
            continue
        row_id = changed[0]
        what = "deleted" if row_id not in current else "changed"
        after = f"after the last good checkpoint (row {last_good})" if last_good else "(no earlier good checkpoint)"
        problems.append(f"row {row_id}: {what} since {label} signed it; first changed row {after}")
    return Result(problems, len(cps), last_good)


def signing_key(settings: Settings) -> Ed25519PrivateKey | None:
    """The deployment's signing key, or None when IVR_AUDIT_SIGNING_KEY_FILE is not set."""
    path = settings.audit_signing_key_file
    if path is None:
        return None
    if not outside(path, settings.data_dir):
        raise SigningKeyError(f"IVR_AUDIT_SIGNING_KEY_FILE: {path} is inside IVR_DATA_DIR, which backups copy; "
                              "keep the key elsewhere")
    return load_private(path)


async def sign_now(settings: Settings, database: Database, reason: str) -> Checkpoint | None:
    """Sign a checkpoint through the hotline's writer and publish it; None without a key or new rows."""
    key = signing_key(settings)
    if key is None:
        return None
    checkpoint = await database.write(lambda db: sign(db, key, reason))
    if checkpoint is not None:
        publish(checkpoint)
    return checkpoint


HOUR = 3600.0


class CheckpointService:
    """``ivr serve``'s hourly checkpoint, as a Service (idle when no signing key is set)."""

    name = "audit-checkpoints"

    def __init__(self, settings: Settings, database: Database, *, interval: float = HOUR) -> None:
        self.settings = settings
        self.database = database
        self.interval = interval
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Signed once at start: a wrong key file stops start-up with one line, not an hour later.
        await sign_now(self.settings, self.database, "start")
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name="audit-checkpoints")

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval)
                return
            except TimeoutError:
                pass
            try:
                await sign_now(self.settings, self.database, "hourly")
            except Exception:
                # A failed signature must not stop the hotline; the next hour retries.
                log.exception("audit checkpoint failed")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        try:
            await sign_now(self.settings, self.database, "stop")  # what happened since the last hour
        except Exception:
            log.exception("audit checkpoint at stop failed")
