"""Render the Asterisk 22 configuration of this deployment from the settings and a few deployment facts.

The output is complete and self-consistent: every context a ``Goto``/``Dial``/endpoint names is
defined, every endpoint a ``Dial`` names exists, and nothing is left to hand-edit. Paths come from
the settings (``IVR_DATA_DIR``), so the dialplan's fallback folder and prompts are the engine's.
:func:`problems` is the consistency checker the tests (and ``ivr asterisk config`` itself) run.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from ivr.prompts.store import built_root
from ivr.settings import Settings, SettingsError

TRUNK = "tollfree"
QUEUE_CONTEXT, QUEUE_EXTEN = "hotline-queue", "caseworkers"
TRANSFER_ENDPOINT = f"Local/{QUEUE_EXTEN}@{QUEUE_CONTEXT}"
HOTLINE_EXTEN = "1000"
# The staff prompt-recording line (ivr/prompts/line.py): its own Stasis app, <IVR_ARI_APP>-prompts.
LINE_CONTEXT, LINE_EXTEN, LINE_SUFFIX = "prompt-line", "1700", "-prompts"
# Files holding a password: readable by the asterisk user only.
SECRET_FILES = frozenset({"pjsip.conf", "ari.conf", "phones.txt"})
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
# What a dialplan argument or a config value may hold without quoting surprises.
SAFE_PATH_RE = re.compile(r"^/[A-Za-z0-9_./@+-]+$")
SAFE_VALUE_RE = re.compile(r"^[^\s;,\[\]\"]+$")

# The modules the hotline uses; nothing else is loaded (less to go wrong, less to attack).
MODULES = (
    # SIP and RTP
    "res_pjproject", "res_sorcery_config", "res_sorcery_memory", "res_sorcery_astdb", "res_pjsip",
    "res_pjsip_session", "res_pjsip_sdp_rtp", "res_pjsip_authenticator_digest",
    "res_pjsip_outbound_authenticator_digest", "res_pjsip_endpoint_identifier_ip",
    "res_pjsip_endpoint_identifier_user", "res_pjsip_outbound_registration", "res_pjsip_registrar",
    "res_pjsip_caller_id", "res_pjsip_nat", "res_pjsip_rfc3326", "res_pjsip_dtmf_info",
    "res_pjsip_dlg_options", "res_pjsip_acl", "res_pjsip_pubsub", "res_rtp_asterisk", "res_rtp_multicast",
    "chan_pjsip", "chan_rtp",
    "res_timing_timerfd",
    # audio
    "codec_ulaw", "codec_alaw", "codec_a_mu", "codec_resample", "format_wav", "format_pcm", "format_sln",
    # dialplan
    "pbx_config", "app_dial", "app_playback", "app_record", "app_system", "app_stasis",
    "func_channel", "func_cdr", "func_logic", "func_strings", "func_callerid",
    "bridge_simple", "bridge_softmix", "bridge_native_rtp", "bridge_holding",
    # ARI
    "res_http_websocket", "res_websocket_client", "res_stasis", "res_stasis_device_state", "res_stasis_answer",
    "res_stasis_playback", "res_stasis_recording",
    "res_stasis_snoop", "res_ari", "res_ari_model", "res_ari_applications", "res_ari_asterisk",
    "res_ari_bridges", "res_ari_channels", "res_ari_endpoints", "res_ari_events", "res_ari_playbacks",
    "res_ari_recordings", "res_ari_sounds", "res_ari_device_states",
)


class ConfigError(SettingsError):
    """A deployment fact cannot be turned into a working configuration. The message is one line."""


@dataclass(frozen=True)
class Trunk:
    """The toll-free number provider's SIP trunk."""

    mode: Literal["registration", "ip"] = "ip"
    host: str = ""                   # host or host:port of the provider's proxy
    user: str = ""                   # registration / auth user name
    secret: str = field(default="", repr=False)
    match: tuple[str, ...] = ()      # addresses/networks its calls come from (IP[:port][/mask]); default: host
    did: str = ""                    # the toll-free number as the provider delivers it


@dataclass(frozen=True)
class Deployment:
    trunk: Trunk
    transport_bind: str = "0.0.0.0:5060"
    external_address: str = ""       # public address behind NAT
    local_nets: tuple[str, ...] = ()
    rtp_ports: tuple[int, int] = (10000, 20000)
    phones: tuple[str, ...] = ()     # caseworker SIP phones for live transfer
    http_bind: str = ""              # HOST:PORT of ARI; default from IVR_ARI_URL
    prompt_line_did: str = ""        # a number of its own for the staff prompt line (PIN); none by default


