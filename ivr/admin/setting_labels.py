"""The /settings page's words: each setting's human label, and one way of saying a value is not set.

The page showed the raw names (``retention_call_days``) and, for a value that was not set, sometimes a
blank and sometimes "(not set)". Now a person reads a label in their language, with the raw name in
small text for whoever edits ``ivr.toml``. tests/test_admin_pages.py checks every setting has a label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ivr.settings import Settings
from ivr.words import N_

LABELS: dict[str, str] = {
    "data_dir": N_("Data folder"),
    "db": N_("Database file"),
    "ari_url": N_("Asterisk ARI address"),
    "ari_user": N_("Asterisk ARI user"),
    "ari_password": N_("Asterisk ARI password"),
    "ari_app": N_("Asterisk ARI application"),
    "admin_bind": N_("Web UI address and port"),
    "languages": N_("Languages callers can choose"),
    "prompt_placeholders": N_("Languages that may play machine placeholder prompts"),
    "prompt_placeholder_menu": N_("Placeholder allowed in the language menu (demos and tests)"),
    "prompt_line_pin": N_("Prompt recording line PIN"),
    "timezone": N_("Time zone"),
    "secret_key": N_("Deployment secret key"),
    "secret_key_file": N_("Deployment secret key file"),
    "prompts_dir": N_("Prompt recordings folder"),
    "flows_dir": N_("Call flows folder"),
    "models_dir": N_("Speech recognition models folder"),
    "flow": N_("Call flow in use"),
    "asterisk_local": N_("Asterisk runs on this machine"),
    "fallback_dir": N_("Folder for voicemails recorded while the engine was away"),
    "transfer_endpoint": N_("Live caseworker queue (dial string)"),
    "transcribe_workers": N_("Transcription processes"),
    "transcribe_max_seconds": N_("Longest recording transcribed by machine (seconds)"),
    "retention_recording_days": N_("Days recordings are kept"),
    "retention_call_days": N_("Days call records are kept"),
    "callback_number_days": N_("Days call-back numbers are kept"),
    "brand_k": N_("Smallest group shown in brand reports"),
    "brand_k_allow_unsafe": N_("Allow brand report groups smaller than 3"),
    "trusted_proxies": N_("Trusted reverse proxies"),
    "audit_signing_key_file": N_("Audit checkpoint signing key file"),
    "audit_public_key": N_("Audit checkpoint public key"),
    "cookie_secure": N_("Sign-in cookies over HTTPS only"),
    "backup_recipient": N_("Backup encryption key (age recipient)"),
    "backup_dir": N_("Backup folder"),
    "backup_keep": N_("Backups kept"),
    "monitor_token": N_("Monitoring token"),
    "log_level": N_("Log detail level"),
    "oncall_ring_seconds": N_("On-call: seconds a staff phone rings"),
    "oncall_ack_seconds": N_("On-call: seconds to press 1 to accept"),
    "oncall_round_pause_seconds": N_("On-call: pause before ringing the rota again (seconds)"),
    "oncall_hold_seconds": N_("On-call: seconds a caller holds for a person"),
    "oncall_trunk": N_("On-call: dial string for phone numbers"),
    "public_url": N_("Web UI address for links in alerts"),
    "smtp_host": N_("Email server"),
    "smtp_port": N_("Email server port"),
    "smtp_user": N_("Email server user"),
    "smtp_password": N_("Email server password"),
    "smtp_from": N_("Alert email sender"),
    "alert_email_to": N_("Alert email recipients"),
    "alert_webhook_url": N_("Alert webhook address"),
    "alert_webhook_secret": N_("Alert webhook secret"),
    "alert_ca_file": N_("Extra CA certificates for alerts"),
}

# How Settings.masked() writes a value that is not set (secrets and optional paths) and a set secret.
_NOT_SET = ("", "(not set)")
_HIDDEN = "********"


@dataclass(frozen=True)
class Shown:
    name: str       # the raw name, as in ivr.toml (IVR_ + its upper case in the environment)
    label: str      # in the reader's language
    value: str      # as the server runs with it, or the reader's words for "not set" / "set, hidden"
    is_set: bool


def shown(settings: Settings, _: Callable[[str], str]) -> list[Shown]:
    out = []
    for name, value in settings.masked().items():
        label = _(LABELS[name]) if name in LABELS else name
        if value in _NOT_SET:
            out.append(Shown(name, label, _("not set"), False))
        elif value == _HIDDEN:
            out.append(Shown(name, label, _("set (hidden)"), True))
        elif value in ("True", "False"):
            out.append(Shown(name, label, _("Yes") if value == "True" else _("No"), True))
        else:
            out.append(Shown(name, label, value, True))
    return out
