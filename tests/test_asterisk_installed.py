"""A clean install answers a SIP call: scripts/install.sh, the operator's steps in docs/deploy.md, a call.

scripts/install.sh runs as it would on a server (as root, with the PATH root has there, checking the
Debian packages, installing this checkout without test tools into its own virtualenv), but with
``--root`` into a scratch folder, so this machine's /etc, /opt, /var and systemd are never touched.
Every absolute path the install wrote (in its units and in ivr.toml) is then read under that root.

Then, as docs/deploy.md says: the operator sets the languages in ivr.toml, runs ``ivr db migrate``,
``ivr prompts build``, ``ivr oncall add``, ``ivr check`` and adds the first supervisor as the ``ivr``
user, and ``ivr asterisk config`` as root; the hotline Asterisk (tests/asterisk_rig.py) loads what that
wrote. That Asterisk is the one install-asterisk.sh laid out (from a prepared folder whose build.sh
links this machine's build into the root), started as asterisk.service starts it: its ExecStart, with
the asterisk.conf the install wrote (its folders read under the root), so it drops to the installed
``asterisk`` user (runuser) with that user's groups, among the installed system's accounts. The
engine starts the way ivr.service starts it: its ExecStart, Environment=, User=, Group= and
UMask=, read from the unit the install wrote. A worker calls from the carrier, chooses a language in
the language menu and leaves a message; the case and the voice must be in the installed data dir.
While it runs: ``ivr status``, the backup and retention timers' services (as their units say), a
restore of that backup, and ``ivr audit verify``. All of it on the Python the server has (Debian's).
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import tomllib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from asterisk_rig import (
    ASTERISK,
    ASTERISK_DATA,
    MODULES,
    AsteriskInstall,
    HotlineSide,
    Pair,
    RunAs,
    asterisk_missing,
    db,
    ended_call,
    hotline_sounds,
    leave_a_message,
    make_speech,
    now_text,
    running_pair,
    wav_stats,
)
from conftest import REPO

from ivr.ops.backup import generate_key

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(os.geteuid() != 0, reason="scripts/install.sh runs as root (CI and setup run as root)"),
]

# What root's PATH is on a Debian server (sudo's secure_path, systemd's default): the install must not
# depend on whatever Python or tools a developer's shell finds first.
SERVER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DESK_PHONE = "mai"


@dataclass
class Installed:
    """The system scripts/install.sh laid out under ``root``."""

    root: Path
    backup_key: str     # the private half of the backup key it was given (kept off the server)

    def at(self, path: str) -> Path:
        """Where an absolute path of the installed system is, under the scratch root."""
        assert path.startswith("/"), path
        return self.root / path.lstrip("/")

    def unit(self, name: str) -> dict[str, list[str]]:
        """The [Service] settings of an installed unit (a key may repeat, as Environment= does)."""
        out: dict[str, list[str]] = {}
        section = ""
        for line in self.at(f"/etc/systemd/system/{name}").read_text().splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                out.setdefault(key, []).append(value)
        return out

    def ids(self, db_name: str) -> dict[str, list[str]]:
        return {f[0]: f for f in (line.split(":") for line in self.at(f"/etc/{db_name}").read_text().splitlines())}

    def run_as(self, unit: dict[str, list[str]]) -> RunAs:
        """The unit's User=, Group= (and the user's other groups) and UMask=, by the root's own passwd/group."""
        user = unit["User"][0]
        groups = self.ids("group")
        member_of = tuple(int(g[2]) for g in groups.values() if user in g[3].split(","))
        return RunAs(int(self.ids("passwd")[user][2]), int(groups[unit["Group"][0]][2]), member_of,
                     int(unit.get("UMask", ["0022"])[0], 8))

    def settings_env(self, unit: dict[str, list[str]]) -> dict[str, str]:
        """The environment the unit gives its process, with every installed path read under the root."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
        env["PATH"] = SERVER_PATH
        for assignment in unit.get("Environment", []):
            key, value = assignment.split("=", 1)
            env[key] = str(self.at(value)) if value.startswith("/") else value
        config = tomllib.loads(Path(env["IVR_CONFIG"]).read_text())
        for name, value in config.items():
            if isinstance(value, str) and value.startswith("/"):
                env[f"IVR_{name.upper()}"] = str(self.at(value))
        env["HOME"] = str(self.at(self.ids("passwd")[unit["User"][0]][5]))   # systemd sets HOME for User=
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def exec_start(self, unit: dict[str, list[str]]) -> list[str]:
        return [str(self.at(a)) if a.startswith("/") else a for a in shlex.split(unit["ExecStart"][0])]

    def wrap(self) -> tuple[str, ...]:
        """A command of root's run among the installed system's accounts (its passwd and group, mounted
        over this machine's in a mount namespace of its own): as on the server, names resolve there."""
        script = 'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && shift 2 && exec "$@"'
        return ("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "as-installed",
                str(self.at("/etc/passwd")), str(self.at("/etc/group")))

    def asterisk(self, scratch: Path) -> AsteriskInstall:
        """asterisk.service's command with the installed asterisk.conf, its folders read under the root."""
        unit = self.unit("asterisk.service")
        command = shlex.split(unit["ExecStart"][0])
        conf_at = command.index("-C") + 1
        text, folders, section = [], {}, ""
        for line in self.at(command[conf_at]).read_text().splitlines():
            if line.startswith("["):
                section = line.strip()
            elif section == "[directories]" and "=>" in line and not line.startswith(";"):
                key, path = (part.strip() for part in line.split("=>", 1))
                folders[key] = self.at(path)
                line = f"{key} => {folders[key]}"
            text.append(line)
        conf = scratch / "asterisk.conf"
        conf.write_text("\n".join(text) + "\n")
        command[0], command[conf_at] = str(self.at(command[0])), str(conf)
        return AsteriskInstall(command, conf, self.at(unit["WorkingDirectory"][0]), folders["astlogdir"],
                               folders["astspooldir"], self.wrap())


def free_bind() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def run(args: list[str], env: dict[str, str], who: RunAs | None = None, stdin: str | None = None,
        cwd: Path | None = None) -> str:
    extra = {} if who is None else {"user": who.user, "group": who.group, "extra_groups": list(who.groups),
                                     "umask": who.umask}
    done = subprocess.run(args, env=env, input=stdin, capture_output=True, text=True, timeout=900, check=False,
                          cwd=cwd, **extra)
    assert done.returncode == 0, f"{shlex.join(args)}\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """A scratch system root the `ivr` user can walk into (pytest's own tmp is root's alone)."""
    missing = asterisk_missing()
    if missing:
        pytest.skip(missing)
    path = Path(tempfile.mkdtemp(prefix="ivr-installed-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def installed(scratch: Path) -> Installed:
    root = scratch / "root"
    etc = root / "etc"
    etc.mkdir(parents=True)
    # The accounts of a fresh Debian with the Asterisk build's user (install-asterisk.sh makes it).
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n"
                                "asterisk:x:990:990:Asterisk PBX:/var/lib/asterisk:/usr/sbin/nologin\n")
    (etc / "group").write_text("root:x:0:\nasterisk:x:990:\n")
    for name, text in (("shadow", "root:*:19000:0:99999:7:::\nasterisk:!:19000::::::\n"),
                       ("gshadow", "root:*::\nasterisk:!::\n")):
        (etc / name).write_text(text)
        (etc / name).chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "VIRTUAL_ENV", "PYENV"))}
    env["PATH"] = SERVER_PATH
    private, public = generate_key()
    # Asterisk from a prepared folder (install.sh --asterisk-from): its build.sh puts this machine's build
    # where `make install` would (program, modules, data, the Debian core sounds) by links.
    source = scratch / "asterisk-src"
    source.mkdir()
    sounds = hotline_sounds()["en"]
    (source / "build.sh").write_text(
        'set -e\nmkdir -p "$1/sbin" "$1/lib/asterisk" "$1/../var/lib/asterisk/sounds"\n'
        f'ln -sfn {ASTERISK} "$1/sbin/asterisk"\nln -sfn {MODULES} "$1/lib/asterisk/modules"\n'
        f'for d in documentation rest-api; do ln -sfn "{ASTERISK_DATA}/$d" "$1/../var/lib/asterisk/$d"; done\n'
        f'ln -sfn {sounds} "$1/../var/lib/asterisk/sounds/en"\n')
    run(["bash", str(REPO / "scripts/install.sh"), "--root", str(root), "--backup-recipient", public,
         "--asterisk-from", str(source)], env)
    installed = Installed(root, private)
    # The mount namespace the installed Asterisk runs in (root's, on the server): this machine must allow it.
    run([*installed.wrap(), "true"], env)
    return installed


@dataclass
class Service:
    """ivr.service as systemd would run it, and the ARI user the installed settings name."""

    command: list[str]
    env: dict[str, str]
    who: RunAs
    settings: dict[str, object]


@pytest.fixture(scope="module")
def service(installed: Installed) -> Service:
    """ivr.service's command, environment and user, after the operator's steps before `systemctl start ivr`."""
    unit = installed.unit("ivr.service")
    env, who = installed.settings_env(unit), installed.run_as(unit)
    # The operator's edit: the languages of the language menu, in order (docs/deploy.md, section 4).
    toml = Path(env["IVR_CONFIG"])
    toml.write_text(re.sub(r'(?m)^languages = .*$', 'languages = "en,th"', toml.read_text()))
    # Nobody has recorded the prompts yet: machine speech for test calls, as section 6 says.
    with toml.open("a") as f:
        f.write('prompt_placeholders = "all"\nprompt_placeholder_menu = true\n')
    # This machine is shared: the web UI gets a free port instead of 8080.
    env["IVR_ADMIN_BIND"] = free_bind()
    ivr = installed.exec_start(unit)[:1]
    cwd = installed.root   # a system unit's working directory is /
    assert "applied" in run([*ivr, "db", "migrate"], env, who, cwd=cwd)
    assert "0 failed" in run([*ivr, "prompts", "build"], env, who, cwd=cwd)
    # Someone to ring for an emergency: the desk phone `ivr asterisk config --phone mai` will add.
    run([*ivr, "oncall", "add", "Mai", "--phone", f"PJSIP/{DESK_PHONE}", "--languages", "en,th"], env, who, cwd=cwd)
    run([*ivr, "check"], env, who, cwd=cwd)
    out = run([*ivr, "user", "add", "mai", "--role", "supervisor", "--first-supervisor"], env, who,
              stdin="a long enough first password\n", cwd=cwd)
    assert "the first supervisor" in out
    return Service(installed.exec_start(unit), env, who, tomllib.loads(toml.read_text()))


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_speech(tmp_path_factory.mktemp("voice") / "message.wav",
                       "They keep our passports in the office and we cannot leave the dormitory.")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pair(installed: Installed, service: Service, scratch: Path) -> AsyncIterator[Pair]:
    side = HotlineSide(
        env=service.env,
        data_dir=Path(service.env["IVR_DATA_DIR"]),
        conf_dir=installed.at("/etc/asterisk"),     # `ivr asterisk config --out /etc/asterisk`, run as root
        ivr=service.command[:1],
        engine=service.command,
        cwd=installed.root,
        run_as=service.who,
        ari_user=str(service.settings["ari_user"]),
        ari_password=str(service.settings["ari_password"]),
        ari_app=str(service.settings["ari_app"]),
        prepare=False,
        asterisk=installed.asterisk(scratch),
    )
    async with running_pair(scratch / "rig", phones=(DESK_PHONE,), hotline=side) as p:
        yield p


async def test_the_installed_hotline_answers_and_keeps_the_message(pair: Pair, installed: Installed,
                                                                   speech: Path) -> None:
    assert pair.engine.command[0] == str(installed.at("/opt/ivr/venv/bin/ivr"))
    since = now_text(pair)
    caller = await pair.call()
    await leave_a_message(caller, speech, language="2")   # Thai: the second language of the menu
    rows = await ended_call(pair, since)
    assert len(rows) == 1
    with db(pair) as conn:
        cases = [dict(r) for r in conn.execute("select * from cases where source_call_id = ?", [rows[0]["id"]])]
        assert [c["language"] for c in cases] == ["th"]
        recordings = [dict(r) for r in conn.execute(
            "select * from recordings where case_id = ? and kind = 'voicemail'", [cases[0]["id"]])]
    assert [r["state"] for r in recordings] == ["stored"]
    kept = installed.at("/var/lib/ivr") / recordings[0]["path"]
    assert pair.data_dir == installed.at("/var/lib/ivr")
    seconds, loudest = wav_stats(kept)
    # The caller's words, not silence: as long as what was said, at a voice's level.
    assert seconds >= wav_stats(speech)[0] - 0.5, seconds
    assert loudest > 1000, loudest
    # Written by the service's user, readable by nobody else.
    assert pair.engine.run_as is not None and kept.stat().st_uid == pair.engine.run_as.user
    assert kept.stat().st_mode & 0o007 == 0


async def test_asterisk_runs_with_the_installed_asterisk_conf(pair: Pair, installed: Installed) -> None:
    """asterisk.service's Asterisk took its folders and its user from the asterisk.conf the install wrote."""
    assert pair.hotline.installed is not None and pair.hotline.proc is not None
    status = proc_status(pair.hotline.proc.pid)
    asterisk = installed.ids("passwd")["asterisk"]
    groups = installed.ids("group")
    # runuser = asterisk: the installed system's asterisk user, with its group for the hotline's files.
    assert status["Uid"].split()[:2] == [asterisk[2], asterisk[2]]
    assert groups["ivr-asterisk"][2] in status["Groups"].split()
    # Its own database and logs are in the folders the install made for it.
    for made in ("/var/lib/asterisk/astdb.sqlite3", "/var/log/asterisk/messages.log"):
        assert installed.at(made).stat().st_uid == int(asterisk[2]), made


def proc_status(pid: int) -> dict[str, str]:
    return dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())


