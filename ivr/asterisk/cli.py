"""`ivr asterisk config --out DIR`: the Asterisk configuration of this deployment."""

from __future__ import annotations

from pathlib import Path

import click

from ivr.cli.context import CliContext, pass_cli


@click.group()
def asterisk() -> None:
    """Asterisk 22: the configuration this deployment needs."""


def _ports(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    low, sep, high = value.partition("-")
    if not sep or not low.isdigit() or not high.isdigit():
        raise click.BadParameter(f"{value!r} is not LOW-HIGH, e.g. 10000-20000", ctx=ctx, param=param)
    return int(low), int(high)


@asterisk.command()
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder to write the files into (e.g. /etc/asterisk).")
@click.option("--trunk", "mode", type=click.Choice(["registration", "ip"]), default="ip", show_default=True,
              help="How the provider knows us: we register to it, or it sends calls from known addresses.")
@click.option("--trunk-host", required=True, help="The provider's SIP proxy, HOST or HOST:PORT.")
@click.option("--trunk-user", default="", help="User name for registration/authentication.")
@click.option("--trunk-secret", default="", envvar="IVR_TRUNK_SECRET", show_envvar=True,
              help="The trunk's password (better from the environment than on the command line).")
@click.option("--trunk-match", multiple=True,
              help="An address or network the provider's calls come from (IP[:PORT][/MASK]); repeatable. "
                   "Default: the proxy host.")
@click.option("--did", default="", help="The toll-free number, as the provider delivers it.")
@click.option("--bind", "transport_bind", default="0.0.0.0:5060", show_default=True,
              help="SIP transport HOST:PORT.")
@click.option("--external-address", default="", help="The public address, when Asterisk is behind NAT.")
@click.option("--local-net", multiple=True, help="A network that is not behind the NAT (repeatable).")
@click.option("--rtp-ports", default="10000-20000", show_default=True, callback=_ports,
              help="RTP port range (open it in the firewall).")
@click.option("--phone", "phones", multiple=True,
              help="A caseworker SIP phone for live transfer (repeatable); its password goes to DIR/phones.txt.")
@click.option("--http-bind", default="", help="HOST:PORT for ARI (default: the host and port of IVR_ARI_URL).")
@click.option("--prompt-line-did", default="",
              help="A number of its own for the staff prompt-recording line (asks for IVR_PROMPT_LINE_PIN).")
@pass_cli
def config(cli: CliContext, out: Path, mode: str, trunk_host: str, trunk_user: str, trunk_secret: str,
           trunk_match: tuple[str, ...], did: str, transport_bind: str, external_address: str,
           local_net: tuple[str, ...], rtp_ports: tuple[int, int], phones: tuple[str, ...], http_bind: str,
           prompt_line_did: str) -> None:
    """Render pjsip.conf, extensions.conf, ari.conf, http.conf, rtp.conf, cdr.conf, modules.conf and
    logger.conf for this deployment into DIR. Paths come from IVR_DATA_DIR, the ARI user from
    IVR_ARI_USER/IVR_ARI_PASSWORD/IVR_ARI_APP, the first language from IVR_LANGUAGES."""
    from ivr.asterisk.files import write
    from ivr.asterisk.render import TRANSFER_ENDPOINT, Deployment, Trunk, phone_password, problems, render
    from ivr.settings import SettingsError

    settings = cli.settings()
    deployment = Deployment(
        trunk=Trunk(mode="registration" if mode == "registration" else "ip", host=trunk_host, user=trunk_user,
                    secret=trunk_secret, match=trunk_match, did=did),
        transport_bind=transport_bind, external_address=external_address, local_nets=local_net,
        rtp_ports=rtp_ports, phones=phones, http_bind=http_bind, prompt_line_did=prompt_line_did)
    try:
        files = render(settings, deployment)
        phone_lines = "".join(f"{p} user={p} password={phone_password(settings, p)}\n" for p in phones)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    found = problems(files)
    if found:   # a renderer bug, never the user's: say so plainly
        raise click.ClickException("rendered configuration is inconsistent: " + "; ".join(found))
    if phone_lines:
        files["phones.txt"] = "# SIP credentials of the caseworker phones: give each to its phone only.\n" + phone_lines
    try:
        written = write(out, files)
    except OSError as exc:
        raise click.ClickException(f"--out: cannot write {out} ({exc.strerror})") from None
    click.echo(f"wrote {len(written)} files to {out}: {', '.join(p.name for p in written)}")
    if phones and settings.transfer_endpoint != TRANSFER_ENDPOINT:
        click.echo(f"live transfer: set IVR_TRANSFER_ENDPOINT={TRANSFER_ENDPOINT} so the engine rings these phones")
    click.echo(f"fallback voicemails: create {settings.fallback_path}/tmp writable by the asterisk user")
