"""`ivr asterisk config`: a complete, self-consistent Asterisk configuration from the settings."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO, TEST_SECRET

from ivr.asterisk.render import Deployment, Trunk, problems, render
from ivr.cli import main
from ivr.settings import Settings, load


def settings_for(tmp_path: Path, **extra: str) -> Settings:
    return load(environ={}, flags={"data_dir": str(tmp_path / "var"), "secret_key": TEST_SECRET,
                                   "ari_password": "ari-pass-123", "languages": "my,th,en", **extra})


def deployment(**extra: object) -> Deployment:
    trunk = Trunk(mode="registration", host="sip.provider.example", user="acct1", secret="trunk-pass-9",
                  match=("203.0.113.0/24",), did="1800123456")
    return Deployment(trunk=trunk, phones=("caseworker1", "caseworker2"), **extra)  # type: ignore[arg-type]


def test_the_rendered_files_name_only_what_they_define(tmp_path: Path) -> None:
    files = render(settings_for(tmp_path), deployment())
    assert problems(files) == []
    ext = files["extensions.conf"]
    assert f"IVR_FALLBACK_DIR={(tmp_path / 'var' / 'fallback').resolve()}" in ext
    assert f"IVR_PROMPTS={(tmp_path / 'var' / 'prompts').resolve()}" in ext
    assert "IVR_FIRST_LANGUAGE=my" in ext and "Stasis(hotline)" in ext
    assert "Dial(PJSIP/caseworker1&PJSIP/caseworker2,25)" in ext
    pjsip = files["pjsip.conf"]
    assert "type=registration" in pjsip and "match=203.0.113.0/24" in pjsip and "contact_user=1800123456" in pjsip
    assert "password=ari-pass-123" in files["ari.conf"] and "[hotline]" in files["ari.conf"]
    assert "bindport=8088" in files["http.conf"] and "enable=no" in files["cdr.conf"]
    assert "autoload=no" in files["modules.conf"] and "load => chan_pjsip.so" in files["modules.conf"]


def test_the_checker_finds_what_is_missing() -> None:
    broken = {
        "extensions.conf": "[from-trunk]\nexten => s,1,Goto(nowhere,1000,1)\n same => n,Dial(PJSIP/ghost)\n"
                           "[a]\nexten => s,1,Goto(from-trunk,9,1)\n",
        "pjsip.conf": "[x]\ntype=endpoint\ncontext=staff\naors=missing\n",
        "ari.conf": "password=CHANGE_ME\n",
    }
    found = problems(broken)
    assert any("context nowhere" in p for p in found)
    assert any("9@from-trunk" in p for p in found)
    assert any("PJSIP/ghost" in p for p in found)
    assert any("aors=missing" in p for p in found)
    assert any("context staff" in p for p in found)
    assert any("CHANGE_ME" in p for p in found)


def test_the_shipped_reference_is_consistent() -> None:
    files = {p.name: p.read_text() for p in (REPO / "asterisk_conf").glob("*.conf")}
    found = [p for p in problems(files) if "CHANGE_ME" not in p]   # the reference keeps its placeholders
    assert found == []


def test_ip_trunk_without_phones_still_has_every_context(tmp_path: Path) -> None:
    files = render(settings_for(tmp_path), Deployment(trunk=Trunk(host="198.51.100.7")))
    assert problems(files) == []
    assert "match=198.51.100.7" in files["pjsip.conf"] and "type=registration" not in files["pjsip.conf"]
    assert "exten => caseworkers,1,Congestion()" in files["extensions.conf"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--trunk-host", "a b"], "--trunk-host"),
    (["--trunk-host", "p.example", "--trunk", "registration"], "--trunk-user/--trunk-secret"),
    (["--trunk-host", "p.example", "--phone", "1bad"], "--phone"),
    (["--trunk-host", "p.example", "--rtp-ports", "100-50"], "--rtp-ports"),
    (["--trunk-host", "p.example", "--trunk-match", "not an address"], "--trunk-match"),
    (["--trunk-host", "p.example", "--external-address", "203.0.113.10\nbind=0.0.0.0"], "--external-address"),
    (["--trunk-host", "p.example", "--local-net", "10.0.0.0/8 x"], "--local-net"),
])
def test_a_bad_fact_stops_with_one_line(tmp_path: Path, flags: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "var"), "--set", "ari_password=pw-12345",
                                       "asterisk", "config", "--out", str(tmp_path / "out"), *flags],
                                env={"IVR_SECRET_KEY": TEST_SECRET})
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_no_ari_password_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "var"), "asterisk", "config", "--out",
                                       str(tmp_path / "out"), "--trunk-host", "p.example"],
                                env={"IVR_ARI_PASSWORD": ""})
    assert result.exit_code == 1 and "IVR_ARI_PASSWORD" in result.output


def test_the_command_writes_secrets_for_asterisk_only(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "--data-dir", str(tmp_path / "var"), "--set", "ari_password=pw-12345", "asterisk", "config", "--out",
        str(out), "--trunk", "registration", "--trunk-host", "sip.provider.example", "--trunk-user", "acct",
        "--phone", "caseworker1"], env={"IVR_SECRET_KEY": TEST_SECRET, "IVR_TRUNK_SECRET": "trunk-pw-1"})
    assert result.exit_code == 0, result.output
    assert "IVR_TRANSFER_ENDPOINT=Local/caseworkers@hotline-queue" in result.output
    for name in ("pjsip.conf", "ari.conf", "phones.txt"):
        assert stat.S_IMODE((out / name).stat().st_mode) in (0o600, 0o640), name
    assert stat.S_IMODE((out / "extensions.conf").stat().st_mode) == 0o644
    assert "password=trunk-pw-1" in (out / "pjsip.conf").read_text()
    password = (out / "phones.txt").read_text().split("password=")[1].strip()
    assert f"password={password}" in (out / "pjsip.conf").read_text()
    again = CliRunner().invoke(main, [
        "--data-dir", str(tmp_path / "var"), "--set", "ari_password=pw-12345", "asterisk", "config", "--out",
        str(out), "--trunk-host", "sip.provider.example", "--phone", "caseworker1"],
        env={"IVR_SECRET_KEY": TEST_SECRET})
    assert again.exit_code == 0
    assert f"password={password}" in (out / "pjsip.conf").read_text()   # the phone keeps its password
    text = "".join(p.read_text() for p in out.iterdir())
    assert "CHANGE_ME" not in text


def test_behind_nat_the_public_address_and_local_nets_go_to_the_transport(tmp_path: Path) -> None:
    # docs/deploy.md, "Behind NAT": without these Asterisk puts its private address in SIP and SDP.
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "--data-dir", str(tmp_path / "var"), "--set", "ari_password=pw-12345", "asterisk", "config", "--out",
        str(out), "--trunk-host", "sip.provider.example", "--external-address", "203.0.113.10",
        "--local-net", "10.0.0.0/8", "--local-net", "192.168.0.0/16", "--rtp-ports", "10000-20000"],
        env={"IVR_SECRET_KEY": TEST_SECRET})
    assert result.exit_code == 0, result.output
    pjsip = (out / "pjsip.conf").read_text()
    transport = pjsip.split("[transport-udp]", 1)[1].split("\n\n", 1)[0].splitlines()
    for line in ("type=transport", "external_media_address=203.0.113.10", "external_signaling_address=203.0.113.10",
                 "local_net=10.0.0.0/8", "local_net=192.168.0.0/16"):
        assert line in transport, line
    assert "rtpstart=10000" in (out / "rtp.conf").read_text() and "rtpend=20000" in (out / "rtp.conf").read_text()
