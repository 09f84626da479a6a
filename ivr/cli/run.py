"""`ivr serve` and `ivr demo`: every part of the hotline in one process."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import click
import sqlite_utils

from ivr.cli.context import CliContext, pass_cli
from ivr.db.writer import Database
from ivr.lifecycle import Service, run_services, service_database
from ivr.settings import Settings, SettingsError, validate


def hotline_services(settings: Settings, database: Database, *, time_scale: float = 1.0) -> list[Service]:
    """The services of one hotline machine, in start order."""
    from ivr.admin.server import AdminServer
    from ivr.asr.worker import TranscribeWorker
    from ivr.engine.service import Engine
    from ivr.ops.heartbeat import with_heartbeats
    from ivr.prompts.line import PromptLine
    from ivr.protection.checkpoints import CheckpointService
    from ivr.protection.retention import RetentionService

    return with_heartbeats([
        TranscribeWorker(settings),
        AdminServer(settings, database),
        Engine(settings, database, time_scale=time_scale),
        PromptLine(settings, database, time_scale=time_scale),
        RetentionService(settings, database),
        *([CheckpointService(settings, database)] if settings.audit_signing_key_file else []),
    ], database)


def build_prompts(settings: Settings) -> None:
    """Bring the built prompts up to date (a no-op when nothing changed); the build logs each failure."""
    from ivr.prompts.build import PromptBuilder

    PromptBuilder(settings).build()


async def _run(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    after_start: Callable[[Database], Awaitable[None]] | None = None,
    time_scale: float = 1.0,
) -> None:
    from ivr.prompts.readiness import log_unready

    database = service_database(settings.db_path)

    async def started() -> None:
        # Once everything is up (a busy port or a broken flow stops before, with one line): name each
        # language offered but not ready, which `ivr check` fails on (docs/prompts.md).
        await asyncio.to_thread(log_unready, settings)
        if after_start is not None:
            await after_start(database)

    try:
        await asyncio.to_thread(build_prompts, settings)
        services = hotline_services(settings, database, time_scale=time_scale)
        await run_services(services, stop=stop, after_start=started)
    finally:
        database.close()


@click.command()
@pass_cli
def serve(cli: CliContext) -> None:
    """Run the call engine, the web UI, the transcription worker and daily retention together.

    For one machine. Stop with Ctrl-C (SIGINT) or SIGTERM.
    """
    settings = cli.settings(mode="serve")
    try:
        asyncio.run(_run(settings))
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


# -- the demo ---------------------------------------------------------------------------------------------------


def demo_settings(settings: Settings) -> Settings:
    """The demo runs without set-up: a secret kept in the data dir, plain-HTTP cookies on loopback."""
    secret = settings.secret_key
    if not secret:
        path = settings.data_dir / "demo-secret-key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        secret = path.read_text().strip()
    from ivr.demo import with_transcription

    demo = with_transcription(dataclasses.replace(
        settings,
        secret_key=secret,
        ari_password=settings.ari_password or secrets.token_urlsafe(16),
        cookie_secure=False,
        # Nobody has recorded anything for a demo: machine placeholders stand in everywhere, the language
        # menu included (a real deployment allows neither by default; see docs/prompts.md).
        prompt_placeholders=settings.prompt_placeholders or ("all",),
        prompt_placeholder_menu=True,
    ))
    validate(demo, mode="serve")
    return demo


# One login per role, so every page the README describes can be tried: (username, role).
DEMO_LOGINS = (("demo", "supervisor"), ("demo-caseworker", "caseworker"), ("demo-admin", "admin"),
               ("demo-brand", "brand"))


def ensure_demo_users(settings: Settings) -> dict[str, str]:
    """(Re)create one demo login per role with fresh random passwords, seed the demo's small supply
    chain, and return {username: password}."""
    from datetime import datetime

    from ivr.admin.users import add_user, password_hash, set_password
    from ivr.db import connect, transaction
    from ivr.db.schema import migrate
    from ivr.demo import seed_registry

    passwords: dict[str, str] = {}
    db = connect(settings.db_path)
    try:
        migrate(db)
        with transaction(db):
            demo_stand_ins(db, settings)
            brand = seed_registry(db, k=settings.brand_k, today=datetime.now(settings.tz).date())
            for username, role in DEMO_LOGINS:
                password = secrets.token_urlsafe(9)
                hashed = password_hash(password, username)
                if db.execute("select 1 from users where username = ?", [username]).fetchone():
                    set_password(db, username, hashed)
                else:
                    add_user(db, username, hashed, role, "", brand if role == "brand" else None)
                passwords[username] = password
    finally:
        db.conn.close()
    return passwords


def demo_stand_ins(db: sqlite_utils.Database, settings: Settings) -> None:
    """Khmer and Lao have no espeak-ng voice: in the demo, Thai stands in for them, chosen (and audited)
    as an admin would choose it with `ivr prompts stand-in km th`."""
    from ivr.prompts.standins import set_stand_in, stand_ins
    from ivr.prompts.voices import Espeak

    espeak = Espeak()
    chosen = stand_ins(settings)
    for lang in settings.languages:
        if lang in DEMO_STAND_INS and lang not in chosen and (espeak.voice_for(lang) is None or lang == "ko"):
            set_stand_in(db, settings, lang, DEMO_STAND_INS[lang], user_id=None, username="demo")


# Korean is in the demo only for its machine transcript (ivr/demo.py): the catalog has no Korean texts,
# so Korean callers hear English, chosen openly like the others.
DEMO_STAND_INS = {"km": "th", "lo": "th", "ko": "en"}


@click.command()
@click.option("--calls/--no-calls", default=True, show_default=True, help="Place the scripted demo calls.")
@click.option("--exit-after-calls", is_flag=True, help="Stop once the demo calls are done (for scripts).")
@click.option("--speed", type=click.FloatRange(0.5, 20), default=1.0, show_default=True,
              help="Run the emulated telephony this many times faster than real time (for tests).")
@pass_cli
def demo(cli: CliContext, calls: bool, exit_after_calls: bool, speed: float) -> None:
    """Run the hotline on the built-in Asterisk emulator and place a few scripted calls.

    Open the printed address and sign in with the printed user to see the cases appear. Unless a
    data dir other than the default ./var is given (--data-dir, IVR_DATA_DIR), everything lives in
    a scratch folder deleted at the end.
    """
    with contextlib.ExitStack() as scratch:
        try:
            base = cli.settings(mode=None)
            base = throwaway_data_dir(base, scratch)
            settings = demo_settings(base)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
        _run_demo(settings, calls=calls, exit_after_calls=exit_after_calls, speed=speed)


def throwaway_data_dir(settings: Settings, scratch: contextlib.ExitStack) -> Settings:
    """The demo's own data dir, deleted when it ends, unless the user named one.

    Its demo supervisor and demo cases must never end up where `ivr serve` would find them. Built
    prompts are kept in a cache between demos, since building them all takes a minute or more.
    """
    default = Settings()
    if settings.data_dir.resolve() != default.data_dir.resolve():
        return settings
    tmp = Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="ivr-demo-")))
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ivr" / "demo-prompts"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        (tmp / "prompts").symlink_to(cache, target_is_directory=True)
    except OSError:   # no writable home: build them in the scratch dir
        pass
    db = settings.db if settings.db is not None and settings.db.resolve() != default.db_path.resolve() else None
    fallback = settings.fallback_dir
    if fallback is not None and fallback.resolve() == default.fallback_path.resolve():
        fallback = None
    return dataclasses.replace(settings, data_dir=tmp, db=db, fallback_dir=fallback)


def _run_demo(settings: Settings, *, calls: bool, exit_after_calls: bool, speed: float) -> None:
    from ivr.sim.server import Emulator

    passwords = ensure_demo_users(settings)
    emulator = Emulator(
        user=settings.ari_user,
        password=settings.ari_password,
        sounds_dir=settings.data_dir / "prompts",
        spool_dir=settings.data_dir / "asterisk-spool",
        routes={"hotline-in": settings.ari_app},
        default_app=settings.ari_app,
        speed=speed,
    )
    stop = asyncio.Event()
    failed = 0

    async def main() -> None:
        await emulator.start()
        live = dataclasses.replace(settings, ari_url=emulator.url)

        async def after_start(database: Database) -> None:
            logins = "".join(f"    {role:<11} user: {name:<16} password: {passwords[name]}\n"
                             for name, role in DEMO_LOGINS)
            click.echo(
                f"\n  The hotline is running on the Asterisk emulator at {emulator.url}.\n"
                f"  Web UI: http://{settings.admin_bind}/   one login per role:\n{logins}"
                f"  Press Ctrl-C to stop.\n"
            )
            nonlocal failed
            if calls:
                from ivr.demo import place_demo_calls

                failed = await place_demo_calls(live, emulator.url, database, speed=speed)
                click.echo("  Demo calls done: see them under Cases and on the Dashboard.\n")
            if exit_after_calls:
                stop.set()

        try:
            await _run(live, stop=stop, after_start=after_start, time_scale=speed)
        finally:
            await emulator.stop()

    asyncio.run(main())
    if failed:  # scripts that run the demo as a smoke test must see it fail
        raise click.ClickException(f"{failed} demo call(s) did not finish (see the lines above)")
