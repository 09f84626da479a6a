"""The call-flow format: what a flow file may contain, as data.

A flow is a graph of nodes, in the spirit of RapidPro's flow spec. Each node runs, in
order: its ``actions`` (no result), then at most one ``wait`` (input from the caller,
which yields a category), or else a ``router`` (a decision that yields a category),
then follows ``exits[category]`` — or ``exit`` when the node has neither. Category
names are reporting values (call_steps.category; a node marked ``report: menu_choice``
also stores its category in calls.menu_choice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

SPEC_VERSION: Final = 1

FLOW_FIELDS: Final = frozenset(
    {"spec_version", "name", "version", "start", "defaults", "quick_exit", "repeat_key", "operator", "nodes",
     "localization"}
)
NODE_FIELDS: Final = frozenset({"actions", "wait", "router", "exit", "exits", "report", "note"})
DEFAULT_FIELDS: Final = frozenset({"timeout", "retries", "invalid_prompt", "no_input_prompt", "interdigit"})

# Actions: name -> the fields of its argument mapping (a bare value fills the first one).
ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "play": ("prompts",),                  # prompt keys, in order
    "say_digits": ("value",),              # "@var" or a literal, read digit by digit
    "say_number": ("value",),
    "set_language": ("value",),            # a language code or "@var"
    "set": ("values",),                    # {name: value}
    "set_category": ("value",),            # the case category (an ILO key) from a value or "@var"
    "case": ("op", "priority", "emergency", "category"),   # op: create | update
    "callback": ("window",),               # seal the number, queue a call-back in a window
    "alert": ("reason",),                  # alert staff at once (log line + emergency row)
    "play_reply": (),                      # play the latest caseworker reply of @case
    "hangup": ("outcome",),
}

# Waits: name -> (fields, fixed categories it can yield besides its own choices).
WAITS: Final[dict[str, tuple[frozenset[str], tuple[str, ...]]]] = {
    "menu": (
        frozenset({"prompts", "choices", "timeout", "retries", "invalid_prompt", "no_input_prompt", "speech"}),
        ("no_input", "invalid", "operator"),
    ),
    "language_menu": (frozenset({"prompt", "timeout", "retries"}), ("chosen", "no_input", "invalid")),
    "digits": (
        frozenset({"prompts", "min", "max", "terminator", "timeout", "interdigit", "retries", "into"}),
        ("entered", "no_input"),
    ),
    "record": (
        frozenset({"prompts", "beep", "max_duration", "max_silence", "review", "review_prompt", "timeout"}),
        ("recorded", "empty"),
    ),
    # originate + bridge to IVR_TRANSFER_ENDPOINT; or, with ``context``, hand the call to the dialplan
    "transfer": (
        frozenset({"prompts", "unavailable_prompt", "timeout", "context", "extension", "priority"}),
        ("answered", "unavailable"),
    ),
}

# Routers: name -> (fields, the categories it yields; None = from its ``cases``).
ROUTERS: Final[dict[str, tuple[frozenset[str], tuple[str, ...] | None]]] = {
    "switch": (frozenset({"operand", "cases", "default"}), None),
    "office_hours": (frozenset({"days", "open", "close", "timezone"}), ("open", "closed")),
    # (category names avoid yes/no: YAML 1.1 reads those as booleans)
    "called_before": (frozenset(), ("repeat", "first")),
    "known_language": (frozenset(), ("known", "unknown")),
    "has_number": (frozenset(), ("number", "anonymous")),
    "workplace_code": (frozenset({"operand", "tries"}), ("valid", "skip", "invalid", "too_many")),
    "code_attempts": (frozenset(), ("ok", "too_many")),
    "case_code": (frozenset({"operand"}), ("found", "not_found", "too_many")),
    "has_reply": (frozenset(), ("reply", "no_reply")),
}

# Actions and waits whose arguments name prompt keys.
PROMPT_FIELDS: Final = (
    "prompts", "prompt", "invalid_prompt", "no_input_prompt", "review_prompt", "unavailable_prompt",
)


@dataclass(frozen=True)
class Step:
    """One action, wait or router: its kind and its arguments."""

    kind: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Node:
    id: str
    actions: tuple[Step, ...] = ()
    wait: Step | None = None
    router: Step | None = None
    exit: str | None = None
    exits: dict[str, str] = field(default_factory=dict)
    report: str | None = None    # "menu_choice": store the category in calls.menu_choice

    def categories(self, *, operator: bool = False) -> tuple[str, ...]:
        """Every category this node can yield (what its exits may name)."""
        if self.wait is not None:
            own = tuple(self.wait.args.get("choices", {}).values())
            fixed = WAITS[self.wait.kind][1]
            return own + tuple(c for c in fixed if c != "operator" or operator)
        if self.router is not None:
            fixed_r = ROUTERS[self.router.kind][1]
            if fixed_r is not None:
                return fixed_r
            cases = tuple(self.router.args.get("cases", {}).values())
            return (*cases, self.router.args.get("default", "other"))
        return ()

    def targets(self) -> list[str]:
        out = [self.exit] if self.exit else []
        return out + list(self.exits.values())

    def waits_for_input(self) -> bool:
        return self.wait is not None

    def ends_call(self) -> bool:
        return any(a.kind == "hangup" for a in self.actions)


@dataclass(frozen=True)
class Flow:
    path: Path
    name: str
    version: str
    start: str
    nodes: dict[str, Node]
    defaults: dict[str, Any] = field(default_factory=dict)
    quick_exit: str | None = "*"     # the key that ends the call at once, from anywhere
    repeat_key: str | None = None    # the key that plays a menu's question again
    operator: str | None = None      # node that '0' goes to in a menu, when transfer is configured
    # language -> {prompt key -> prompt key to play instead}
    localization: dict[str, dict[str, str]] = field(default_factory=dict)

    def prompt_key(self, key: str, lang: str) -> str:
        return self.localization.get(lang, {}).get(key, key)

    def default(self, name: str, fallback: Any) -> Any:
        return self.defaults.get(name, fallback)
