"""`ivr models install LANG`: fetch an official Vosk model and check it before using it.

The model list (JSON, with an MD5 per archive) names each model's language, size and
whether it is obsolete. The archive is downloaded next to the models folder, its
checksum verified, unpacked, validated, and only then moved into ``<models_dir>/<lang>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from ivr.asr.models import ModelError, ModelStore, validate

MODEL_LIST_URL = "https://alphacephei.com/vosk/models/model-list.json"
# Our language codes -> the codes the Vosk list uses.
VOSK_CODES: dict[str, tuple[str, ...]] = {"vi": ("vn", "vi"), "en": ("en-us", "en-in", "en"), "tl": ("tl-ph",)}


def _fetch(url: str, timeout: float) -> Any:
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelError(
            f"cannot download {url} ({reason}); without internet, copy a model to this machine "
            "and run `ivr models add LANG PATH`") from None


def choose(entries: list[dict[str, Any]], lang: str, size: str) -> dict[str, Any]:
    codes = VOSK_CODES.get(lang, (lang,))
    usable = [e for e in entries if e.get("lang") in codes and str(e.get("obsolete", "false")) != "true"
              and e.get("url") and e.get("md5")]
    if not usable:
        raise ModelError(f"the Vosk model list has no model for language {lang!r}; a person transcribes it")
    sized = [e for e in usable if e.get("type") == size] or usable
    return sized[0]


def install(store: ModelStore, lang: str, *, list_url: str = MODEL_LIST_URL, size: str = "small",
            timeout: float = 30.0, replace: bool = False) -> Path:
    target = store.folder(lang)
    if (target.exists() or target.is_symlink()) and not replace:
        raise ModelError(f"{target} already exists; pass --replace to install over it")
    with _fetch(list_url, timeout) as resp:
        try:
            entries = json.loads(resp.read())
        except ValueError:
            raise ModelError(f"{list_url} is not a JSON model list") from None
    if not isinstance(entries, list):
        raise ModelError(f"{list_url} is not a JSON model list")
    entry = choose(entries, lang, size)
    store.models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store.models_dir, prefix=f".{lang}.install-") as tmp:
        archive = Path(tmp) / "model.zip"
        md5 = hashlib.md5(usedforsecurity=False)
        with _fetch(str(entry["url"]), timeout) as resp, archive.open("wb") as out:
            while block := resp.read(1 << 20):
                md5.update(block)
                out.write(block)
        if md5.hexdigest() != str(entry["md5"]).lower():
            raise ModelError(f"{entry['url']}: checksum mismatch (got {md5.hexdigest()}, list says "
                             f"{entry['md5']}); the download is damaged or not the official file")
        unpacked = Path(tmp) / "unpacked"
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(unpacked)  # zipfile drops absolute paths and "..", so nothing lands outside
        except zipfile.BadZipFile:
            raise ModelError(f"{entry['url']}: not a zip archive") from None
        tops = list(unpacked.iterdir())
        root = tops[0] if len(tops) == 1 and tops[0].is_dir() else unpacked
        validate(root)
        if target.is_symlink():
            target.unlink()
        elif target.exists():
            shutil.rmtree(target)
        os.replace(root, target)
    return target