def phone_password(settings: Settings, name: str) -> str:
    """A caseworker phone's SIP password, derived from the deployment secret (same on every render)."""
    return hashlib.sha256(settings.key(f"sip-phone:{name}")).hexdigest()[:24]


def _hostport(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{what}: {value!r} is not HOST:PORT")
    return host, int(port)


def _check_value(value: str, what: str) -> str:
    if not value or not SAFE_VALUE_RE.match(value):
        raise ConfigError(f"{what}: {value!r} is empty or holds spaces, ';', ',', brackets or quotes")
    return value


def _check_match(value: str) -> str:
    address = value.split("/", 1)[0]
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 else address
    try:
        ipaddress.ip_network(host if "/" not in value else f"{host}/{value.split('/', 1)[1]}", strict=False)
    except ValueError:
        if not re.match(r"^[A-Za-z0-9.-]+$", host):
            raise ConfigError(f"--trunk-match: {value!r} is not an address, network or host name") from None
    return value


def _dialplan_path(path: Path, what: str) -> str:
    text = str(path.resolve())
    if not SAFE_PATH_RE.match(text):
        raise ConfigError(f"{what}: {text} has characters the dialplan cannot carry (use letters, digits, ._-/)")
    return text


def render(settings: Settings, dep: Deployment) -> dict[str, str]:
    """file name -> contents, for every file Asterisk needs."""
    trunk = dep.trunk
    if not trunk.host:
        raise ConfigError("--trunk-host: the provider's SIP proxy is needed")
    _check_value(trunk.host, "--trunk-host")
    if trunk.mode == "registration":
        if not trunk.user or not trunk.secret:
            raise ConfigError("--trunk-user/--trunk-secret: a registration trunk needs both")
    if trunk.user:
        _check_value(trunk.user, "--trunk-user")
    if trunk.secret and not SAFE_VALUE_RE.match(trunk.secret):
        raise ConfigError("--trunk-secret: holds spaces, ';', ',', brackets or quotes")
    if not settings.ari_password:
        raise ConfigError("IVR_ARI_PASSWORD: not set; Asterisk's ARI user needs the password the engine logs in with")
    _check_value(settings.ari_password, "IVR_ARI_PASSWORD")
    _check_value(settings.ari_user, "IVR_ARI_USER")
    bind_host, bind_port = _hostport(dep.transport_bind, "--bind")
    low, high = dep.rtp_ports
    if not 1024 <= low < high <= 65535:
        raise ConfigError(f"--rtp-ports: {low}-{high} is not a range of ports above 1023")
    if dep.prompt_line_did and not re.match(r"^\+?[0-9]{3,20}$", dep.prompt_line_did):
        raise ConfigError(f"--prompt-line-did: {dep.prompt_line_did!r} is not a phone number (digits, maybe a +)")
    for phone in dep.phones:
        if not NAME_RE.match(phone) or phone == TRUNK:
            raise ConfigError(f"--phone: {phone!r} is not a name (a letter, then letters, digits, - or _)")
    if len(set(dep.phones)) != len(dep.phones):
        raise ConfigError("--phone: a phone is listed twice")
    if dep.http_bind:
        http_host, http_port = _hostport(dep.http_bind, "--http-bind")
    else:
        url = urlsplit(settings.ari_url)
        http_host, http_port = url.hostname or "127.0.0.1", url.port or (8089 if url.scheme == "https" else 8088)
    matches = [_check_match(m) for m in (trunk.match or (trunk.host,))]
    fallback = _dialplan_path(settings.fallback_path, "IVR_FALLBACK_DIR")
    prompts = _dialplan_path(built_root(settings), "IVR_DATA_DIR") if settings.asterisk_local else "ivr"
    first = settings.languages[0]
    phones = {p: phone_password(settings, p) for p in dep.phones}
    return {
        "pjsip.conf": _pjsip(trunk, dep, bind_host, bind_port, matches, first, phones),
        "extensions.conf": _extensions(settings, dep, fallback, prompts, first),
        "ari.conf": _ari(settings),
        "http.conf": _http(http_host, http_port),
        "rtp.conf": (f"{HEADER}[general]\nrtpstart={low}\nrtpend={high}\n"
                     "; only the address the call set up may send media\nstrictrtp=yes\nicesupport=no\n"),
        "cdr.conf": (f"{HEADER}; Call detail records would keep every caller's number in clear; the hotline keeps its\n"
                     "; own call rows with a keyed hash of the number only.\n[general]\nenable=no\n"),
        "modules.conf": render_modules(),
        # Present (even empty) so that loading them logs no error.
        "pjproject.conf": f"{HEADER}[startup]\n",
        "acl.conf": f"{HEADER}; no named ACLs: the trunk is identified in pjsip.conf\n",
        "udptl.conf": f"{HEADER}[general]\n; no T.38 fax\n",
        "logger.conf": (f"{HEADER}[general]\ndateformat=%F %T.%3q\n\n[logfiles]\n"
                        "; no SIP message logging here: headers carry callers' numbers\n"
                        "messages.log => notice,warning,error,verbose(3)\nconsole => notice,warning,error\n"),
    }


HEADER = "; Rendered by `ivr asterisk config`; change the settings and render again rather than editing.\n"


def _pjsip(trunk: Trunk, dep: Deployment, bind_host: str, bind_port: int, matches: list[str], first: str,
           phones: dict[str, str]) -> str:
    out = [HEADER, "[global]\ntype=global\n; one endpoint per source: never guess an endpoint from a user name alone\n"
           "endpoint_identifier_order=ip,username\n\n"]
    nat = ""
    if dep.external_address:
        _check_value(dep.external_address, "--external-address")
        nat += f"external_media_address={dep.external_address}\nexternal_signaling_address={dep.external_address}\n"
    for net in dep.local_nets:
        nat += f"local_net={_check_value(net, '--local-net')}\n"
    out.append(f"[transport-udp]\ntype=transport\nprotocol=udp\nbind={bind_host}:{bind_port}\n{nat}\n")
    auth = trunk.user and trunk.secret
    if auth:
        out.append(f"[{TRUNK}-auth]\ntype=auth\nauth_type=userpass\nusername={trunk.user}\npassword={trunk.secret}\n\n")
    if trunk.mode == "registration":
        contact_user = trunk.did or trunk.user
        out.append(f"[{TRUNK}]\ntype=registration\ntransport=transport-udp\noutbound_auth={TRUNK}-auth\n"
                   f"server_uri=sip:{trunk.host}\nclient_uri=sip:{trunk.user}@{trunk.host}\n"
                   f"contact_user={contact_user}\nretry_interval=60\nforbidden_retry_interval=600\n"
                   f"expiration=3600\nline=yes\nendpoint={TRUNK}\n\n")
    out.append(f"[{TRUNK}]\ntype=aor\ncontact=sip:{trunk.host}\nqualify_frequency=60\n\n")
    out.append(
        f"[{TRUNK}]\ntype=endpoint\ntransport=transport-udp\ncontext=from-trunk\ndisallow=all\nallow=ulaw,alaw\n"
        f"aors={TRUNK}\n" + (f"outbound_auth={TRUNK}-auth\n" if auth else "")
        + "direct_media=no\n; RFC 4733 DTMF: what the keypad menus listen for\ndtmf_mode=rfc4733\n"
        + f"; calls are answered in the first language until the caller picks one\nlanguage={first}\n"
        + "rtp_symmetric=yes\nforce_rport=yes\nrewrite_contact=yes\n"
        + "; the caller's identity stays what the provider sent; never passed on to caseworkers' phones\n"
        + "trust_id_inbound=no\ntrust_id_outbound=no\nsend_pai=no\nsend_rpid=no\n\n")
    out.append(f"[{TRUNK}]\ntype=identify\nendpoint={TRUNK}\n" + "".join(f"match={m}\n" for m in matches) + "\n")
    if phones:
        out.append("; Caseworker phones for live transfer ([hotline-queue] in extensions.conf rings them all).\n")
    for name, password in phones.items():
        out.append(
            f"[{name}]\ntype=endpoint\ntransport=transport-udp\ncontext=hotline-staff\ndisallow=all\n"
            f"allow=ulaw,alaw\nauth={name}\naors={name}\ndirect_media=no\ndtmf_mode=rfc4733\nrtp_symmetric=yes\n"
            "force_rport=yes\nrewrite_contact=yes\n; the caseworker never sees the caller's number\n"
            "send_pai=no\nsend_rpid=no\ntrust_id_outbound=no\n\n"
            f"[{name}]\ntype=auth\nauth_type=userpass\nusername={name}\npassword={password}\n\n"
            f"[{name}]\ntype=aor\nmax_contacts=1\nremove_existing=yes\nqualify_frequency=30\n\n")
    return "".join(out)


def _extensions(settings: Settings, dep: Deployment, fallback: str, prompts: str, first: str) -> str:
    app = settings.ari_app
    dial = "&".join(f"PJSIP/{p}" for p in dep.phones)
    queue = (f"exten => {QUEUE_EXTEN},1,Dial({dial},25)\n same => n,Hangup()\n" if dial else
             f"; no caseworker phones were given (--phone): nobody to ring\nexten => {QUEUE_EXTEN},1,Congestion()\n")
    did = f"; the toll-free number: {dep.trunk.did}\n" if dep.trunk.did else ""
    line_did = (f"; the prompt line's own number (asks for a PIN)\nexten => {dep.prompt_line_did},1,"
                f"Goto({LINE_CONTEXT},{LINE_EXTEN},1)\n" if dep.prompt_line_did else "")
    return f"""{HEADER}
[globals]
; the engine's IVR_FALLBACK_DIR: voicemails the dialplan takes while the engine is away
IVR_FALLBACK_DIR={fallback}
; the built prompts ($IVR_DATA_DIR/prompts; or `ivr` under the sounds folder when Asterisk is elsewhere)
IVR_PROMPTS={prompts}
; the language callers hear before they choose one: the first of IVR_LANGUAGES
IVR_FIRST_LANGUAGE={first}

; Calls from the toll-free trunk. Every number the provider sends reaches the hotline: a caller
; is never turned away because the provider wrote the number differently.
[from-trunk]
{did}{line_did}exten => _X.,1,Goto(hotline-in,{HOTLINE_EXTEN},1)
exten => _+X.,1,Goto(hotline-in,{HOTLINE_EXTEN},1)
exten => s,1,Goto(hotline-in,{HOTLINE_EXTEN},1)

; The hotline number.
[hotline-in]
exten => {HOTLINE_EXTEN},1,Set(CHANNEL(language)=${{IVR_FIRST_LANGUAGE}})
 ; keep the caller's number out of Asterisk's own records
 same => n,Set(CDR_PROP(disable)=1)
 same => n,Stasis({app})
 ; Stasis() returns at once with FAILED when no engine is connected: take a message
 same => n,GotoIf($["${{STASISSTATUS}}" = "FAILED"]?hotline-fallback,s,1)
 same => n,Hangup()

; Voicemail without the engine (also where the engine sends a caller it cannot serve). The file is
; written into tmp/ and moved up only when the call is over, so the engine never imports half a message.
[hotline-fallback]
exten => s,1,Answer()
 same => n,Set(FBNAME=${{STRFTIME(${{EPOCH}},UTC,%Y%m%dT%H%M%S)}}-${{UNIQUEID}})
 same => n,Playback(${{IVR_PROMPTS}}/${{CHANNEL(language)}}/apology_message)
 ; 6 s of silence ends it, 300 s at most; k keeps the file when the caller hangs up mid-message
 same => n,Record(${{IVR_FALLBACK_DIR}}/tmp/${{FBNAME}}.wav,6,300,k)
 same => n,Playback(${{IVR_PROMPTS}}/${{CHANNEL(language)}}/goodbye)
 same => n,Hangup()
exten => h,1,GotoIf($["${{FBNAME}}" = ""]?done)
 same => n,System(echo ${{CHANNEL(language)}} > ${{IVR_FALLBACK_DIR}}/tmp/${{FBNAME}}.lang)
 same => n,System(mv ${{IVR_FALLBACK_DIR}}/tmp/${{FBNAME}}.lang ${{IVR_FALLBACK_DIR}}/${{FBNAME}}.lang)
 same => n,System(mv ${{IVR_FALLBACK_DIR}}/tmp/${{FBNAME}}.wav ${{IVR_FALLBACK_DIR}}/${{FBNAME}}.wav)
 same => n(done),NoOp()

; Live transfer (IVR_TRANSFER_ENDPOINT={TRANSFER_ENDPOINT}): ring every caseworker phone;
; the engine bridges the caller in when one answers.
[{QUEUE_CONTEXT}]
{queue}
; Calls made from caseworker phones: they may call the hotline to test it, and record prompts on
; the prompt line without a PIN (docs/prompts.md); nothing else.
[hotline-staff]
exten => {HOTLINE_EXTEN},1,Goto(hotline-in,{HOTLINE_EXTEN},1)
exten => {LINE_EXTEN},1,Set(CDR_PROP(disable)=1)
 same => n,Stasis({app}{LINE_SUFFIX},staff)
 same => n,Hangup()
exten => _X.,1,Hangup(21)

; The prompt line for speakers calling from elsewhere: it asks for IVR_PROMPT_LINE_PIN (rate-limited).
; Route a number of its own here (--prompt-line-did), never the hotline's.
[{LINE_CONTEXT}]
exten => {LINE_EXTEN},1,Set(CDR_PROP(disable)=1)
 same => n,Stasis({app}{LINE_SUFFIX},pin)
 same => n,Hangup()
"""


def _ari(settings: Settings) -> str:
    return (f"{HEADER}[general]\nenabled=yes\npretty=no\n; only the engine talks to ARI: no browser origins\n"
            f"allowed_origins=\n\n[{settings.ari_user}]\ntype=user\nread_only=no\npassword={settings.ari_password}\n")


def _http(host: str, port: int) -> str:
    return (f"{HEADER}; Asterisk's HTTP server carries ARI (REST + WebSocket): keep it on loopback or a private\n"
            f"; address (use TLS when the engine is on another host).\n[general]\nenabled=yes\nbindaddr={host}\n"
            f"bindport={port}\n; the engine keeps one socket per app plus a pool of REST connections\n"
            "sessionlimit=1000\nservername=\n")


def render_modules() -> str:
    lines = "".join(f"load => {m}.so\n" for m in MODULES)
    return f"{HEADER}[modules]\n; only what the hotline uses\nautoload=no\n{lines}"


# -- the consistency checker --------------------------------------------------------------------------------

def _sections(text: str) -> dict[str, list[dict[str, str]]]:
    """pjsip-style sections: name -> list of {option: value} (a name may appear with several types)."""
    out: dict[str, list[dict[str, str]]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = {}
            out.setdefault(line[1:-1], []).append(current)
        elif "=" in line and current is not None:
            key, value = (p.strip() for p in line.split("=", 1))
            current[key.rstrip(">").strip()] = value.lstrip(">").strip()
    return out


def problems(files: dict[str, str]) -> list[str]:
    """Every context, extension and endpoint that something names but nothing defines; CHANGE_ME left."""
    found: list[str] = []
    for name, text in files.items():
        if "CHANGE_ME" in text:
            found.append(f"{name}: CHANGE_ME left")
    contexts: dict[str, set[str]] = {}
    current = ""
    for raw in files.get("extensions.conf", "").splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            contexts.setdefault(current, set())
        elif line.startswith("exten"):
            contexts[current].add(line.split("=>", 1)[1].split(",", 1)[0].strip())
    pjsip = _sections(files.get("pjsip.conf", ""))
    endpoints = {n for n, objs in pjsip.items() if any(o.get("type") == "endpoint" for o in objs)}
    dialplan = files.get("extensions.conf", "")
    for ctx, exten in re.findall(r"(?:Goto|GotoIf\([^?]*\?)\(?([\w-]+),([\w+.]+),", dialplan):
        if ctx not in contexts:
            found.append(f"extensions.conf: goes to context {ctx}, which is not defined")
        elif not _exten_defined(exten, contexts[ctx]):
            found.append(f"extensions.conf: goes to {exten}@{ctx}, which is not defined")
    for target in re.findall(r"PJSIP/([\w-]+)", dialplan):
        if target not in endpoints:
            found.append(f"extensions.conf: dials PJSIP/{target}, which pjsip.conf does not define")
    for section, objs in pjsip.items():
        for obj in objs:
            for key, kind in (("aors", "aor"), ("auth", "auth"), ("outbound_auth", "auth"),
                              ("transport", "transport"), ("endpoint", "endpoint")):
                for ref in filter(None, (r.strip() for r in obj.get(key, "").split(","))):
                    if not any(o.get("type") == kind for o in pjsip.get(ref, [])):
                        found.append(f"pjsip.conf: [{section}] {key}={ref}, which is not a {kind}")
            if obj.get("type") == "endpoint" and obj.get("context") not in contexts:
                found.append(f"pjsip.conf: endpoint {section} uses context {obj.get('context')}, "
                             "which extensions.conf does not define")
    return found


def _exten_defined(exten: str, defined: set[str]) -> bool:
    if exten in defined:
        return True
    for pattern in (d for d in defined if d.startswith("_")):
        regex = pattern[1:].replace("X", "[0-9]").replace("N", "[2-9]").replace("Z", "[1-9]").replace(".", ".+")
        if re.fullmatch(regex.replace("+.+", r"\+.+") if pattern.startswith("_+") else regex, exten):
            return True
    return False
