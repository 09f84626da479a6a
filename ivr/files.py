"""File and folder modes for caller data.

Everything a caller said (recordings, replies, the database and its WAL) is readable by
the hotline's user only. Where Asterisk must read or write (the dialplan's fallback
voicemails, replies it plays by path) the folder or file is shared with the ``asterisk``
group, never with everyone. Modes are set explicitly, so a umask of 022 or 077 gives the same.
"""

from __future__ import annotations

import grp
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_FILE = 0o600     # the database, recordings
SHARED_FILE = 0o640      # replies Asterisk plays by path
PRIVATE_DIR = 0o700      # recordings
SHARED_DIR = 0o750       # the data dir (Asterisk walks into prompts/ and fallback/), replies
WRITABLE_DIR = 0o770     # the fallback folder: the dialplan records into it
ASTERISK_GROUP = "asterisk"


def asterisk_gid() -> int | None:
    try:
        return grp.getgrnam(ASTERISK_GROUP).gr_gid
    except KeyError:
        return None


def _share(path: Path) -> None:
    gid = asterisk_gid()
    if gid is None:
        return
    try:
        os.chown(path, -1, gid)
    except OSError as exc:  # not root and not in the group: the mode still keeps others out
        log.debug("cannot give %s to group %s (%s)", path, ASTERISK_GROUP, exc.strerror)


def make_dir(path: Path, mode: int = PRIVATE_DIR) -> Path:
    """Create ``path`` (and missing parents, with the same mode) and set its mode; a folder
    shared with Asterisk gets the asterisk group."""
    created = []
    here = path
    while not here.exists() and here.parent != here:
        created.append(here)
        here = here.parent
    path.mkdir(parents=True, exist_ok=True)
    for folder in {path, *created}:
        try:
            set_mode(folder, mode)
        except OSError as exc:  # an existing folder someone else owns: leave its mode to them
            if folder in created:
                raise
            log.debug("cannot set the mode of %s (%s)", folder, exc.strerror)
    return path


def set_mode(path: Path, mode: int) -> None:
    path.chmod(mode)
    if mode & 0o070:
        _share(path)
