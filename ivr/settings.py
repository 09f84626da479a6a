"""The hotline's settings: one frozen object built from layered sources.

Precedence, lowest first: defaults < ``ivr.toml`` < ``IVR_*`` environment variables
< command-line flags. Every value is validated once, at start-up; a bad one raises
:class:`SettingsError` whose message is a single line naming the setting.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ivr.languages import LANGUAGES

# Smallest brand-report group size that does not point at one or two callers.
MIN_SAFE_BRAND_K = 3


class SettingsError(Exception):
    """A setting has a value the hotline cannot run with. The message is one line."""


# Modes that handle caller data need the deployment secret (caller-number HMAC,
# encrypted call-back numbers, sign-in sessions).
MODES_NEEDING_SECRET = frozenset({"engine", "admin", "serve", "transcribe", "retention"})


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./var")
    db: Path | None = None  # resolved to data_dir/ivr.db
    ari_url: str = "http://127.0.0.1:8088"
    ari_user: str = "hotline"
    ari_password: str = field(default="", repr=False)
    ari_app: str = "hotline"
    admin_bind: str = "127.0.0.1:8080"
    languages: tuple[str, ...] = ("my", "km", "lo", "th", "ne", "vi", "en")
    # Languages in which a machine placeholder (espeak-ng reading the catalog text) may play to callers
    # while nobody has recorded the prompt; "all" for every language. None by default: a language is
    # offered only with approved human recordings (see ivr/prompts/readiness.py).
    prompt_placeholders: tuple[str, ...] = ()
    # For demos and tests only: a placeholder may also stand for a language's own entry in the language
    # menu, which otherwise must be a human recording before the language can be offered at all.
    prompt_placeholder_menu: bool = False
    # The staff prompt-recording line (ivr/prompts/line.py): staff phones reach it without a PIN; from
    # anywhere else this PIN (6 to 12 digits) is asked. Empty: staff phones only.
    prompt_line_pin: str = field(default="", repr=False)
    timezone: str = "Asia/Bangkok"
    secret_key: str = field(default="", repr=False)
    secret_key_file: Path | None = None
    # Where source recordings, flows and Vosk models live (checked-in folders by default).
    prompts_dir: Path = Path("./prompts")
    flows_dir: Path = Path("./callflows")
    models_dir: Path = Path("./asr_models")
    flow: str = "hotline"
    # True when Asterisk shares this machine's filesystem: prompts play by absolute path.
    asterisk_local: bool = True
    # Voicemails the dialplan recorded while the engine was away (see asterisk_conf/).
    fallback_dir: Path | None = None  # resolved to data_dir/fallback
    # Dial string of the live caseworker queue; empty means no live transfer.
    transfer_endpoint: str = ""
    transcribe_workers: int = 2
    # Longer recordings are transcribed up to this many seconds; a person does the rest.
    transcribe_max_seconds: int = 1200
    retention_recording_days: int = 365
    retention_call_days: int = 730
    callback_number_days: int = 30
    brand_k: int = 5
    # Below 3 a brand report can point at one or two callers; only with this explicit flag.
    brand_k_allow_unsafe: bool = False
    # Reverse proxies whose X-Forwarded-For is believed (addresses or networks); none by default.
    trusted_proxies: tuple[str, ...] = ()
    # Ed25519 private key that signs audit checkpoints; keep it off the database's disk and out of backups.
    audit_signing_key_file: Path | None = None
    # The matching public key (64 hex digits), for `ivr audit verify`.
    audit_public_key: str = ""
    cookie_secure: bool = True
    # Backups (ivr.ops.backup): the age public key they are encrypted to, where they go, how many stay.
    backup_recipient: str = ""
    backup_dir: Path | None = None  # resolved to data_dir/backups
    backup_keep: int = 14
    # Bearer token for /healthz and /metrics from other machines; empty = only from this machine.
    monitor_token: str = field(default="", repr=False)
    log_level: str = "INFO"
    # Emergencies (ivr/oncall): how long a staff phone rings, how long they have to press 1,
    # the pause before the rota is rung again, and how long the caller holds for a person.
    oncall_ring_seconds: int = 25
    oncall_ack_seconds: int = 30
    oncall_round_pause_seconds: int = 30
    oncall_hold_seconds: int = 60
    # Dial string for rota phones given as numbers, with {number}, e.g. PJSIP/{number}@trunk.
    oncall_trunk: str = ""
    # The web UI's address as staff reach it, for links in alert emails and webhooks.
    public_url: str = ""
    # Alert email over SMTP with STARTTLS (optional: set smtp_host and alert_email_to).
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_from: str = ""
    alert_email_to: str = ""
    # Alert webhook: an https URL that gets a JSON POST signed with HMAC-SHA256 (optional).
    alert_webhook_url: str = ""
    alert_webhook_secret: str = field(default="", repr=False)
    # Extra CA certificates to trust for the SMTP server and the webhook (a private CA).
    alert_ca_file: Path | None = None

    # -- derived values -------------------------------------------------------------

    def placeholders_allowed(self, lang: str) -> bool:
        return "all" in self.prompt_placeholders or lang in self.prompt_placeholders

    @property
    def db_path(self) -> Path:
        return self.db if self.db is not None else self.data_dir / "ivr.db"

    @property
    def fallback_path(self) -> Path:
        return self.fallback_dir if self.fallback_dir is not None else self.data_dir / "fallback"

    @property
    def backup_path(self) -> Path:
        return self.backup_dir if self.backup_dir is not None else self.data_dir / "backups"

    @property
    def admin_host(self) -> str:
        return self.admin_bind.rsplit(":", 1)[0]

    @property
    def admin_port(self) -> int:
        return int(self.admin_bind.rsplit(":", 1)[1])

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def key(self, purpose: str) -> bytes:
        """A key for one purpose, derived from the deployment secret.

        Separate keys mean a leak of, say, session cookies' key does not let anyone
        link caller references.
        """
        if not self.secret_key:
            raise SettingsError("IVR_SECRET_KEY: not set, and this mode needs it")
        return hmac.new(self.secret_key.encode(), purpose.encode(), hashlib.sha256).digest()

    def masked(self) -> dict[str, str]:
        """The effective settings as strings, with secrets masked, for `ivr config`."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS:
                text = "********" if value else "(not set)"
            elif isinstance(value, tuple):
                text = ",".join(value)
            elif value is None:
                text = "(not set)"
            else:
                text = str(value)
            out[f.name] = text
        out["db"] = str(self.db_path)
        out["fallback_dir"] = str(self.fallback_path)
        out["backup_dir"] = str(self.backup_path)
        return out