async def test_ivr_status_reports_the_running_install_healthy(pair: Pair) -> None:
    # The last step of docs/deploy.md's start: `sudo -u ivr ivr status`, while the service runs.
    assert pair.engine.running
    out = await asyncio.to_thread(run, [pair.engine.command[0], "status"], pair.env, pair.engine.run_as,
                                  cwd=pair.engine.cwd)
    assert out.splitlines()[-1] == "healthy", out


async def test_the_backup_timer_backs_up_the_running_install(pair: Pair, installed: Installed,
                                                             tmp_path: Path) -> None:
    # ivr-backup.service as its timer starts it (its ExecStart, user and umask), while the hotline runs.
    assert pair.engine.running
    await asyncio.to_thread(back_up_and_restore, installed, tmp_path)


def back_up_and_restore(installed: Installed, tmp_path: Path) -> None:
    unit = installed.unit("ivr-backup.service")
    who = installed.run_as(unit)
    out = run(installed.exec_start(unit), installed.settings_env(unit), who, cwd=installed.root)
    made = Path(out.split()[1])
    assert made.parent == installed.at("/var/backups/ivr") and made.stat().st_uid == who.user
    assert made.stat().st_mode & 0o077 == 0
    # It opens with the key kept off the server, and holds the call's case.
    key = tmp_path / "backup.key"
    key.write_text(installed.backup_key + "\n")
    into = tmp_path / "restored"
    run([installed.exec_start(unit)[0], "backup", "restore", str(made), "--identity", str(key), "--into", str(into)],
        {k: v for k, v in os.environ.items() if not k.startswith("IVR_")})
    conn = sqlite3.connect(into / "ivr.db")
    try:
        assert conn.execute("select language from cases").fetchall() == [("th",)]
    finally:
        conn.close()


async def test_retention_and_the_audit_check_run_on_the_install(pair: Pair, installed: Installed) -> None:
    # ivr-retention.service as its timer starts it, then docs/deploy.md's `sudo -u ivr ivr audit verify`.
    assert pair.engine.running
    unit = installed.unit("ivr-retention.service")
    env, who = installed.settings_env(unit), installed.run_as(unit)
    await asyncio.to_thread(run, installed.exec_start(unit), env, who, cwd=installed.root)
    out = await asyncio.to_thread(run, [installed.exec_start(unit)[0], "audit", "verify"], env, who,
                                  cwd=installed.root)
    assert "audit log: ok" in out
    with db(pair) as conn:   # nothing is old enough to go: the call's case stays
        assert conn.execute("select count(*) from cases").fetchone()[0] == 1
