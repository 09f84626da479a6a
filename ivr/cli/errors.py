"""The one error boundary around every `ivr` command.

Whatever escapes a command becomes one line on stderr naming what failed and where to
look, and exit status 1. The traceback is printed only at IVR_LOG_LEVEL=DEBUG.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
import traceback

import click

from ivr.db.connect import DatabaseUnusable, describe
from ivr.lifecycle import PortInUse
from ivr.settings import Settings, SettingsError


def explain(exc: BaseException, settings: Settings | None) -> str:
    """One line for the operator: what failed and where to look."""
    if isinstance(exc, SettingsError | DatabaseUnusable | PortInUse):
        return str(exc)
    # The project's small named errors (CatalogError, MigrationError, ...) carry one-line messages.
    if type(exc).__module__.startswith("ivr.") and str(exc) and "\n" not in str(exc):
        return str(exc)
    from ivr.flows.load import FlowError

    if isinstance(exc, FlowError):
        more = f" (and {len(exc.problems) - 1} more; run `ivr check`)" if len(exc.problems) > 1 else ""
        return f"{exc.problems[0]}{more}"
    if isinstance(exc, sqlite3.Error):
        where = str(settings.db_path) if settings is not None else "the database (IVR_DB)"
        return f"{where} {describe(exc)}"
    if isinstance(exc, UnicodeDecodeError):
        return f"a file is not UTF-8 text ({exc.reason} at byte {exc.start})"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        if exc.errno == errno.EADDRINUSE:
            return f"{where}address already in use"
        return f"{where}{exc.strerror or exc}"
    return f"unexpected {type(exc).__name__}: {exc} (IVR_LOG_LEVEL=DEBUG shows the traceback)"


def debug_wanted(settings: Settings | None) -> bool:
    level = settings.log_level if settings is not None else os.environ.get("IVR_LOG_LEVEL", "")
    return level.upper() == "DEBUG"


def fail(exc: BaseException, settings: Settings | None) -> click.ClickException:
    """The ClickException (exit 1, ``Error: <line>``) to raise in place of ``exc``."""
    if debug_wanted(settings):
        traceback.print_exception(exc, file=sys.stderr)
    return click.ClickException(explain(exc, settings))
