"""`ivr prompts`: build the prompt audio, show coverage, install it for a remote Asterisk."""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

import click

from ivr.cli.context import CliContext, pass_cli
from ivr.languages import LANGUAGES
from ivr.prompts.catalog import Catalog, CatalogError
from ivr.prompts.resolve import INSTALL_PREFIX
from ivr.prompts.store import built_root
from ivr.prompts.voices import Espeak
from ivr.settings import Settings


@click.group()
def prompts() -> None:
    """Build, inspect and install the prompt audio.

    Recordings go in prompts/<lang>/<key>.<wav|mp3|m4a|ogg|...>; texts in prompts/catalog.yaml.
    """


def _catalog(settings: Settings) -> Catalog:
    """The catalog with the texts edited in the web UI; a broken one stops the command with its line."""
    from ivr.prompts.texts import catalog_for

    try:
        return catalog_for(settings)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from None


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
    from ivr.prompts.build import PromptBuilder, without_audio_message

    settings = cli.settings(mode="prompts")
    _known_languages(languages)
    try:
        report = PromptBuilder(settings, jobs=jobs).build(force=force, languages=languages or None)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    for lang, keys in report.fallbacks.items():
        click.echo(without_audio_message(settings, lang, len(keys), voiced=Espeak().voice_for(lang) is not None))
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
    """Per enabled language: ready to offer or not, approved recordings, drafts, placeholders, unreviewed
    files (put in place by hand, approved by nobody), stand-ins, missing, texts not reviewed."""
    from ivr.prompts.coverage import coverage
    from ivr.prompts.readiness import load_hotline_flow, readiness
    from ivr.prompts.standins import stand_ins

    settings = cli.settings()
    _known_languages((lang,) if lang else ())
    catalog = _catalog(settings)
    rows = coverage(settings, catalog, (lang,) if lang else None)
    drafts = _draft_counts(settings)
    if lang:
        pending = drafts.get(lang, {})
        for cell in rows[0].cells:
            plays = "" if cell.plays == lang else f"  plays {cell.plays or 'NOTHING'}"
            flags = "".join(f"  {flag}" for flag, on in (("stand-in", cell.stand_in), ("needs-review", cell.review),
                                                         ("stale", cell.stale)) if on)
            draft = f"  {pending[cell.key]} draft(s)" if pending.get(cell.key) else ""
            error = f"  error: {cell.error}" if cell.error else ""
            click.echo(f"{cell.key:24} {cell.state:12}{plays}{flags}{draft}{error}")
        return
    flow = load_hotline_flow(settings)
    ready = {r.lang: r for r in readiness(settings, flow, rows)} if flow is not None else {}
    standing = stand_ins(settings)
    click.echo(f"{'lang':5} {'language':12} {'ready':>5} {'recorded':>8} {'drafts':>6} {'placeholder':>11} "
               f"{'unreviewed':>10} {'stand-in':>8} {'missing':>7} {'text not reviewed':>17} {'stale':>5} "
               f"{'errors':>6}"
               f"  of {len(catalog.keys)} keys")
    for row in rows:
        verdict = "yes" if row.lang in ready and ready[row.lang].ready else "NO"
        note = f"  stand-in: {standing[row.lang]}" if row.lang in standing else ""
        click.echo(f"{row.lang:5} {LANGUAGES[row.lang].english:12} {verdict:>5} {row.recorded:8} "
                   f"{sum(drafts.get(row.lang, {}).values()):6} {row.placeholder:11} {row.unreviewed:10} "
                   f"{row.stand_in:8} {row.missing:7} {row.review:17} {row.stale:5} {row.errors:6}{note}")
    for result in ready.values():
        for line in result.blocking:
            click.echo(f"not ready: {line}")
        for line in result.warnings:
            click.echo(f"note: {line}")


def _draft_counts(settings: Settings) -> dict[str, dict[str, int]]:
    """lang -> key -> drafts waiting for review; nothing when there is no database yet."""
    if not settings.db_path.exists():
        return {}
    import sqlite3

    from ivr.db import connect

    db = connect(settings.db_path)
    try:
        rows = db.execute("select lang, key, count(*) from prompt_recordings where state = 'draft' "
                          "group by lang, key").fetchall()
    except sqlite3.OperationalError:
        return {}   # not migrated yet: `ivr db migrate`
    finally:
        db.conn.close()
    out: dict[str, dict[str, int]] = {}
    for lang, key, n in rows:
        out.setdefault(str(lang), {})[str(key)] = int(n)
    return out