SECRET_FIELDS = frozenset({"ari_password", "secret_key", "monitor_token", "smtp_password", "alert_webhook_secret",
                           "prompt_line_pin"})

# The one place for the bounds of every numeric setting: (lowest, highest), both allowed.
# Beyond these a value is a typo or a mistake (a call-back number kept for 270 000 years,
# 100 000 decoder processes), so start-up refuses it.
BOUNDS: dict[str, tuple[int, int]] = {
    "transcribe_workers": (1, 64),
    "transcribe_max_seconds": (10, 4 * 3600),
    "retention_recording_days": (1, 36500),
    "retention_call_days": (1, 36500),
    "callback_number_days": (1, 3650),
    "brand_k": (1, 1000),
    "backup_keep": (1, 10000),
}
FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def env_name(name: str) -> str:
    return "IVR_" + name.upper()


def _coerce(name: str, raw: Any, label: str | None = None) -> Any:
    """Turn a raw value (a string from the environment, or a TOML value) into the field's type.

    ``label`` is how the value was given (``--set brand_k``, ``ivr.toml: brand_k``), for the message.
    """
    default = FIELDS[name].default
    kind = FIELDS[name].type
    label = label or env_name(name)
    try:
        if name in ("languages", "trusted_proxies", "prompt_placeholders"):
            items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
            return tuple(str(i).strip() for i in items if str(i).strip())
        if isinstance(default, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError("expected true or false")
        if isinstance(default, int):
            text = str(raw).strip()
            if isinstance(raw, float) or not text.lstrip("-").isascii() or not text.lstrip("-").isdigit():
                raise ValueError("expected a whole number")
            return int(text)
        if "Path" in str(kind):
            return Path(str(raw)).expanduser()
        return str(raw)
    except ValueError as exc:
        raise SettingsError(f"{label}: {raw!r} is not valid ({exc})") from None


def load(
    *,
    flags: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    mode: str | None = None,
) -> Settings:
    """Build and validate the settings.

    ``config_file`` defaults to ``$IVR_CONFIG`` or ``./ivr.toml`` when it exists.
    ``mode`` names the command being run, so a secret is demanded only where needed.
    ``labels`` say how each flag was typed (``--set brand_k``), for messages.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}

    path = config_file or (Path(environ["IVR_CONFIG"]) if environ.get("IVR_CONFIG") else None)
    if path is None and Path("ivr.toml").exists():
        path = Path("ivr.toml")
    if path is not None:
        values.update(_read_toml(path))

    for name in FIELDS:
        if env_name(name) in environ and environ[env_name(name)] != "":
            values[name] = _coerce(name, environ[env_name(name)])

    for name, value in (flags or {}).items():
        label = (labels or {}).get(name, f"--set {name}")
        if name not in FIELDS:
            raise SettingsError(f"{label}: unknown setting")
        if value is not None:
            values[name] = _coerce(name, value, label)

    settings = Settings(**values)
    settings = _resolve_secret(settings)
    validate(settings, mode=mode)
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"IVR_CONFIG: {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"IVR_CONFIG: {path} is not valid TOML ({exc})") from None
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name not in FIELDS:
            raise SettingsError(f"{path}: unknown setting {name!r}")
        out[name] = _coerce(name, value, f"{path}: {name}")
    return out


def _resolve_secret(s: Settings) -> Settings:
    if s.secret_key or s.secret_key_file is None:
        return s
    try:
        secret = s.secret_key_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"IVR_SECRET_KEY_FILE: cannot read {s.secret_key_file} ({exc.strerror})") from None
    if not secret:
        raise SettingsError(f"IVR_SECRET_KEY_FILE: {s.secret_key_file} is empty")
    return dataclasses.replace(s, secret_key=secret)


def validate(s: Settings, *, mode: str | None = None) -> None:
    url = urlsplit(s.ari_url)
    if url.scheme not in {"http", "https"} or not url.hostname:
        raise SettingsError(f"IVR_ARI_URL: {s.ari_url!r} is not an http:// or https:// URL with a host")
    try:
        _ = url.port
    except ValueError:
        raise SettingsError(f"IVR_ARI_URL: {s.ari_url!r} has a port that is not a number") from None
    if url.username or url.password:
        raise SettingsError("IVR_ARI_URL: put credentials in IVR_ARI_USER/IVR_ARI_PASSWORD, not in the URL")
    if not s.ari_app or not all(c.isalnum() or c in "-_." for c in s.ari_app):
        raise SettingsError(f"IVR_ARI_APP: {s.ari_app!r} is not a valid Stasis application name")

    host, sep, port = s.admin_bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(f"IVR_ADMIN_BIND: {s.admin_bind!r} is not HOST:PORT")

    if not s.languages:
        raise SettingsError("IVR_LANGUAGES: empty; list at least one language code, e.g. my,km,en")
    for code in s.languages:
        if code not in LANGUAGES:
            known = ",".join(sorted(LANGUAGES))
            raise SettingsError(f"IVR_LANGUAGES: unknown language code {code!r} (known: {known})")
    if len(set(s.languages)) != len(s.languages):
        raise SettingsError("IVR_LANGUAGES: a language is listed twice")
    if len(s.languages) > 9:
        raise SettingsError("IVR_LANGUAGES: at most 9 languages fit on a keypad menu")

    if s.prompt_line_pin and not (s.prompt_line_pin.isdigit() and 6 <= len(s.prompt_line_pin) <= 12):
        raise SettingsError("IVR_PROMPT_LINE_PIN: must be 6 to 12 digits (or empty: staff phones only)")
    for code in s.prompt_placeholders:
        if code != "all" and code not in LANGUAGES:
            raise SettingsError(f"IVR_PROMPT_PLACEHOLDERS: unknown language code {code!r} (or use all)")

    try:
        zoneinfo.ZoneInfo(s.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"IVR_TIMEZONE: {s.timezone!r} is not a known time zone") from None

    if s.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError(f"IVR_LOG_LEVEL: {s.log_level!r} is not DEBUG, INFO, WARNING or ERROR")
    for name, (lo, hi) in BOUNDS.items():
        if not lo <= getattr(s, name) <= hi:
            raise SettingsError(f"{env_name(name)}: {getattr(s, name)} is out of range ({lo} to {hi})")

    if s.brand_k < MIN_SAFE_BRAND_K and not s.brand_k_allow_unsafe:
        raise SettingsError(
            f"IVR_BRAND_K: {s.brand_k} is below {MIN_SAFE_BRAND_K}: a brand report would show figures from one or two "
            "callers, which can name them to their employer; set IVR_BRAND_K_ALLOW_UNSAFE=true to allow it anyway"
        )
    for entry in s.trusted_proxies:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise SettingsError(f"IVR_TRUSTED_PROXIES: {entry!r} is not an IP address or network") from None
    if s.audit_public_key and not _is_hex_key(s.audit_public_key):
        raise SettingsError("IVR_AUDIT_PUBLIC_KEY: expected 64 hex digits (from `ivr audit keygen`)")
    _validate_alerts(s)

    if s.backup_recipient and not s.backup_recipient.startswith("age1"):
        raise SettingsError("IVR_BACKUP_RECIPIENT: not an age public key (it starts with age1…; "
                            "make one with `ivr backup keygen`)")

    if mode in MODES_NEEDING_SECRET:
        if not s.secret_key:
            raise SettingsError(
                f"IVR_SECRET_KEY: `ivr {mode}` needs a secret (set IVR_SECRET_KEY or IVR_SECRET_KEY_FILE)"
            )
        if len(s.secret_key) < 16:
            raise SettingsError("IVR_SECRET_KEY: too short; use at least 16 random characters")

    if mode is not None:
        _check_writable(s.data_dir)


def _is_hex_key(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


def _validate_alerts(s: Settings) -> None:
    for name in ("oncall_ring_seconds", "oncall_ack_seconds", "oncall_hold_seconds"):
        if getattr(s, name) < 1:
            raise SettingsError(f"{env_name(name)}: must be at least 1")
    if s.oncall_round_pause_seconds < 0:
        raise SettingsError("IVR_ONCALL_ROUND_PAUSE_SECONDS: must be 0 or more")
    if s.oncall_trunk and "{number}" not in s.oncall_trunk:
        raise SettingsError(f"IVR_ONCALL_TRUNK: {s.oncall_trunk!r} has no {{number}} placeholder")
    if s.public_url and urlsplit(s.public_url).scheme not in {"http", "https"}:
        raise SettingsError(f"IVR_PUBLIC_URL: {s.public_url!r} is not an http:// or https:// URL")
    if s.smtp_host or s.alert_email_to:
        if not s.smtp_host:
            raise SettingsError("IVR_SMTP_HOST: empty, but IVR_ALERT_EMAIL_TO is set; name the SMTP server")
        if any(c in s.smtp_host for c in " /:@"):
            raise SettingsError(f"IVR_SMTP_HOST: {s.smtp_host!r} is not a host name")
        if not 1 <= s.smtp_port <= 65535:
            raise SettingsError(f"IVR_SMTP_PORT: {s.smtp_port} is not a port (1-65535)")
        if not _EMAIL.match(s.smtp_from):
            raise SettingsError(f"IVR_SMTP_FROM: {s.smtp_from!r} is not an email address")
        to = [a.strip() for a in s.alert_email_to.split(",") if a.strip()]
        if not to:
            raise SettingsError("IVR_ALERT_EMAIL_TO: empty; list who gets emergency emails (comma-separated)")
        for address in to:
            if not _EMAIL.match(address):
                raise SettingsError(f"IVR_ALERT_EMAIL_TO: {address!r} is not an email address")
        if bool(s.smtp_user) != bool(s.smtp_password):
            raise SettingsError("IVR_SMTP_USER, IVR_SMTP_PASSWORD: set both or neither")
    if s.alert_webhook_url:
        url = urlsplit(s.alert_webhook_url)
        if url.scheme != "https" or not url.hostname:
            raise SettingsError(f"IVR_ALERT_WEBHOOK_URL: {s.alert_webhook_url!r} is not an https:// URL "
                                "(alerts never travel unencrypted)")
        if len(s.alert_webhook_secret) < 16:
            raise SettingsError("IVR_ALERT_WEBHOOK_SECRET: needs at least 16 random characters to sign the webhook")
    if s.alert_ca_file is not None and not s.alert_ca_file.is_file():
        raise SettingsError(f"IVR_ALERT_CA_FILE: {s.alert_ca_file} is not a file")


_EMAIL = re.compile(r"^[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+$")


def _check_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SettingsError(f"IVR_DATA_DIR: {path} cannot be written ({exc.strerror})") from None
