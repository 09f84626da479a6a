"""`ivr prompts import FOLDER|ZIP --lang km`: a speaker's recordings back from a voice-talent kit.

Files are matched to keys by name (``greeting.m4a``, ``km/greeting.wav``), in any common audio
format. Each one is reported: imported (now a draft, waiting for a second person with the
language: ivr/prompts/review.py), refused with the reason (too long for its key, clipping, too
quiet, silence, damaged, wrong language folder, two files for one key), or unmatched (no such
key). Nothing refused is kept, and nothing callers hear changes until a draft is approved.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ivr.db.writer import Database
from ivr.languages import LANGUAGES
from ivr.prompts.catalog import Catalog
from ivr.prompts.convert import SUPPORTED, AudioError
from ivr.prompts.kit import max_seconds
from ivr.prompts.review import Person, PromptReview
from ivr.settings import Settings

KIT_FILES = (".pdf", ".csv", ".json", ".txt")
REFERENCE = "reference"  # the kit's own files, sent back with the recordings
MAX_ZIP_BYTES = 2 << 30   # unpacked: a whole language is a few hundred MB at most


class IntakeError(Exception):
    """The folder or zip cannot be read at all. One line."""


@dataclass
class IntakeReport:
    imported: list[tuple[str, str, int]] = field(default_factory=list)   # (file, key, draft id)
    refused: list[tuple[str, str]] = field(default_factory=list)         # (file, why)
    unmatched: list[str] = field(default_factory=list)                   # files named after no key


@contextmanager
def opened(source: Path) -> Iterator[Path]:
    """The folder to read: ``source`` itself, or a zip unpacked into a private temporary folder."""
    if source.is_dir():
        yield source
        return
    if not source.is_file():
        raise IntakeError(f"{source}: no such folder or zip file")
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise IntakeError(f"{source}: not a folder or a readable zip file ({exc})") from None
    with archive, tempfile.TemporaryDirectory(prefix="ivr-kit-import-") as tmp:
        if sum(info.file_size for info in archive.infolist()) > MAX_ZIP_BYTES:
            raise IntakeError(f"{source}: unpacks to more than {MAX_ZIP_BYTES >> 30} GB; is it the right file?")
        for info in archive.infolist():
            inner = PurePosixPath(info.filename)
            if info.is_dir() or inner.is_absolute() or ".." in inner.parts:
                continue   # never write outside the temporary folder
            target = Path(tmp, *inner.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        yield Path(tmp)


async def import_folder(settings: Settings, database: Database, catalog: Catalog, source: Path, lang: str,
                        who: Person) -> IntakeReport:
    review = PromptReview(settings, database)
    with opened(source) as folder:
        named = source.name if folder == source else ""
        chosen, report = await asyncio.to_thread(_match, folder, named, lang, catalog)
        for key, path in chosen.items():
            name = path.relative_to(folder).as_posix()
            try:
                draft = await review.submit(lang, key, path, who, "import", max_seconds(settings, catalog, key))
            except AudioError as exc:
                report.refused.append((name, str(exc).removeprefix(f"{path.name}: ")))
                continue
            report.imported.append((name, key, draft))
    return report


def _match(folder: Path, named: str, lang: str, catalog: Catalog) -> tuple[dict[str, Path], IntakeReport]:
    """key -> the file that records it; what cannot be matched is already in the report."""
    report = IntakeReport()
    chosen: dict[str, Path] = {}
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
                   and "__MACOSX" not in p.parts)
    for path in files:
        relative = path.relative_to(folder)
        name = relative.as_posix()
        if path.suffix.lower() not in SUPPORTED:
            if path.suffix.lower() not in KIT_FILES:
                report.unmatched.append(name)
            continue
        if REFERENCE in relative.parts[:-1]:
            continue   # the English reference audio the kit came with (also inside a kit sent back whole)
        others = [part for part in (named, *relative.parts[:-1]) if part in LANGUAGES and part != lang]
        if others:
            report.refused.append((name, f"wrong language folder ({others[-1]}, not {lang})"))
            continue
        key = path.stem.lower().strip()
        if key not in catalog.prompts:
            report.unmatched.append(name)
            continue
        if key in chosen:
            report.refused.append((name, f"{chosen[key].relative_to(folder).as_posix()} is also a "
                                         f"recording of {key}; import one of them"))
            continue
        chosen[key] = path
    return chosen, report
