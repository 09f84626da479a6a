"""`ivr prompts`: build the prompt audio, show coverage, install it for a remote Asterisk."""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

import click

from ivr.cli.context import CliContext, pass_cli
from ivr.languages import LANGUAGES, fallback_chain
from ivr.prompts.catalog import CatalogError
from ivr.prompts.resolve import INSTALL_PREFIX
from ivr.prompts.store import built_root


@click.group()
def prompts() -> None:
    """Build, inspect and install the prompt audio.

    Recordings go in prompts/<lang>/<key>.<wav|mp3|m4a|ogg|...>; texts in prompts/catalog.yaml.
    """


def _known_languages(codes: tuple[str, ...]) -> None:
    for code in codes:
        if code not in LANGUAGES:
            raise click.BadParameter(f"unknown language code {code!r}", param_hint="--lang")


@prompts.command()
@click.option("--force", is_flag=True, help="Rebuild everything, even prompts whose input has not changed.")
@click.option("--lang", "languages", multiple=True, help="Only this language (repeatable). Default: all enabled.")
@click.option("--jobs", type=click.IntRange(1, 16), default=None, help="Conversions at once (default: CPUs, max 4).")
@pass_cli
def build(cli: CliContext, force: bool, languages: tuple[str, ...], jobs: int | None) -> None:
    """Convert recordings, and synthesise placeholders, into $IVR_DATA_DIR/prompts/<lang>/<key>.wav.

    Only what changed is rebuilt (content hash). A recording that cannot be converted
    leaves the previous prompt in place; the command then exits 1.
    """
    from ivr.prompts.build import PromptBuilder

    settings = cli.settings(mode="prompts")
    _known_languages(languages)
    try:
        report = PromptBuilder(settings, jobs=jobs).build(force=force, languages=languages or None)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    for lang, keys in report.fallbacks.items():
        click.echo(f"{lang}: {len(keys)} prompts have no recording and espeak-ng has no {lang} voice; "
                   f"callers hear {fallback_chain(lang)[1]} until they are recorded")
    click.echo(f"{len(report.recorded)} recorded, {len(report.placeholders)} placeholders built, "
               f"{report.unchanged} unchanged, {len(report.removed)} removed, {len(report.failed)} failed "
               f"in {report.seconds:.1f} s -> {built_root(settings)}")
    if report.failed:
        for message in report.failed:
            click.echo(f"error: {message}", err=True)
        raise SystemExit(1)


@prompts.command()
@click.option("--lang", default=None, help="List every key of this language with its state.")
@pass_cli
def status(cli: CliContext, lang: str | None) -> None:
    """Coverage per enabled language: recorded, placeholder, missing (plays a fallback), needs review."""
    from ivr.prompts.coverage import coverage
    from ivr.prompts.texts import catalog_for

    settings = cli.settings()
    _known_languages((lang,) if lang else ())
    try:
        catalog = catalog_for(settings)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from None
    rows = coverage(settings, catalog, (lang,) if lang else None)
    if lang:
        for cell in rows[0].cells:
            plays = "" if cell.plays == lang else f"  plays {cell.plays or 'NOTHING'}"
            flags = "".join(f"  {flag}" for flag, on in (("needs-review", cell.review), ("stale", cell.stale)) if on)
            error = f"  error: {cell.error}" if cell.error else ""
            click.echo(f"{cell.key:24} {cell.state:12}{plays}{flags}{error}")
        return
    click.echo(f"{'lang':5} {'language':12} {'recorded':>8} {'placeholder':>11} {'missing':>7} {'needs review':>12} "
               f"{'stale':>5} {'errors':>6}  of {len(catalog.keys)} keys")
    for row in rows:
        note = ""
        if row.missing:
            heard = sorted({c.plays or "NOTHING" for c in row.cells if c.state == "missing"})
            note = f"  missing ones play: {', '.join(heard)}"
        click.echo(f"{row.lang:5} {LANGUAGES[row.lang].english:12} {row.recorded:8} {row.placeholder:11} "
                   f"{row.missing:7} {row.review:12} {row.stale:5} {row.errors:6}{note}")


@prompts.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--create", is_flag=True, help="Create DIRECTORY when it does not exist.")
@pass_cli
def install(cli: CliContext, directory: Path, create: bool) -> None:
    """Copy the built prompts into a remote Asterisk's sounds DIRECTORY (as DIRECTORY/ivr/<lang>/<key>.wav).

    The engine then plays them as sound:ivr/<lang>/<key> (set IVR_ASTERISK_LOCAL=false).
    Unchanged files are left alone; each file is replaced atomically.
    """
    settings = cli.settings()
    if not directory.is_dir() and not create:
        # A typo would otherwise copy every prompt into a new folder Asterisk never reads.
        raise click.ClickException(f"{directory} does not exist (check the path, or pass --create)")
    root = built_root(settings)
    built = sorted(root.glob("*/*.wav"))
    if not built:
        raise click.ClickException(f"no built prompts in {root}; run `ivr prompts build` first")
    copied = unchanged = 0
    for src in built:
        dst = directory / INSTALL_PREFIX / src.parent.name / src.name
        if dst.exists() and filecmp.cmp(src, dst, shallow=False):
            unchanged += 1
            continue
        tmp = dst.with_name(f".{dst.name}.tmp")
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        except OSError as exc:
            tmp.unlink(missing_ok=True)  # e.g. a full disk: leave no half-copied file in Asterisk's sounds
            raise click.ClickException(f"{dst}: cannot write ({exc.strerror})") from None
        copied += 1
    click.echo(f"{copied} copied, {unchanged} unchanged -> {directory / INSTALL_PREFIX}")