@prompts.command("stand-in")
@click.argument("lang")
@click.argument("other", required=False)
@click.option("--off", is_flag=True, help="No stand-in: LANG plays only its own prompts.")
@click.option("--by", "username", default="", help="Who makes the change, for the audit log (default: $USER).")
@pass_cli
def stand_in(cli: CliContext, lang: str, other: str | None, off: bool, username: str) -> None:
    """Let OTHER's prompts play for LANG where LANG has none of its own (e.g. `stand-in km th`), or --off.

    A stand-in is never a default: this command (or the prompts page) sets it, the audit log
    records who did, and `ivr check` warns about it for as long as it is on.
    """
    from ivr.db.writer import Database
    from ivr.prompts.standins import StandInError, set_stand_in

    settings = cli.settings()
    _known_languages((lang,) + ((other,) if other else ()))
    if off == bool(other):
        raise click.UsageError("give the stand-in language, or --off")
    who = username or os.environ.get("USER") or "command line"
    database = Database(settings.db_path)
    try:
        changed = database.write_sync(lambda db: set_stand_in(db, settings, lang, other, user_id=None,
                                                              username=who))
    except StandInError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.close()
    what = f"{other} stands in for {lang}" if other else f"{lang} has no stand-in"
    click.echo(f"{what}{'' if changed else ' (unchanged)'}; run `ivr prompts build` to rebuild its prompts")


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


