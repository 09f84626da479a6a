"""Reading a flow file (and its per-language overlays) into a :class:`Flow`.

Problems are collected, not raised one by one, so ``ivr check`` can report all of
them; each names the file and the node. :func:`load_flow` raises :class:`FlowError`
when there is any.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from ivr.flows.model import (
    ACTIONS,
    DEFAULTS,
    FLOW_FIELDS,
    NODE_FIELDS,
    ROUTERS,
    SPEC_VERSION,
    WAITS,
    Flow,
    Kind,
    Node,
    Step,
)
from ivr.yamlfile import describe, load_strict


class FlowError(Exception):
    """A flow file cannot be used. ``problems`` are one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def flow_path(flows_dir: Path, name: str) -> Path:
    return flows_dir / f"{name}.yaml"


def load_flow(path: Path) -> Flow:
    flow, problems = parse_flow(path)
    if problems or flow is None:
        raise FlowError(problems or [f"{path}: not a flow"])
    return flow


def parse_flow(path: Path) -> tuple[Flow | None, list[str]]:
    """The flow and every problem found while reading it."""
    problems: list[str] = []
    try:
        data = load_strict(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, [f"{path}: cannot read ({exc.strerror})"]
    except UnicodeDecodeError as exc:
        return None, [f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded); save the file as UTF-8"]
    except yaml.YAMLError as exc:
        return None, [f"{path}: not valid YAML ({describe(exc)})"]
    if not isinstance(data, dict):
        return None, [f"{path}: a flow is a mapping with spec_version, start and nodes"]

    def bad(node: str | None, text: str) -> None:
        problems.append(f"{path}: node {node}: {text}" if node else f"{path}: {text}")

    for key in sorted(set(data) - FLOW_FIELDS):
        bad(None, f"unknown field {key!r}")
    if data.get("spec_version") != SPEC_VERSION:
        bad(None, f"spec_version is {data.get('spec_version')!r}; this engine reads spec_version {SPEC_VERSION}")
        return None, problems
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        bad(None, "defaults must be a mapping")
        defaults = {}
    for problem in DEFAULTS.problems(defaults, "defaults"):
        bad(None, problem)

    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        bad(None, "nodes must be a non-empty mapping of node id -> node")
        return None, problems
    start = str(data.get("start", ""))
    if start not in {str(n) for n in raw_nodes}:
        # The root cause, alone: every node would otherwise be reported unreachable as well.
        near = difflib.get_close_matches(start, [str(n) for n in raw_nodes], n=1)
        hint = f"; did you mean {near[0]!r}?" if near else f" (nodes: {', '.join(sorted(map(str, raw_nodes)))})"
        return None, [f"{path}: start {start!r} is not a node{hint}"]
    nodes = {str(nid): _node(str(nid), raw, bad) for nid, raw in raw_nodes.items()}

    localization = _localization(path, data.get("localization") or {}, bad)
    flow = Flow(
        path=path,
        name=str(data.get("name") or path.stem),
        version=str(data.get("version", "1")),
        start=start,
        nodes=nodes,
        defaults=dict(defaults),
        # '*' unless the flow says otherwise (quick_exit: null turns it off)
        quick_exit=str(data.get("quick_exit", "*")) if data.get("quick_exit", "*") is not None else None,
        repeat_key=None if data.get("repeat_key") is None else str(data["repeat_key"]),
        operator=None if data.get("operator") is None else str(data["operator"]),
        localization=localization,
    )
    return flow, problems


def _localization(path: Path, inline: Any, bad: Any) -> dict[str, dict[str, str]]:
    """Inline ``localization`` plus overlay files ``<flow>.<lang>.yaml`` beside the flow."""
    out: dict[str, dict[str, str]] = {}
    sources: list[tuple[str, Any]] = list(inline.items()) if isinstance(inline, dict) else []
    if not isinstance(inline, dict):
        bad(None, "localization must be a mapping of language -> {prompts: {key: key}}")
    for overlay in sorted(path.parent.glob(f"{path.stem}.*.yaml")):
        lang = overlay.name[len(path.stem) + 1 : -len(".yaml")]
        try:
            sources.append((lang, yaml.safe_load(overlay.read_text(encoding="utf-8")) or {}))
        except (OSError, yaml.YAMLError) as exc:
            bad(None, f"overlay {overlay.name} cannot be read ({str(exc).splitlines()[0]})")
    for lang, body in sources:
        if not isinstance(body, dict) or set(body) - {"prompts"}:
            bad(None, f"localization {lang}: only 'prompts: {{key: key}}' may be overridden")
            continue
        prompts = body.get("prompts") or {}
        out.setdefault(str(lang), {}).update({str(k): str(v) for k, v in prompts.items()})
    return out


def _one_key(raw: Any) -> tuple[str, Any] | None:
    if isinstance(raw, dict) and len(raw) == 1:
        ((k, v),) = raw.items()
        return str(k), v
    if isinstance(raw, str):
        return raw, None
    return None


def _step(nid: str, raw: Any, table: dict[str, Kind], what: str, bad: Any) -> Step | None:
    item = _one_key(raw)
    if item is None:
        bad(nid, f"a {what} is a mapping with one key, the {what}'s kind (got {raw!r})")
        return None
    kind, value = item
    if kind not in table:
        near = difflib.get_close_matches(kind, list(table), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        bad(nid, f"unknown {what} {kind!r}{hint} (known: {', '.join(sorted(table))})")
        return None
    spec = table[kind]
    if isinstance(value, dict) and not (what == "action" and kind == "set"):
        args = dict(value)
    elif value is None:
        args = {}
    elif spec.args:
        args = {next(iter(spec.args)): value}  # a bare value fills the first argument
    else:
        bad(nid, f"{what} {kind} takes no arguments (got {value!r})")
        args = {}
    for problem in spec.problems(args, f"{what} {kind}"):
        bad(nid, problem)
    for key in ("prompts",):
        if isinstance(args.get(key), str):
            args[key] = [args[key]]
    return Step(kind, args)


def _node(nid: str, raw: Any, bad: Any) -> Node:
    if not isinstance(raw, dict):
        bad(nid, "a node is a mapping (actions, wait, router, exit/exits)")
        return Node(nid)
    for key in sorted(set(raw) - NODE_FIELDS):
        bad(nid, f"unknown field {key!r}")
    actions = tuple(
        s for s in (_step(nid, a, ACTIONS, "action", bad) for a in raw.get("actions") or []) if s is not None
    )
    wait = _step(nid, raw["wait"], WAITS, "wait", bad) if raw.get("wait") is not None else None
    router = _step(nid, raw["router"], ROUTERS, "router", bad) if raw.get("router") is not None else None
    if wait is not None and router is not None:
        bad(nid, "a node has a wait or a router, not both")
    if wait is not None and wait.kind == "menu":
        choices = wait.args.get("choices") or {}
        if not isinstance(choices, dict) or not choices:
            bad(nid, "menu needs choices: {digit: category}")
            wait.args["choices"] = {}
        else:
            for digit, category in choices.items():
                if isinstance(category, bool) or not isinstance(category, str | int):
                    bad(nid, f"menu choice {str(digit)!r}: category {category!r} is not a name"
                             + (": quote it (YAML reads yes/no/on/off as true/false)" if isinstance(category, bool)
                                else ""))
            wait.args["choices"] = {str(k): str(v) for k, v in choices.items()}
            for digit in wait.args["choices"]:
                if len(digit) != 1 or digit not in "0123456789#":
                    bad(nid, f"menu choice {digit!r} is not a single key 0-9 or #")
    if router is not None and router.kind == "switch":
        cases = router.args.get("cases") or {}
        router.args["cases"] = {str(k): str(v) for k, v in cases.items()} if isinstance(cases, dict) else {}
    exits = raw.get("exits") or {}
    if not isinstance(exits, dict):
        bad(nid, "exits must be a mapping of category -> node")
        exits = {}
    for key in exits:
        if isinstance(key, bool):
            bad(nid, f"exit category {key!r}: quote it (YAML reads yes/no/on/off as true/false)")
    exit_ = raw.get("exit")
    if not (wait or router) and exits:
        bad(nid, "exits need a wait or a router; use exit: for a plain next node")
    return Node(
        id=nid,
        actions=actions,
        wait=wait,
        router=router,
        exit=None if exit_ is None else str(exit_),
        exits={str(k): str(v) for k, v in exits.items()},
        report=None if raw.get("report") is None else str(raw["report"]),
    )
