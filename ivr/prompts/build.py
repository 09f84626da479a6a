"""`ivr prompts build`: recordings and placeholders into $IVR_DATA_DIR/prompts/<lang>/<key>.wav.

For every catalog key in every language a caller may hear (the enabled languages and
their fallbacks):
- a recording (prompts/<lang>/<key>.<ext>) is converted to telephone audio;
- without one, a placeholder is synthesised with espeak-ng from the catalog text,
  and marked as a placeholder in the manifest;
- without a recording or an espeak-ng voice (Khmer, Lao), nothing is built; calls play the
  stand-in language's prompt if an admin chose one (ivr/prompts/standins.py), and the
  catalog's stand_in text is then synthesised in that language's voice.
A content hash decides what needs doing; a recording whose size and time are as at the
last build is not even read again. A recording that fails to convert never replaces a
working prompt.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ivr.db import utcnow
from ivr.languages import LANGUAGES, fallback_chain
from ivr.prompts.catalog import Catalog
from ivr.prompts.convert import SUPPORTED, AudioError, AudioInfo, to_telephone_wav
from ivr.prompts.provenance import built_intact, file_sha256
from ivr.prompts.sources import find_sources, placeholder_hash, recording_digest, recording_hash, stat_signature
from ivr.prompts.standins import stand_ins
from ivr.prompts.store import built_path, built_root, entry_name, is_playable, load_manifest, update_manifest
from ivr.prompts.texts import catalog_for
from ivr.prompts.voices import Espeak
from ivr.settings import Settings
from ivr.words import N_

log = logging.getLogger(__name__)

RECORDED = "recorded"
PLACEHOLDER = "placeholder"
# A manifest entry's failed build: the English line (``ivr prompts status``; all that older versions kept) and
# the same reason as words with their fields (ivr.words), which the prompts page shows in its reader's language.
FAILED, FAILED_WORDS = "error", "error_words"


@dataclass(frozen=True)
class Task:
    lang: str
    key: str
    kind: str  # RECORDED or PLACEHOLDER
    digest: str
    source: Path | None = None
    text: str = ""
    voice: str = ""
    source_stat: str = ""
    stand_in: str = ""  # the language whose voice says this language's words (an admin's choice)


@dataclass
class BuildReport:
    recorded: list[str] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)  # one-line messages
    removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fallbacks: dict[str, list[str]] = field(default_factory=dict)  # lang -> keys that play another language
    seconds: float = 0.0


def failure(error: AudioError) -> dict[str, Any]:
    """What a manifest entry keeps of a failed build (FAILED and FAILED_WORDS)."""
    return {FAILED: str(error), FAILED_WORDS: error.words.to_data()}


def build_languages(settings: Settings) -> list[str]:
    """Enabled languages plus every language they fall back to, in a stable order."""
    out: list[str] = []
    standing = stand_ins(settings)
    for lang in settings.languages:
        out += [code for code in [*fallback_chain(lang), standing.get(lang)] if code and code not in out]
    return out


def without_audio_message(settings: Settings, lang: str, count: int, *, voiced: bool = False) -> str:
    """One line for a language with prompts nobody recorded and nothing to make placeholders from: no
    espeak-ng voice, or (``voiced``) a voice but no text for them in the catalog."""
    lacking = f"no {lang} text in the catalog" if voiced else f"espeak-ng has no {lang} voice"
    standing = stand_ins(settings).get(lang)
    if standing:
        return (f"{lang}: {count} prompts have no recording and {lacking}; callers hear the "
                f"{standing} stand-in until they are recorded")
    return (f"{lang}: {count} prompts have no recording and {lacking}; {lang} cannot be "
            f"offered until they are recorded (or an admin chooses a stand-in: `ivr prompts stand-in {lang} th`)")


class PromptBuilder:
    def __init__(self, settings: Settings, *, espeak: Espeak | None = None, jobs: int | None = None) -> None:
        self.settings = settings
        self.root = built_root(settings)
        self.espeak = espeak or Espeak()
        self.jobs = jobs or min(4, os.cpu_count() or 1)

    def build(self, *, force: bool = False, languages: Iterable[str] | None = None) -> BuildReport:
        started = time.monotonic()
        catalog = catalog_for(self.settings)
        report = BuildReport()
        manifest = load_manifest(self.root)
        tasks: list[Task] = []
        changes: dict[str, dict[str, Any] | None] = {}
        for lang in languages or build_languages(self.settings):
            tasks += self._plan_language(catalog, lang, manifest, force, report, changes)
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            for task, entry, error in pool.map(self._run, tasks):
                name = entry_name(task.lang, task.key)
                if error is not None:
                    report.failed.append(str(error))
                    log.error("prompt %s not built: %s", name, error)
                if entry is not None:
                    changes[name] = entry
                    (report.recorded if entry["kind"] == RECORDED else report.placeholders).append(name)
                elif error is not None and name in manifest:
                    changes[name] = {**manifest[name], **failure(error)}
        update_manifest(self.root, changes)
        standing = stand_ins(self.settings)
        for lang, keys in report.fallbacks.items():
            # A stand-in an admin chose is no surprise (`ivr check` still warns of it); a language with
            # neither recordings nor a stand-in is.
            voiced = self.espeak.voice_for(lang) is not None
            log.log(logging.INFO if lang in standing else logging.WARNING, "%s",
                    without_audio_message(self.settings, lang, len(keys), voiced=voiced))
        report.seconds = time.monotonic() - started
        log.info("prompts built: %d recorded, %d placeholders, %d unchanged, %d failed in %.1f s",
                 len(report.recorded), len(report.placeholders), report.unchanged, len(report.failed),
                 report.seconds)
        return report

    def _plan_language(
        self, catalog: Catalog, lang: str, manifest: dict[str, dict[str, Any]], force: bool,
        report: BuildReport, changes: dict[str, dict[str, Any] | None],
    ) -> list[Task]:
        sources = find_sources(self.settings.prompts_dir, lang)
        report.warnings += sources.problems
        report.warnings += [f"{path}: no key {key!r} in the catalog; not built"
                            for key, path in sources.by_key.items() if key not in catalog.prompts]
        voice = self.espeak.voice_for(lang)
        standing = stand_ins(self.settings).get(lang)
        tasks: list[Task] = []
        for key in catalog.keys:
            name = entry_name(lang, key)
            previous = manifest.get(name, {})
            dst = built_path(self.root, lang, key)
            source = sources.by_key.get(key)
            text = catalog.text(key, lang)
            if source is not None:
                # The text and voice come along in case the recording fails and a placeholder must stand in.
                stat = stat_signature(source)
                task = Task(lang, key, RECORDED, recording_digest(source, stat, previous), source=source,
                            text=text.text if text else "", voice=voice or "", source_stat=stat)
            elif voice is not None and text is not None:
                task = Task(lang, key, PLACEHOLDER, placeholder_hash(text.text, voice), text=text.text, voice=voice)
            elif (text is not None and text.stand_in and text.stand_in[0] == standing
                  and self.espeak.voice_for(standing)):
                # Only when an admin chose this stand-in: "For Khmer, press" said in Thai.
                other_voice, words = str(self.espeak.voice_for(standing)), text.stand_in[1]
                task = Task(lang, key, PLACEHOLDER, placeholder_hash(words, other_voice), text=words, voice=other_voice,
                            stand_in=standing)
            else:
                if (previous.get("kind") == RECORDED or previous.get("stand_in")) and dst.exists():
                    # The recording was deleted, or the stand-in turned off, on purpose.
                    dst.unlink()
                    changes[name] = None
                    report.removed.append(name)
                report.fallbacks.setdefault(lang, []).append(key)
                continue
            if (not force and previous.get("hash") == task.digest and is_playable(dst) and FAILED not in previous
                    and built_intact(dst, previous)):   # a file copied over it by hand is built again
                report.unchanged += 1
                if "sha256" not in previous:   # built before the hash was recorded: record it from now on
                    changes[name] = {**previous, "sha256": file_sha256(dst)}
                continue
            tasks.append(task)
        return tasks

    def _run(self, task: Task) -> tuple[Task, dict[str, Any] | None, AudioError | None]:
        dst = built_path(self.root, task.lang, task.key)
        try:
            if task.kind == RECORDED and task.source is not None:
                return task, self._entry(task, to_telephone_wav(task.source, dst)), None
            return task, self._entry(task, self._synthesize(task, dst)), None
        except AudioError as exc:
            error = exc
        if task.kind == RECORDED and not is_playable(dst):
            # Nothing plays yet in this language: a placeholder is better than the fallback language.
            placeholder = self._placeholder_for(task)
            if placeholder is not None:
                try:
                    return task, {**self._entry(placeholder, self._synthesize(placeholder, dst)),
                                  **failure(error)}, error
                except AudioError:
                    pass
        return task, None, error

    def _placeholder_for(self, task: Task) -> Task | None:
        if not task.voice or not task.text:
            return None
        return Task(task.lang, task.key, PLACEHOLDER, placeholder_hash(task.text, task.voice),
                    text=task.text, voice=task.voice)

    def _synthesize(self, task: Task, dst: Path) -> AudioInfo:
        with tempfile.TemporaryDirectory(prefix="ivr-tts-") as tmp:
            raw = Path(tmp) / "speech.wav"
            self.espeak.synthesize(task.text, task.voice, raw)
            return to_telephone_wav(raw, dst)

    def _entry(self, task: Task, info: AudioInfo) -> dict[str, Any]:
        # sha256: what was written, so a file copied over it later is told apart (ivr/prompts/provenance.py).
        entry: dict[str, Any] = {"kind": task.kind, "hash": task.digest, "built_at": utcnow(),
                                 "sha256": file_sha256(built_path(self.root, task.lang, task.key))}
        if task.kind == RECORDED and task.source is not None:
            entry["source"] = task.source.name
            if task.source_stat:
                entry["source_stat"] = task.source_stat
        else:
            entry["voice"] = task.voice
            if task.stand_in:
                entry["stand_in"] = task.stand_in
        entry.update(asdict(info))
        return entry

    def replace_recording(self, lang: str, key: str, upload: Path, suffix: str) -> AudioInfo:
        """Install a new recording (e.g. uploaded in the web UI) through the same conversion.

        The upload is converted first; only when that works is it kept as the source
        recording and the built prompt replaced. Raises AudioError otherwise, and then
        the previous prompt and recording are untouched.
        """
        catalog = catalog_for(self.settings)
        if key not in catalog.prompts:
            raise AudioError(N_("not a prompt key in the catalog"), name=key)
        if lang not in LANGUAGES:
            # Any known language: one is recorded before it is offered (docs/prompts.md).
            raise AudioError(N_("not a language the hotline knows"), name=lang)
        dst = built_path(self.root, lang, key)
        staged = dst.with_name(f".{key}.upload.wav")
        folder = self.settings.prompts_dir / lang
        source = folder / f"{key}{suffix.lower()}"
        named = upload.with_name(f"{key}{suffix.lower()}") if upload.suffix.lower() != suffix.lower() else upload
        try:
            if named != upload:
                shutil.copyfile(upload, named)
            info = to_telephone_wav(named, staged)
            folder.mkdir(parents=True, exist_ok=True)
            keep = folder / f".{source.name}.tmp"
            shutil.copyfile(named, keep)
            os.replace(keep, source)
            for other in folder.iterdir():
                if other.stem == key and other != source and other.suffix.lower() in SUPPORTED:
                    other.unlink()  # one recording per key, or the next build would pick between them
            os.replace(staged, dst)
        except OSError as exc:
            raise AudioError(N_("the recording could not be saved (%(why)s)"), name=key, why=exc.strerror) from None
        finally:
            staged.unlink(missing_ok=True)
            if named != upload:
                named.unlink(missing_ok=True)
        stat = stat_signature(source)
        task = Task(lang, key, RECORDED, recording_hash(source), source=source, source_stat=stat)
        update_manifest(self.root, {entry_name(lang, key): self._entry(task, info)})
        log.info("prompt %s replaced by an uploaded recording", entry_name(lang, key))
        return info
