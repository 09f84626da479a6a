"""`ivr check`: every part of the hotline registers what it can check.

A check takes the settings and returns problems, each one line that names the file
(and node, or key) and says what is wrong; a line starting with ``WARNING`` only informs.
Built-in checks use the same registry an extension would.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ivr.settings import Settings

CheckFn = Callable[[Settings], list[str]]

# A problem line that starts with this is shown by `ivr check` but does not fail it.
WARNING = "warning: "

_CHECKS: dict[str, CheckFn] = {}

# Modules whose import registers their checks.
CHECK_MODULES = (
    "ivr.site_check", "ivr.flows.check", "ivr.prompts.check", "ivr.asr.check", "ivr.oncall.check",
    "ivr.engine.integrity",
)


def check(name: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        _CHECKS[name] = fn
        return fn

    return register


def run_all(settings: Settings) -> dict[str, list[str]]:
    """Problems by check name (an empty list means that part is fine)."""
    for module in CHECK_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return {name: fn(settings) for name, fn in sorted(_CHECKS.items())}
