"""Writing the rendered configuration: secrets readable by the asterisk user only."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
from pathlib import Path

from ivr.asterisk.render import SECRET_FILES


def write(out: Path, files: dict[str, str], *, owner: str = "asterisk") -> list[Path]:
    """Write every file into ``out``. Files holding a password get mode 0640 (0600 when nobody owns them
    for Asterisk); run as root with an ``asterisk`` user present, they are chowned root:asterisk."""
    out.mkdir(parents=True, exist_ok=True)
    group: int | None = None
    if os.geteuid() == 0:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(owner)
            group = grp.getgrnam(owner).gr_gid
    written = []
    for name, text in sorted(files.items()):
        path = out / name
        secret = name in SECRET_FILES
        tmp = path.with_name(f".{name}.tmp")
        # Created with its final mode: a secret is never readable by others, not even for a moment.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if secret and group is not None:
            os.chown(tmp, 0, group)
            os.chmod(tmp, 0o640)
        else:
            os.chmod(tmp, 0o600 if secret else 0o644)
        os.replace(tmp, path)
        written.append(path)
    return written
