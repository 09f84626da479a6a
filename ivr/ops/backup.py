"""Encrypted backups of a data dir: ``create``, ``verify`` and ``restore``.

A backup is one file, ``ivr-backup-<UTC time>.tar.age`` (``-2``, ``-3`` … after the time for a second one
in the same second: a backup never replaces another): a tar of ``manifest.json`` (sha256 and
size of every file), ``ivr.db`` (a consistent copy made with SQLite's online backup API, so calls
keep arriving while it runs), and the recordings (callers' messages, caseworkers' replies) and the
built and uploaded prompts. The tar is encrypted with age to a backup *public* key: the server
can make backups but cannot read them, and the private key lives off the server. The deployment
secret (``IVR_SECRET_KEY``) is never in a backup: without it a stolen backup cannot be tested
against a known phone number.

Restoring decrypts and checks everything in a scratch folder beside the target and renames it
into place only when every hash matched, so a wrong key, a truncated or a tampered file writes
nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pyrage
from pyrage import x25519

from ivr import __version__
from ivr.db.connect import readonly_uri

FORMAT = 1
MANIFEST = "manifest.json"
DB_NAME = "ivr.db"
SUFFIX = ".tar.age"
PROMPT_SOURCES = "prompt-sources"
# What of the data dir a backup holds; everything else there is rebuilt or transient.
FOLDERS = ("recordings", "prompts", "prompt-drafts")   # prompt-drafts: recordings waiting for review
# Never copied, whatever folder they are in: secrets, and SQLite's own side files.
SKIP_NAMES = frozenset({"demo-secret-key", "secret", ".write-test"})


class BackupError(Exception):
    """A backup cannot be made, read or restored. The message is one line for the operator."""


@dataclass(frozen=True)
class Summary:
    path: Path
    files: int
    bytes: int
    cases: int


def generate_key() -> tuple[str, str]:
    """A new backup key pair: (private identity ``AGE-SECRET-KEY-1…``, public recipient ``age1…``)."""
    identity = x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def parse_recipient(text: str) -> x25519.Recipient:
    try:
        return x25519.Recipient.from_str(text.strip())
    except Exception:
        raise BackupError(f"IVR_BACKUP_RECIPIENT: {text.strip()[:12]!r}… is not an age public key (age1…)") from None


def read_identity(path: Path) -> x25519.Identity:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BackupError(f"--identity: cannot read {path} ({exc.strerror})") from None
    for line in lines:
        if line.strip().startswith("AGE-SECRET-KEY-"):
            try:
                return x25519.Identity.from_str(line.strip())
            except Exception:
                break
    raise BackupError(f"--identity: {path} holds no age private key (a line AGE-SECRET-KEY-1…)")


# -- create -----------------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(roots: dict[str, Path], skip: set[Path]) -> Iterator[tuple[str, Path]]:
    for name, root in roots.items():
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink() and path.name not in SKIP_NAMES \
                    and path.resolve() not in skip and not path.name.endswith(".partial"):
                yield f"{name}/{path.relative_to(root).as_posix()}", path


def snapshot_db(db_path: Path, dest: Path) -> None:
    """A consistent copy of a live WAL database, taken page by page without stopping writers."""
    if not db_path.exists():
        raise BackupError(f"IVR_DB: {db_path} does not exist")
    src = sqlite3.connect(readonly_uri(db_path), uri=True, timeout=30)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst, pages=1024)
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


def create(data_dir: Path, db_path: Path, out_dir: Path, recipient: str, *, prompt_sources: Path | None = None,
           exclude: tuple[Path, ...] = (), now: dt.datetime | None = None) -> Summary:
    """Write an encrypted backup of ``data_dir`` into ``out_dir`` and return what it holds.

    ``prompt_sources`` (IVR_PROMPTS_DIR) holds the recordings admins uploaded; it is kept as
    ``prompt-sources/`` in the backup.
    """
    rcpt = parse_recipient(recipient)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    skip = {p.resolve() for p in exclude} | {out_dir.resolve()}
    with tempfile.TemporaryDirectory(prefix=".ivr-backup-", dir=out_dir) as tmp:
        os.chmod(tmp, 0o700)
        db_copy = Path(tmp) / DB_NAME
        snapshot_db(db_path, db_copy)
        files: dict[str, dict[str, Any]] = {DB_NAME: {"sha256": _sha256(db_copy), "size": db_copy.stat().st_size}}
        plain = Path(tmp) / "backup.tar"
        with tarfile.open(plain, "w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(db_copy, DB_NAME)
            roots = {folder: data_dir / folder for folder in FOLDERS}
            if prompt_sources is not None:
                roots[PROMPT_SOURCES] = prompt_sources
            for name, path in _files(roots, skip):
                # Hash what is put in the tar, from the same open file: a file changing under us
                # cannot give a manifest that disagrees with the archive.
                try:
                    with path.open("rb") as f:
                        data = f.read()
                except FileNotFoundError:   # retention removed it since the listing
                    continue
                st = path.stat()
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), int(st.st_mtime), stat.S_IMODE(st.st_mode) & 0o750
                tar.addfile(info, io.BytesIO(data))
                files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            cases = _count_cases(db_copy)
            manifest = json.dumps({"format": FORMAT, "ivr_version": __version__, "created_at": stamp,
                                   "cases": cases, "files": files}, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode = len(manifest), 0o600
            tar.addfile(info, io.BytesIO(manifest))
        partial = Path(tmp) / "backup.tar.age.partial"
        with plain.open("rb") as src, partial.open("wb") as dst:
            pyrage.encrypt_io(src, dst, [rcpt])
            dst.flush()
            os.fsync(dst.fileno())
        partial.chmod(0o600)
        target = _publish(partial, out_dir, stamp)
    return Summary(target, len(files), sum(int(f["size"]) for f in files.values()), cases)


def _publish(partial: Path, out_dir: Path, stamp: str) -> Path:
    """Give the finished backup its name, never replacing another: two backups in the same second (the
    timer's, then the one `ivr db migrate` takes) are ``…Z.tar.age`` and ``…Z-2.tar.age``."""
    for n in range(1, 1000):
        target = out_dir / f"ivr-backup-{stamp}{'' if n == 1 else f'-{n}'}{SUFFIX}"
        try:
            os.link(partial, target)   # fails if the name is taken, unlike a rename
        except FileExistsError:
            continue
        partial.unlink()
        return target
    raise BackupError(f"{out_dir}: too many backups named for {stamp}")


def _age(path: Path) -> tuple[str, int]:
    """Sort key, oldest first: the time in the name, then the number after it."""
    stem = path.name[len("ivr-backup-"):-len(SUFFIX)]
    stamp, _, n = stem.partition("-")
    return stamp, int(n) if n.isdigit() else 1


def _count_cases(db_file: Path) -> int:
    conn = sqlite3.connect(readonly_uri(db_file), uri=True)
    try:
        return int(conn.execute("select count(*) from cases").fetchone()[0])
    except sqlite3.DatabaseError:
        return 0
    finally:
        conn.close()


def prune(out_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups in ``out_dir``; return the ones deleted."""
    backups = sorted(out_dir.glob(f"ivr-backup-*{SUFFIX}"), key=_age)
    gone = backups[:-keep] if keep > 0 else []
    for path in gone:
        path.unlink()
    return gone


# -- verify and restore ----------------------------------------------------------------------------------------


def _decrypt(path: Path, identity: x25519.Identity, dest: BinaryIO) -> None:
    try:
        with path.open("rb") as src:
            pyrage.decrypt_io(src, dest, [identity])
    except FileNotFoundError:
        raise BackupError(f"{path}: no such file") from None
    except pyrage.DecryptError as exc:
        if "No matching keys" in str(exc):
            raise BackupError(f"{path}: this backup was not made for this key (wrong --identity)") from None
        raise BackupError(f"{path}: not a readable backup ({exc})") from None
    except OSError:
        raise BackupError(f"{path}: damaged: it is truncated or was changed after it was made") from None


def _extract(tar: tarfile.TarFile, into: Path) -> None:
    """Extract plain files and folders inside ``into`` only, owned by whoever restores, without
    setuid bits or group/other write: tarfile's "data" filter. Debian 12's Python (3.11.2) predates
    it (3.11.4), so there the same rules are applied here; a member breaking them raises TarError."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, filter="data")
        return
    root = into.resolve()
    members = tar.getmembers()
    for member in members:
        target = (root / member.name).resolve()
        if not (member.isfile() or member.isdir()) or (target != root and root not in target.parents):
            raise tarfile.TarError(f"{member.name!r} is not a plain file or folder inside the backup")
        member.mode &= 0o755
        member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""
    tar.extractall(into, members=members)


def _unpack(path: Path, identity: x25519.Identity, into: Path) -> dict[str, Any]:
    """Decrypt and unpack into the (empty) folder ``into``; check every hash; return the manifest."""
    plain = into / ".backup.tar"
    with plain.open("wb") as f:
        _decrypt(path, identity, f)
    try:
        with tarfile.open(plain, "r") as tar:
            _extract(tar, into)
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{path}: the archive inside is damaged ({exc})") from None
    finally:
        plain.unlink()
    try:
        manifest: dict[str, Any] = json.loads((into / MANIFEST).read_text(encoding="utf-8"))
        files: dict[str, dict[str, Any]] = manifest["files"]
    except (OSError, ValueError, KeyError):
        raise BackupError(f"{path}: the manifest is missing or damaged") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: backup format {manifest.get('format')!r} is not {FORMAT}; use a matching ivr")
    present = {p.relative_to(into).as_posix() for p in into.rglob("*") if p.is_file()} - {MANIFEST}
    if present - set(files):
        raise BackupError(f"{path}: holds files not in its manifest ({sorted(present - set(files))[0]})")
    for name, meta in files.items():
        member = into / name
        if not member.is_file():
            raise BackupError(f"{path}: {name} is in the manifest but not in the archive")
        if _sha256(member) != meta["sha256"]:
            raise BackupError(f"{path}: {name} does not match its sha256 in the manifest")
    conn = sqlite3.connect(readonly_uri(into / DB_NAME), uri=True)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: the database copy is damaged ({exc})") from None
    finally:
        conn.close()
    if result != "ok":
        raise BackupError(f"{path}: the database copy fails its integrity check ({result})")
    return manifest


def verify(path: Path, identity: x25519.Identity) -> dict[str, Any]:
    """Decrypt into a scratch folder, check every file's hash and the database, then delete it all."""
    with tempfile.TemporaryDirectory(prefix="ivr-verify-") as tmp:
        return _unpack(path, identity, Path(tmp))


def restore(path: Path, identity: x25519.Identity, into: Path) -> dict[str, Any]:
    """Restore into ``into`` (which must not exist or be empty); on any problem nothing is left behind."""
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise BackupError(f"--into: {into} exists and is not empty; restore into a new folder")
    parent = into.parent.resolve()
    if not parent.is_dir():
        raise BackupError(f"--into: {parent} does not exist")
    scratch = Path(tempfile.mkdtemp(prefix=f".{into.name}.restoring-", dir=parent))
    try:
        manifest = _unpack(path, identity, scratch)
        (scratch / MANIFEST).unlink()
        if into.exists():
            into.rmdir()
        os.replace(scratch, into)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return manifest
