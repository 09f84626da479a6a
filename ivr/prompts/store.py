"""Where built prompts live ($IVR_DATA_DIR/prompts/<lang>/<key>.wav) and the manifest beside them.

The manifest records, per built prompt, what it was built from (a recording or a
placeholder synthesised from the catalog text) and the content hash that decides
whether the next build can skip it.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ivr.settings import Settings

MANIFEST = "manifest.json"
WAV_HEADER = 44  # a built file no bigger than its header holds no sound


def built_root(settings: Settings) -> Path:
    return (settings.data_dir / "prompts").resolve()


def built_path(root: Path, lang: str, key: str) -> Path:
    return root / lang / f"{key}.wav"


def is_playable(path: Path) -> bool:
    try:
        return path.stat().st_size > WAV_HEADER
    except OSError:
        return False


def entry_name(lang: str, key: str) -> str:
    return f"{lang}/{key}"


def load_manifest(root: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:
        # A damaged manifest only costs a full rebuild; the audio files are still fine.
        return {}
    entries = data.get("entries") if isinstance(data, dict) else None
    return entries if isinstance(entries, dict) else {}


def save_manifest(root: Path, entries: dict[str, dict[str, Any]]) -> None:
    write_json(root / MANIFEST, {"version": 1, "entries": dict(sorted(entries.items()))})


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` whole or not at all (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, ensure_ascii=False)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def manifest_lock(root: Path) -> Iterator[None]:
    """Serialise manifest updates between a build and an upload from the web UI."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def update_manifest(root: Path, changes: Mapping[str, dict[str, Any] | None]) -> None:
    """Apply entry changes (None removes the entry) without losing a concurrent writer's entries."""
    if not changes:
        return
    with manifest_lock(root):
        entries = load_manifest(root)
        for name, entry in changes.items():
            if entry is None:
                entries.pop(name, None)
            else:
                entries[name] = entry
        save_manifest(root, entries)
