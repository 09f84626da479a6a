"""Source recordings: prompts/<lang>/<key>.<ext>, and the content hashes that make builds incremental."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.prompts import convert

# Bump when the conversion changes in a way that should rebuild every prompt.
PIPELINE = f"v2 rate={convert.RATE} target={convert.TARGET_LUFS} LUFS ceiling={convert.CEILING_DBFS}"


@dataclass
class Sources:
    by_key: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # one line each: duplicates, unsupported files


def find_sources(prompts_dir: Path, lang: str) -> Sources:
    """The recording for each key in one language; the newest wins when a key has several."""
    out = Sources()
    folder = prompts_dir / lang
    if not folder.is_dir():
        return out
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() not in convert.SUPPORTED:
            out.problems.append(f"{path}: not a recording format the build reads ({path.suffix or 'no extension'})")
            continue
        key = path.stem
        other = out.by_key.get(key)
        if other is not None:
            newer, older = (path, other) if path.stat().st_mtime >= other.stat().st_mtime else (other, path)
            out.problems.append(f"{older}: {newer.name} is also there for {lang}/{key}; the newer one is used")
            path = newer
        out.by_key[key] = path
    return out


def stat_signature(path: Path) -> str:
    """The pipeline, size and modification time, taken before hashing: while they still match what the
    manifest recorded, the built prompt is current without reading the recording (as make and git judge files)."""
    st = path.stat()
    return f"{PIPELINE} size={st.st_size} mtime_ns={st.st_mtime_ns}"


def recording_digest(path: Path, stat: str, entry: Mapping[str, Any]) -> str:
    """The recording's hash: the manifest ``entry``'s while its name and ``stat`` still match, else read anew."""
    known = entry.get("hash")
    if entry.get("source") == path.name and entry.get("source_stat") == stat and isinstance(known, str):
        return known
    return recording_hash(path)


def recording_hash(path: Path) -> str:
    digest = hashlib.sha256(PIPELINE.encode())
    with open(path, "rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def placeholder_hash(text: str, voice: str) -> str:
    return hashlib.sha256(f"{PIPELINE}\0placeholder\0{voice}\0{text}".encode()).hexdigest()
