"""Shared pieces of the web UI tests: a real server on loopback and a cookie-keeping client."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlite_utils
from aiohttp import web

from ivr.admin.app import create_app
from ivr.admin.server import AdminServer
from ivr.admin.users import add_user, password_hash
from ivr.db import utcnow
from ivr.db.writer import Database
from ivr.settings import Settings

PASSWORD = "correct horse battery"
META_CSRF = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)">')


class Client:
    """An HTTP client that behaves like one browser: it keeps cookies and finds the page's CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.token = ""

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        async with self.session.get(self.base + path, allow_redirects=kw.pop("allow_redirects", True), **kw) as r:
            text = await r.text()
            found = META_CSRF.search(text)
            if found:
                self.token = found.group(1)
            return r.status, text

    async def post(self, path: str, data: Any = None, *, csrf: str | None = None, **kw: Any) -> tuple[int, str]:
        form = dict(data or {})
        form.setdefault("csrf", self.token if csrf is None else csrf)
        async with self.session.post(self.base + path, data=form, allow_redirects=kw.pop("allow_redirects", True),
                                     **kw) as r:
            text = await r.text()
            found = META_CSRF.search(text)
            if found:
                self.token = found.group(1)
            return r.status, text

    async def login(self, username: str, password: str = PASSWORD) -> tuple[int, str]:
        await self.get("/login")
        return await self.post("/login", {"username": username, "password": password})


def make_users(db: sqlite_utils.Database, hashed: str) -> dict[str, int]:
    return {
        "cw_my": add_user(db, "cw_my", hashed, "caseworker", "my"),
        "cw_km": add_user(db, "cw_km", hashed, "caseworker", "km"),
        "super": add_user(db, "super", hashed, "supervisor"),
        "admin": add_user(db, "admin", hashed, "admin"),
    }


def insert_case(db: sqlite_utils.Database, *, language: str = "my", status: str = "new", priority: int = 1,
                category: str | None = "wages", assignee_id: int | None = None, created_at: str | None = None,
                **extra: Any) -> int:
    now = created_at or utcnow()
    row = {"language": language, "status": status, "priority": priority, "category": category,
           "assignee_id": assignee_id, "created_at": now, "updated_at": now, **extra}
    cursor = db.execute(
        f"insert into cases ({', '.join(row)}) values ({', '.join('?' for _ in row)})", list(row.values())
    )
    return int(cursor.lastrowid or 0)


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    # Plain http on loopback: a Secure cookie would never come back.
    return dataclasses.replace(settings, cookie_secure=False, admin_bind="127.0.0.1:0")


@pytest.fixture(scope="session")
def admin_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """A migrated database with the four test users, made once: argon2 hashing is slow on purpose."""
    path = tmp_path_factory.mktemp("admin-template") / "ivr.db"
    db = Database(path)
    hashed = password_hash(PASSWORD, "x")
    ids = db.write_sync(lambda conn: make_users(conn, hashed))
    db.close()
    return path, ids


@pytest.fixture
def web_db(web_settings: Settings, admin_template: tuple[Path, dict[str, int]]) -> Iterator[Database]:
    web_settings.db_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(admin_template[0], web_settings.db_path)
    db = Database(web_settings.db_path)
    yield db
    db.close()


@pytest.fixture
def users(web_db: Database, admin_template: tuple[Path, dict[str, int]]) -> dict[str, int]:
    return admin_template[1]


@pytest.fixture
async def server(web_settings: Settings, web_db: Database, users: dict[str, int]) -> AsyncIterator[AdminServer]:
    srv = AdminServer(web_settings, web_db)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def client(server: AdminServer) -> AsyncIterator[Client]:
    c = Client(server.url)
    yield c
    await c.close()


def write_wav(path: Any, seconds: float = 2.0, freq: float = 440.0) -> int:
    """A real 8 kHz mono WAV with a tone, like a stored voicemail; returns its size."""
    import math
    import struct
    import wave

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / 8000)))
                      for i in range(int(8000 * seconds)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(frames)
    return path.stat().st_size


def insert_reported_case(db: sqlite_utils.Database, data_dir: Any, *, language: str = "my",
                         text: str = "my boss keeps my passport", **extra: Any) -> dict[str, int | str]:
    """A case as the engine and transcription leave it: call, steps, voicemail file, machine transcript."""
    import json

    now = utcnow()
    call_id = f"call-{language}-{now[-10:-1]}"
    db.execute("insert into calls (id, channel_id, started_at, ended_at, language, menu_choice, outcome) "
               "values (?, 'chan', ?, ?, ?, 'documents', 'completed')", [call_id, now, now, language])
    case_id = insert_case(db, language=language, category="documents", source_call_id=call_id,
                          categories_suggested='["documents", "violence"]', **extra)
    db.execute("update calls set case_id = ? where id = ?", [case_id, call_id])
    for seq, (node, action, digits) in enumerate([("language_menu", "menu", "1"), ("main_menu", "menu", "2"),
                                                  ("record", "record", None)], start=1):
        db.execute("insert into call_steps (call_id, seq, at, node, action, input) values (?, ?, ?, ?, ?, ?)",
                   [call_id, seq, now, node, action, digits])
    rel = f"recordings/{call_id}.wav"
    size = write_wav(f"{data_dir}/{rel}")
    rec = db.execute("insert into recordings (call_id, case_id, kind, path, state, size_bytes, duration_s, created_at) "
                     "values (?, ?, 'voicemail', ?, 'stored', ?, 2.0, ?)", [call_id, case_id, rel, size, now]).lastrowid
    words = [{"word": w, "start": i * 0.3, "end": i * 0.3 + 0.25, "conf": 0.4 if w == "passport" else 0.95}
             for i, w in enumerate(text.split())]
    db.execute("insert into transcripts (recording_id, kind, engine, model, language, text, words, confidence, "
               "version, created_at) values (?, 'transcript', 'vosk', 'test', ?, ?, ?, 0.8, 1, ?)",
               [rec, language, text, json.dumps(words), now])
    return {"case_id": case_id, "recording_id": int(rec or 0), "call_id": call_id, "size": size}


@dataclasses.dataclass
class Served:
    url: str


@contextlib.asynccontextmanager
async def served_app(settings: Settings, database: Database, extension: str) -> AsyncIterator[Served]:
    """The web UI on loopback with only ``extension``, so another part's pages cannot break its tests."""
    runner = web.AppRunner(create_app(settings, database, extensions=[extension]), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield Served(f"http://127.0.0.1:{runner.addresses[0][1]}")
    finally:
        await runner.cleanup()