@prompts.command()
@click.option("--lang", required=True, help="The language the speaker records.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The folder to write the kit to (created if needed).")
@pass_cli
def kit(cli: CliContext, lang: str, out: Path) -> None:
    """A voice-talent kit for one language: the script (PDF and CSV), English reference audio, and the
    folder to save the recordings in. Run `ivr prompts build` first so the reference audio exists."""
    import asyncio

    from ivr.prompts.kit import make_kit
    from ivr.supply.pdf import PdfError

    settings = cli.settings()
    _known_languages((lang,))
    catalog = _catalog(settings)
    try:
        lines = asyncio.run(make_kit(settings, catalog, lang, out))
    except PdfError as exc:
        raise click.ClickException(f"{out}: the CSV and audio are written, but not the PDF script: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"{out}: cannot write the kit ({exc.strerror})") from None
    missing = sum(1 for line in lines if not line.text)
    click.echo(f"{len(lines)} prompts -> {out}/{lang}-script.pdf, {out}/{lang}-script.csv, {out}/reference/; "
               f"recordings go in {out}/{lang}/" + (f" ({missing} have no {lang} text yet)" if missing else ""))


@prompts.command("import")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--lang", required=True, help="The language of the recordings.")
@click.option("--by", "username", default="", help="Who recorded them, for the audit log (default: $USER).")
@pass_cli
def import_(cli: CliContext, source: Path, lang: str, username: str) -> None:
    """Take a speaker's recordings back (a FOLDER or a ZIP), matched to keys by file name, as drafts.

    Each file is reported: imported, refused (and why) or unmatched. Nothing refused is kept, and
    callers hear an imported recording only once a second person with the language approves it
    (on the prompts page). Exits 1 when any file was refused or unmatched.
    """
    import asyncio

    from ivr.db.writer import Database
    from ivr.prompts.intake import IntakeError, import_folder
    from ivr.prompts.review import Person

    settings = cli.settings()
    _known_languages((lang,))
    catalog = _catalog(settings)
    who = Person(None, username or os.environ.get("USER") or "command line")
    database = Database(settings.db_path)
    try:
        report = asyncio.run(import_folder(settings, database, catalog, source, lang, who))
    except IntakeError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.close()
    for name, key, draft in report.imported:
        click.echo(f"imported  {name} -> {lang}/{key} (draft {draft})")
    for name, why in report.refused:
        click.echo(f"refused   {name}: {why}")
    for name in report.unmatched:
        click.echo(f"unmatched {name}: no prompt key of that name")
    click.echo(f"{len(report.imported)} imported as drafts, {len(report.refused)} refused, "
               f"{len(report.unmatched)} unmatched; a second person with {lang} approves drafts at /prompts")
    if report.refused or report.unmatched:
        raise SystemExit(1)


def _local(settings: Settings, stamp: str | None) -> str:
    """A stored UTC time in the hotline's time zone, to the minute."""
    from datetime import UTC, datetime

    if not stamp:
        return ""
    try:
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return stamp
    return moment.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")


@prompts.command("drafts")
@click.option("--lang", default=None, help="Only this language.")
@pass_cli
def drafts_(cli: CliContext, lang: str | None) -> None:
    """List the recordings waiting for a second person's approval: language, key, draft id, who made it,
    when (in IVR_TIMEZONE), how long it is and how it came in."""
    import asyncio

    from ivr.db.writer import Database
    from ivr.prompts.review import waiting

    settings = cli.settings()
    _known_languages((lang,) if lang else ())
    database = Database(settings.db_path)
    try:
        rows = asyncio.run(database.read(lambda db: waiting(db, lang)))
    finally:
        database.close()
    if not rows:
        click.echo(f"no drafts waiting for approval{f' in {lang}' if lang else ''}")
        return
    click.echo(f"{'lang':5} {'key':24} {'draft':>6}  {'made by':20} {'when':16} {'seconds':>7}  via")
    for row in rows:
        seconds = f"{row['seconds']:.1f}" if row["seconds"] is not None else "?"
        click.echo(f"{row['lang']:5} {row['key']:24} {row['id']:6}  {row['submitted_by_name'] or '?'!s:20} "
                   f"{_local(settings, row['submitted_at']):16} {seconds:>7}  {row['via']}")
    click.echo(f"{len(rows)} waiting; `ivr prompts approve --lang LANG KEY --as USERNAME` (or reject) reviews one")


def _review(cli: CliContext, lang: str, key: str, username: str, draft: int | None, reason: str | None) -> None:
    """Approve (reason None) or reject one draft as the named account, through the web page's own review code."""
    import asyncio

    from ivr.db.writer import Database
    from ivr.prompts.convert import AudioError
    from ivr.prompts.review import NotFound, PromptReview, ReviewError, draft_of, reviewer

    settings = cli.settings()
    _known_languages((lang,))
    database = Database(settings.db_path)

    async def run() -> int:
        who = await database.read(lambda db: reviewer(db, username))
        rec_id = await database.read(lambda db: draft_of(db, lang, key, draft))
        review = PromptReview(settings, database)
        if reason is None:
            await review.approve(rec_id, who)
        else:
            await review.reject(rec_id, who, reason)
        return rec_id

    try:
        rec_id = asyncio.run(run())
    except (NotFound, ReviewError) as exc:
        raise click.ClickException(str(exc)) from None
    except AudioError as exc:   # the kept file no longer converts: the live prompt stays as it was
        raise click.ClickException(f"{lang}/{key}: the recording was not used: {exc}") from None
    finally:
        database.close()
    if reason is None:
        click.echo(f"{lang}/{key}: draft {rec_id} approved by {username}; callers hear it from their next call")
    else:
        click.echo(f"{lang}/{key}: draft {rec_id} rejected by {username}")


_LANG = click.option("--lang", required=True, help="The language of the draft.")
_AS = click.option("--as", "username", required=True,
                   help="The reviewer's account (a web UI user with the language; not the one who made the draft).")
_DRAFT = click.option("--draft", type=int, default=None, help="The draft id, when the key has more than one.")


@prompts.command()
@_LANG
@click.argument("key")
@_AS
@_DRAFT
@pass_cli
def approve(cli: CliContext, lang: str, key: str, username: str, draft: int | None) -> None:
    """Approve the draft of KEY so callers hear it: four eyes, as on the prompts page (audited as USERNAME)."""
    _review(cli, lang, key, username, draft, None)


@prompts.command()
@_LANG
@click.argument("key")
@_AS
@_DRAFT
@click.option("--reason", default="", help="Why, for the speaker and the record.")
@pass_cli
def reject(cli: CliContext, lang: str, key: str, username: str, draft: int | None, reason: str) -> None:
    """Reject the draft of KEY (the file is kept for the record; audited as USERNAME)."""
    _review(cli, lang, key, username, draft, reason)
