"""`ivr transcribe` and `ivr models`."""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import click

from ivr.cli.context import CliContext, pass_cli

# The decoder of a --file pool process, loaded once by the pool's initializer.
_decoder: Any = None


def _init_pool(model_path: Path) -> None:
    global _decoder
    from ivr.asr.decode import Decoder

    _decoder = Decoder(model_path)


def _transcribe_one(path: Path, max_seconds: int) -> dict[str, Any]:
    from ivr.asr.audio import AudioError
    from ivr.asr.worker import rss_kib

    out: dict[str, Any] = {"file": str(path)}
    try:
        out.update(_decoder.transcribe(path, max_seconds=max_seconds).as_json())
    except AudioError as exc:
        out["error"] = str(exc)
    rss = rss_kib(os.getpid())
    out["worker"] = os.getpid()
    out["rss_mib"] = round(rss / 1024, 1) if rss else None
    return out


@click.command()
@click.option("--file", "files", multiple=True, type=click.Path(path_type=Path),
              help="Transcribe this file and print one JSON line for it. Repeatable.")
@click.option("--lang", help="Language of the --file recordings (a folder under IVR_MODELS_DIR).")
@click.option("--workers", type=int, help="Processes to use (default IVR_TRANSCRIBE_WORKERS).")
@pass_cli
def transcribe(cli: CliContext, files: tuple[Path, ...], lang: str | None, workers: int | None) -> None:
    """Run the transcription worker until stopped, or transcribe --file recordings.

    Without --file: claims queued jobs from the database and transcribes them in
    IVR_TRANSCRIBE_WORKERS processes; languages without a model go to a person.
    With --file: prints one JSON line per file (text, words with times and
    confidence, duration, seconds taken) in the order given.
    """
    if not files:
        _run_worker(cli)
        return
    from ivr.asr.models import ModelError, ModelStore

    if not lang:
        raise click.UsageError("--lang is required with --file")
    settings = cli.settings()
    try:
        model_path = ModelStore(settings.models_dir).require(lang)
    except ModelError as exc:
        raise click.ClickException(f"{exc}; recordings in this language need a person to transcribe them") from None
    count = max(1, min(workers or settings.transcribe_workers, len(files)))
    failed = 0
    with ProcessPoolExecutor(count, mp_context=get_context("spawn"), initializer=_init_pool,
                             initargs=(model_path,)) as pool:
        for result in pool.map(_transcribe_one, files, [settings.transcribe_max_seconds] * len(files)):
            failed += "error" in result
            click.echo(json.dumps(result, ensure_ascii=False))
    if failed:
        click.echo(f"Error: {failed} of {len(files)} file(s) could not be transcribed", err=True)
        sys.exit(1)


def _run_worker(cli: CliContext) -> None:
    import asyncio

    from ivr.asr.worker import TranscribeWorker
    from ivr.lifecycle import run_services, service_database
    from ivr.ops.heartbeat import with_heartbeats

    settings = cli.settings(mode="transcribe")
    database = service_database(settings.db_path)
    try:
        asyncio.run(run_services(with_heartbeats([TranscribeWorker(settings)], database)))
    finally:
        database.close()


@click.group()
def models() -> None:
    """List, install and register Vosk models (one folder per language in IVR_MODELS_DIR)."""


@models.command("list")
@pass_cli
def list_models(cli: CliContext) -> None:
    """Show each language's model, its sample rate, and whether it is usable."""
    from ivr.asr.models import ModelStore

    settings = cli.settings()
    found = ModelStore(settings.models_dir).list()
    by_lang = {m.lang: m for m in found}
    for lang in dict.fromkeys([*settings.languages, *by_lang]):
        info = by_lang.get(lang)
        if info is None:
            click.echo(f"{lang:4} -            no model: a person transcribes")
        elif info.problem:
            click.echo(f"{lang:4} {info.name:12} INCOMPLETE: {info.problem}")
        else:
            click.echo(f"{lang:4} {info.name:12} {info.rate} Hz  {info.path}")


@models.command("add")
@click.argument("lang")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--replace", is_flag=True, help="Replace a model already registered for LANG.")
@pass_cli
def add_model(cli: CliContext, lang: str, path: Path, replace: bool) -> None:
    """Register the model folder at PATH for language LANG (checked first; nothing is copied)."""
    from ivr.asr.models import ModelError, ModelStore, model_name

    settings = cli.settings()
    _known_language(lang)
    try:
        folder = ModelStore(settings.models_dir).add(lang, path, replace=replace)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{lang}: registered {model_name(folder)} at {folder}")


@models.command("install")
@click.argument("lang")
@click.option("--size", type=click.Choice(["small", "big"]), default="small", show_default=True,
              help="Small models suit a 2-core server.")
@click.option("--list-url", default=None, help="Model list to read (default: the official Vosk list).")
@click.option("--replace", is_flag=True, help="Install over a model already there.")
@pass_cli
def install_model(cli: CliContext, lang: str, size: str, list_url: str | None, replace: bool) -> None:
    """Download the official Vosk model for LANG, verify its checksum, and install it."""
    from ivr.asr.install import MODEL_LIST_URL, install
    from ivr.asr.models import ModelError, ModelStore

    settings = cli.settings()
    _known_language(lang)
    try:
        folder = install(ModelStore(settings.models_dir), lang, list_url=list_url or MODEL_LIST_URL, size=size,
                         replace=replace)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{lang}: installed at {folder}")


def _known_language(lang: str) -> None:
    from ivr.languages import LANGUAGES

    if lang not in LANGUAGES:
        raise click.ClickException(f"unknown language code {lang!r} (known: {', '.join(sorted(LANGUAGES))})")
