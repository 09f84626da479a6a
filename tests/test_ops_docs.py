"""The operator's documents name only commands and options that exist, and no internal issue numbers.

docs/deploy.md is followed word for word by someone who cannot read the code: every `ivr …` command
line in it (in code blocks and in `inline code`) must resolve to a real command with real options.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from conftest import REPO

from ivr.cli import main

DOCS = [REPO / "docs" / "deploy.md", REPO / "README.md"]
SHELL_STOP = {"|", "||", "&&", ";", ">", ">>", "2>&1", "<"}


def command_lines(text: str) -> list[str]:
    """Every shell line of the code blocks (continuations joined), and every `inline code` span."""
    lines: list[str] = []
    in_block = False
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            pending += line.split(" #", 1)[0].rstrip()
            if pending.endswith("\\"):
                pending = pending[:-1] + " "
                continue
            lines.append(pending)
            pending = ""
        else:
            lines.extend(re.findall(r"`([^`]+)`", line))
    return lines


def ivr_invocations(line: str) -> list[list[str]]:
    """The argument lists given to `ivr` on a shell line (after sudo -u ivr, VAR=value, &&, ||…)."""
    try:
        words = shlex.split(line)
    except ValueError:
        return []
    found = []
    for i, word in enumerate(words):
        before = words[i - 1] if i else ""
        # `ivr` as the command: first word, after an operator, an env assignment, or `sudo -u ivr`.
        starts = i == 0 or before in SHELL_STOP or re.fullmatch(r"[A-Z_]+=\S*", before) or (
            before == "ivr" and i >= 2 and words[i - 2] == "-u")
        if word == "ivr" and starts and not (i + 1 < len(words) and words[i + 1] in ("ivr",)):
            args = []
            for w in words[i + 1:]:
                if w in SHELL_STOP or w.startswith((">", "|")):
                    break
                args.append(w)
            found.append(args)
    return found


def problems(args: list[str]) -> list[str]:
    """What in ``ivr ARGS`` does not exist: a command, or an option of the command it is given to."""
    cmd: click.Command = main
    path = "ivr"
    out = []
    i = 0
    while i < len(args):
        arg = args[i]
        if "…" in arg:
            break    # "ivr …": any command
        if arg.startswith("--") or (arg.startswith("-") and len(arg) == 2 and arg != "-"):
            name = arg.split("=", 1)[0]
            option = next((p for p in cmd.params if isinstance(p, click.Option)
                           and name in (*p.opts, *p.secondary_opts)), None)
            if option is None and name not in ("-h", "--help"):
                out.append(f"`{path}` has no option {name}")
            takes_value = option is not None and not option.is_flag and not option.count and "=" not in arg
            i += 2 if takes_value else 1
        elif isinstance(cmd, click.Group):
            names = re.split(r"[|/]", arg)          # "list|edit|move": each of them
            subs = [cmd.get_command(click.Context(cmd), n) for n in names]   # the CLI loads them lazily
            out += [f"`{path}` has no command {n!r}" for n, sub in zip(names, subs, strict=True) if sub is None]
            if len(names) > 1 or subs[0] is None:
                return out
            cmd, path = subs[0], f"{path} {arg}"
            i += 1
        else:
            i += 1   # an argument of the command
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_ivr_command_in_the_docs_exists(doc: Path) -> None:
    calls = [args for line in command_lines(doc.read_text()) for args in ivr_invocations(line)]
    assert len(calls) > 10, "the documents should be read, not skipped"
    found = [f"ivr {shlex.join(args)}: {p}" for args in calls for p in problems(args)]
    assert found == []


def test_the_checker_notices_a_wrong_command_or_option() -> None:
    assert problems(["backup", "create"]) == []
    assert problems(["--data-dir", "./x", "audit", "verify", "--head", "1:ab"]) == []
    assert problems(["backup", "make"]) == ["`ivr backup` has no command 'make'"]
    assert problems(["oncall", "list|edit|drop"]) == ["`ivr oncall` has no command 'drop'"]
    assert problems(["user", "add", "mai", "--first-admin"]) == ["`ivr user add` has no option --first-admin"]
    assert ivr_invocations("sudo -u ivr ivr status && IVR_X=1 ivr check >/dev/null") == [["status"], ["check"]]


def test_no_internal_issue_numbers_in_the_user_facing_docs() -> None:
    docs = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "asterisk_conf" / "README.md",
            REPO / "callflows" / "README.md"]
    found = [f"{d.relative_to(REPO)}: {m.group(0)}" for d in docs if d.exists()
             for m in re.finditer(r"(?i)\bissues? ?#?\d+\b|(?<![\w&])#\d{1,3}\b", d.read_text())]
    assert found == []
    deploy = (REPO / "docs" / "deploy.md").read_text()
    assert "../shared" not in deploy, "a reader of docs/deploy.md has no ../shared"
