"""What every CLI command shares: the flags given to ``ivr`` and loading settings from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ivr import log
from ivr.settings import Settings, SettingsError, load


@dataclass
class CliContext:
    flags: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # how each flag was typed, for messages
    config_file: Path | None = None
    loaded: Settings | None = None  # the last settings loaded, for the error boundary's messages

    def settings(self, mode: str | None = None) -> Settings:
        """Load and validate the settings, or stop with one line naming the bad setting."""
        try:
            settings = load(flags=self.flags, labels=self.labels, config_file=self.config_file, mode=mode)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
        log.setup(settings.log_level)
        self.loaded = settings
        return settings


pass_cli = click.make_pass_decorator(CliContext)
