"""`ivr check` for the installation itself: the secret, the data dir and the database.

The commands that serve refuse to start on each of these; `ivr check` says so beforehand.
"""

from __future__ import annotations

import os

from ivr.checks import check
from ivr.settings import Settings, SettingsError, validate


@check("secret")
def check_secret(settings: Settings) -> list[str]:
    if not settings.secret_key:
        return ["IVR_SECRET_KEY: not set; engine, admin and serve need it (set IVR_SECRET_KEY or IVR_SECRET_KEY_FILE)"]
    try:
        validate(settings, mode="serve")
    except SettingsError as exc:
        if str(exc).startswith("IVR_SECRET_KEY"):
            return [str(exc)]
    return []


@check("data dir")
def check_data_dir(settings: Settings) -> list[str]:
    path = settings.data_dir
    if not path.exists():
        return []  # created on first start
    if not path.is_dir():
        return [f"IVR_DATA_DIR: {path} is not a folder"]
    probe = path / ".ivr-check-probe"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        return [f"IVR_DATA_DIR: {path} cannot be written ({exc.strerror})"]
    return []


@check("database")
def check_database(settings: Settings) -> list[str]:
    from ivr.db.connect import DatabaseUnusable, check_usable, connect

    path = settings.db_path
    if not path.exists():
        return []  # created by `ivr db migrate` or on first start
    try:
        db = connect(path)
        try:
            check_usable(db, path)
        finally:
            db.conn.close()
    except DatabaseUnusable as exc:
        return [f"IVR_DB: {exc}"]
    return []
