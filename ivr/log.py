"""Logging set-up, and the adapter that puts the call id on every call-related line.

Never log a phone number, a transcript or a name: log ids (call id, case id, job id).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any


def setup(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        force=True,
    )
    # aiohttp logs every request line at INFO; the admin server logs its own.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


class CallLog(logging.LoggerAdapter[logging.Logger]):
    """``log = CallLog(logger, call_id)``: every line starts with ``call=<id>``."""

    def __init__(self, logger: logging.Logger, call_id: str) -> None:
        super().__init__(logger, {"call_id": call_id})

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        assert self.extra is not None
        return f"call={self.extra['call_id']} {msg}", kwargs
