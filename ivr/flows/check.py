"""`ivr check` for call flows: structure, reachability, loops and prompt coverage.

Every message names the file, the node and the problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ivr.checks import check
from ivr.flows.load import flow_path, parse_flow
from ivr.flows.model import PROMPT_FIELDS, Flow, Node
from ivr.languages import LANGUAGES
from ivr.settings import Settings

# Prompts the engine itself plays around waits, whatever the flow says.
ENGINE_PROMPTS = {
    "language_menu": ("choose_language",),
    "record": ("review_menu", "message_saved_resumed"),   # the latter to a resumed caller (ivr.engine.resume)
}


@check("flows")
def check_flows(settings: Settings) -> list[str]:
    paths = sorted(p for p in settings.flows_dir.glob("*.yaml") if p.stem.count(".") == 0)
    problems: list[str] = []
    if not flow_path(settings.flows_dir, settings.flow).exists():
        problems.append(f"IVR_FLOW: {flow_path(settings.flows_dir, settings.flow)} does not exist")
    catalog = read_catalog(settings.prompts_dir)
    for path in paths:
        problems += check_flow_file(path, catalog=catalog, languages=settings.languages)
    return problems


def check_flow_file(path: Path, *, catalog: dict[str, set[str]] | None, languages: Iterable[str]) -> list[str]:
    flow, problems = parse_flow(path)
    if flow is None:
        return problems
    problems += check_graph(flow)
    if catalog is not None:
        problems += check_prompts(flow, catalog, tuple(languages))
    return problems


def check_graph(flow: Flow) -> list[str]:
    problems: list[str] = []

    def bad(node: str, text: str) -> None:
        problems.append(f"{flow.path}: node {node}: {text}")

    for node in flow.nodes.values():
        cats = node.categories(operator=flow.operator is not None)
        for category in node.exits:
            if category not in cats:
                bad(node.id, f"exit for {category!r}, which this node never yields (it yields {', '.join(cats)})")
        for target in node.targets():
            if target not in flow.nodes:
                bad(node.id, f"exit to unknown node {target!r}")
        if node.wait or node.router:
            missing = [c for c in cats if c not in node.exits and c != "operator"]
            if missing and node.exit is None:
                bad(node.id, f"no exit for {', '.join(missing)} (add them to exits, or a default exit:)")
        elif node.exit is None and not node.ends_call():
            bad(node.id, "dead end: no exit and no hangup")
        _check_actions(node, bad)
    for name, key in (("quick_exit", flow.quick_exit), ("repeat_key", flow.repeat_key)):
        if key is not None and (len(key) != 1 or key not in "0123456789*#"):
            problems.append(f"{flow.path}: {name} {key!r} is not a single key 0-9, * or #")
    if flow.repeat_key is not None and flow.repeat_key == flow.quick_exit:
        problems.append(f"{flow.path}: repeat_key and quick_exit are the same key {flow.repeat_key!r}")
    for node in flow.nodes.values():
        choices = node.wait.args.get("choices", {}) if node.wait and node.wait.kind == "menu" else {}
        for name, key in (("quick_exit", flow.quick_exit), ("repeat_key", flow.repeat_key)):
            if key is not None and key in choices:
                bad(node.id, f"menu choice {key!r} is also the flow's {name} key, so it can never be chosen")
    if flow.operator is not None and flow.operator not in flow.nodes:
        problems.append(f"{flow.path}: operator {flow.operator!r} is not a node")

    reachable = _reachable(flow)
    for nid in flow.nodes:
        if nid not in reachable:
            bad(nid, "unreachable from start")
    for cycle in _silent_cycles(flow):
        bad(cycle[0], "loop that never waits for input: " + " -> ".join([*cycle, cycle[0]]))
    return problems


def _check_actions(node: Node, bad: Any) -> None:
    for action in node.actions:
        value = action.args.get("value")
        if action.kind == "set_language" and isinstance(value, str) and not value.startswith("@"):
            if value not in LANGUAGES:
                bad(node.id, f"set_language to unknown language {value!r}")
        if action.kind == "case" and action.args.get("op", "create") not in {"create", "update"}:
            bad(node.id, f"case op {action.args.get('op')!r} is not create or update")
    if node.wait and node.wait.kind == "menu" and node.wait.args.get("speech") is not None:
        speech = node.wait.args["speech"]
        offered = set(node.wait.args.get("choices", {}).values())
        if not isinstance(speech, dict) or not all(isinstance(v, dict) for v in speech.values()):
            bad(node.id, "menu speech must be {language: {category: [words]}}")
        else:
            for lang, phrases in speech.items():
                if lang not in LANGUAGES:
                    bad(node.id, f"menu speech for unknown language {lang!r}")
                for category in sorted(set(phrases) - offered):
                    bad(node.id, f"menu speech words for {category!r}, which is not one of the menu's choices")
    if node.wait and node.wait.kind == "digits":
        lo, hi = node.wait.args.get("min", 1), node.wait.args.get("max", 20)
        if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi):
            bad(node.id, f"digits: min {lo!r} and max {hi!r} must be whole numbers with min <= max")


def _reachable(flow: Flow) -> set[str]:
    seen: set[str] = set()
    todo = [flow.start] + ([flow.operator] if flow.operator else [])
    while todo:
        nid = todo.pop()
        if nid in seen or nid not in flow.nodes:
            continue
        seen.add(nid)
        todo += flow.nodes[nid].targets()
    return seen


def _silent_cycles(flow: Flow) -> list[list[str]]:
    """Cycles through nodes that never wait for the caller: the call would spin forever."""
    silent = {nid for nid, n in flow.nodes.items() if not n.waits_for_input()}
    graph = {nid: [t for t in flow.nodes[nid].targets() if t in silent] for nid in silent}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(nid: str, stack: list[str]) -> None:
        state[nid] = 1
        stack.append(nid)
        for nxt in graph[nid]:
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[nid] = 2

    for nid in sorted(silent):
        if nid not in state:
            visit(nid, [])
    return cycles


def prompt_keys(node: Node) -> list[str]:
    """The prompt keys a node plays (before localization)."""
    keys: list[str] = []
    steps = [*node.actions, *([node.wait] if node.wait else [])]
    for step in steps:
        if step.kind == "play":
            keys += list(step.args.get("prompts", []))
        for name in PROMPT_FIELDS:
            value = step.args.get(name) if step.kind != "play" else None
            if isinstance(value, str):
                keys.append(value)
            elif isinstance(value, list):
                keys += [str(v) for v in value]
        keys += ENGINE_PROMPTS.get(step.kind, ())
    return keys


def check_prompts(flow: Flow, catalog: dict[str, set[str]], languages: tuple[str, ...]) -> list[str]:
    problems: list[str] = []
    uses: list[tuple[str, str]] = [
        ("(defaults)", str(flow.defaults[k])) for k in ("invalid_prompt", "no_input_prompt") if k in flow.defaults
    ]
    for node in flow.nodes.values():
        uses += [(node.id, key) for key in prompt_keys(node)]
    reported: set[tuple[str, str]] = set()
    for nid, key in uses:
        for lang in languages:
            actual = flow.prompt_key(key, lang)
            if (actual, lang) in reported:
                continue
            if actual not in catalog:
                reported.update((actual, lang2) for lang2 in languages)
                problems.append(f"{flow.path}: node {nid}: prompt {actual!r} is not in the prompts catalog")
                break
            if lang not in catalog[actual]:
                reported.add((actual, lang))
                problems.append(f"{flow.path}: node {nid}: prompt {actual!r} is missing in enabled language {lang}")
    return problems


def read_catalog(prompts_dir: Path) -> dict[str, set[str]] | None:
    """key -> languages with text, from prompts/catalog.yaml; None when there is no catalog."""
    from ivr.prompts.catalog import CatalogError, load_catalog

    if not (prompts_dir / "catalog.yaml").exists():
        return None
    try:
        catalog = load_catalog(prompts_dir)
    except CatalogError:
        return None   # the prompts check reports a broken catalog
    return {key: set(texts) for key, texts in catalog.prompts.items()}
