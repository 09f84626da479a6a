"""Vosk models on disk: one folder per language under ``settings.models_dir``.

A model folder is checked for the files Vosk needs before anything loads it, so an
incomplete copy is rejected with a reason instead of crashing a worker process.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

# Kaldi's default when mfcc.conf does not say (true of nearly every Vosk model).
DEFAULT_RATE = 16000
# Folder names that say nothing about which model it is.
GENERIC_NAMES = frozenset({"model", "models", "current"})


class ModelError(Exception):
    """A model folder is missing or incomplete. The message is one line."""


@dataclass(frozen=True)
class ModelInfo:
    lang: str
    path: Path
    name: str
    rate: int | None
    problem: str | None  # None when the model is usable


def problems(path: Path) -> list[str]:
    """What stops ``path`` from being a usable Vosk model (empty when it is usable)."""
    if not path.is_dir():
        return [f"{path} is not a folder"]
    found: list[str] = []
    for rel in ("am/final.mdl", "conf/mfcc.conf", "conf/model.conf"):
        if not (path / rel).is_file():
            found.append(f"{rel} is missing")
    graph = path / "graph"
    static = (graph / "HCLG.fst").is_file()
    lookahead = (graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file()
    if not static and not lookahead:
        found.append("graph/ has neither HCLG.fst nor HCLr.fst+Gr.fst")
    if not (graph / "phones" / "word_boundary.int").is_file():
        found.append("graph/phones/word_boundary.int is missing (word times need it)")
    ivector = path / "ivector"
    if ivector.is_dir():
        for rel in ("final.dubm", "final.ie", "final.mat", "global_cmvn.stats", "online_cmvn.conf", "splice.conf"):
            if not (ivector / rel).is_file():
                found.append(f"ivector/{rel} is missing")
    for rel in ("am/final.mdl", "graph/HCLG.fst", "graph/HCLr.fst", "graph/Gr.fst"):
        file = path / rel
        if file.is_file() and file.stat().st_size == 0:
            found.append(f"{rel} is empty (interrupted copy?)")
    return found


def validate(path: Path) -> None:
    """Raise :class:`ModelError` naming the first problem with the model at ``path``."""
    found = problems(path)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise ModelError(f"{path}: incomplete Vosk model: {found[0]}{more}")


def sample_rate(path: Path) -> int:
    """The rate the model's features expect, from ``conf/mfcc.conf``."""
    try:
        text = (path / "conf" / "mfcc.conf").read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ModelError(f"{path}: cannot read conf/mfcc.conf ({exc.strerror})") from None
    match = re.search(r"^\s*--sample-frequency=(\d+(?:\.\d*)?)", text, re.MULTILINE)
    return int(float(match.group(1))) if match else DEFAULT_RATE


def model_name(path: Path) -> str:
    """A readable name for the model at ``path`` (its folder, or its parent's when generic)."""
    real = path.resolve()
    if real.name.lower() in GENERIC_NAMES and real.parent.name:
        return f"{real.parent.name}/{real.name}"
    return real.name


class ModelStore:
    """The models folder: ``<models_dir>/<lang>/`` is the model for ``lang`` (a folder or a link)."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir

    def folder(self, lang: str) -> Path:
        return self.models_dir / lang

    def path(self, lang: str) -> Path | None:
        """The usable model for ``lang``, or None when there is none (or it is incomplete)."""
        folder = self.folder(lang)
        return folder if folder.is_dir() and not problems(folder) else None

    def require(self, lang: str) -> Path:
        """The model for ``lang``; :class:`ModelError` says why there is none."""
        folder = self.folder(lang)
        if not folder.exists() and not folder.is_symlink():
            raise ModelError(f"no Vosk model for language {lang!r} (expected {folder})")
        validate(folder)
        return folder

    def list(self) -> list[ModelInfo]:
        if not self.models_dir.is_dir():
            return []
        out = []
        for entry in sorted(self.models_dir.iterdir()):
            if entry.name.startswith(".") or not (entry.is_dir() or entry.is_symlink()):
                continue
            found = problems(entry)
            rate = sample_rate(entry) if not found else None
            out.append(ModelInfo(entry.name, entry, model_name(entry), rate, "; ".join(found) or None))
        return out

    def add(self, lang: str, source: Path, *, replace: bool = False) -> Path:
        """Register the model already at ``source`` for ``lang`` (a link, so nothing is copied)."""
        source = source.expanduser().resolve()
        validate(source)
        folder = self.folder(lang)
        if folder.exists() or folder.is_symlink():
            if not replace:
                raise ModelError(f"{folder} already exists; pass --replace to register another model")
            if not folder.is_symlink():
                raise ModelError(f"{folder} is a folder, not a registered link; move it away first")
        self.models_dir.mkdir(parents=True, exist_ok=True)
        # Swap the link atomically so a running worker never sees a half-registered model.
        tmp = self.models_dir / f".{lang}.new"
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(source, target_is_directory=True)
        os.replace(tmp, folder)
        return folder
