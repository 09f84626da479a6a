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

KEYS: Final = "0123456789*#"
DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Arg:
    """The type (and range) of one argument of an action, wait or router.

    ``type`` is one of: ``int`` (whole number), ``number`` (seconds, may be 1.5), ``bool``,
    ``text``, ``value`` (a literal or ``"@var"``), ``prompts`` (a prompt key or a list of
    them), ``prompt`` (one key), ``key`` (one keypad key), ``choice`` (one of ``choices``),
    ``mapping``, ``days`` (a list of mon..sun), ``time`` ("HH:MM", 24:00 allowed).
    """

    type: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        """How the flow reference and the checker name the expected value."""
        kinds = {"int": "a whole number", "number": "a number of seconds", "bool": "true or false",
                 "text": "text", "value": "a value or \"@var\"", "prompts": "a prompt key or a list of keys",
                 "prompt": "a prompt key", "key": "one key of 0-9, * or #", "mapping": "a mapping",
                 "days": "a list of days (mon..sun)", "time": "a time HH:MM",
                 "choice": " or ".join(self.choices)}
        text = kinds[self.type]
        if self.lo is not None and self.hi is not None:
            text += f" from {self.lo:g} to {self.hi:g}"
        return text

    def problem(self, value: Any) -> str | None:
        """None when ``value`` fits, else what is wrong (one phrase)."""
        ok = _fits(self, value)
        return None if ok else f"{value!r} is not {self.describe()}"


def _fits(arg: Arg, value: Any) -> bool:
    t = arg.type
    if t in ("int", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float) or (t == "int" and not isinstance(value, int)):
            return False
        return (arg.lo is None or value >= arg.lo) and (arg.hi is None or value <= arg.hi)
    if t == "bool":
        return isinstance(value, bool)
    if t in ("text", "prompt"):
        return isinstance(value, str) and value != ""
    if t == "value":
        return isinstance(value, str | int | float) and not isinstance(value, bool)
    if t == "prompts":
        items = [value] if isinstance(value, str) else value
        return isinstance(items, list) and all(isinstance(i, str) and i for i in items)
    if t == "key":
        return isinstance(value, str) and len(value) == 1 and value in KEYS
    if t == "choice":
        return value in arg.choices
    if t == "mapping":
        return isinstance(value, dict)
    if t == "days":
        return isinstance(value, list) and all(isinstance(d, str) and d.lower()[:3] in DAYS for d in value)
    if t == "time":
        if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
            return False
        hh, mm = value[:2], value[3:]
        return hh.isascii() and hh.isdigit() and mm.isascii() and mm.isdigit() and (
            (int(hh) < 24 and int(mm) < 60) or value == "24:00")
    raise ValueError(f"unknown argument type {t!r}")


@dataclass(frozen=True)
class Kind:
    """One action, wait or router: its arguments (a bare value fills the first one) and the
    categories it yields (waits add their menu's choices; None = a switch's ``cases``)."""

    args: dict[str, Arg]
    categories: tuple[str, ...] | None = ()

    def problems(self, args: dict[str, Any], where: str) -> list[str]:
        """One phrase per argument that is unknown or of the wrong type or range; ``where`` is
        e.g. "wait menu" or "defaults"."""
        out = []
        for name, value in args.items():
            if name not in self.args:
                out.append(f"unknown field {name!r} in {where}")
            elif (problem := self.args[name].problem(value)) is not None:
                out.append(f"{where}: {name} {problem}")
        return out


SECONDS: Final = Arg("number", 1, 120)
RETRIES: Final = Arg("int", 0, 10)
PROMPTS: Final = Arg("prompts")
PROMPT: Final = Arg("prompt")
VALUE: Final = Arg("value")

# The one schema of the flow format: every kind, its arguments' types and ranges, its categories.
# ``ivr check`` validates against it and callflows/README.md documents it; the engine's handler
# tables (ivr.engine.steps.ACTIONS / ROUTERS, ivr.engine.waits.WAITS) hold exactly these names.
DEFAULTS: Final = Kind({"timeout": SECONDS, "retries": RETRIES, "invalid_prompt": PROMPT,
                        "no_input_prompt": PROMPT, "interdigit": Arg("number", 1, 60)})
DEFAULT_FIELDS: Final = frozenset(DEFAULTS.args)

ACTIONS: Final[dict[str, Kind]] = {
    "play": Kind({"prompts": PROMPTS}),                 # prompt keys, in order
    "say_digits": Kind({"value": VALUE}),               # "@var" or a literal, read digit by digit
    "say_number": Kind({"value": VALUE}),
    "set_language": Kind({"value": VALUE}),             # a language code or "@var"
    "set": Kind({"values": Arg("mapping")}),            # {name: value}
    "set_category": Kind({"value": VALUE}),             # the case category (an ILO key) from a value or "@var"
    "case": Kind({"op": Arg("choice", choices=("create", "update")), "priority": Arg("int", 0, 3),
                  "emergency": Arg("bool"), "category": VALUE}),
    "callback": Kind({"window": VALUE}),                # seal the number, queue a call-back in a window
    "alert": Kind({"reason": Arg("text")}),             # alert staff at once (log line + emergency row)
    "play_reply": Kind({}),                             # play the latest caseworker reply of @case
    "hangup": Kind({"outcome": Arg("text")}),
}

WAITS: Final[dict[str, Kind]] = {
    "menu": Kind(
        {"prompts": PROMPTS, "choices": Arg("mapping"), "timeout": SECONDS, "retries": RETRIES,
         "invalid_prompt": PROMPT, "no_input_prompt": PROMPT, "speech": Arg("mapping")},
        ("no_input", "invalid", "operator"),
    ),
    "language_menu": Kind({"prompt": PROMPT, "timeout": SECONDS, "retries": RETRIES},
                          ("chosen", "no_input", "invalid")),
    "digits": Kind(
        {"prompts": PROMPTS, "min": Arg("int", 0, 50), "max": Arg("int", 1, 50), "terminator": Arg("key"),
         "timeout": SECONDS, "interdigit": Arg("number", 1, 60), "retries": RETRIES, "into": Arg("text")},
        ("entered", "no_input"),
    ),
    "record": Kind(
        {"prompts": PROMPTS, "beep": Arg("bool"), "max_duration": Arg("int", 5, 3600),
         "max_silence": Arg("int", 1, 60), "review": Arg("bool"), "review_prompt": PROMPT, "timeout": SECONDS},
        ("recorded", "empty"),
    ),
    # originate + bridge to IVR_TRANSFER_ENDPOINT; or, with ``context``, hand the call to the dialplan
    "transfer": Kind(
        {"prompts": PROMPTS, "unavailable_prompt": PROMPT, "timeout": Arg("number", 1, 600),
         "context": Arg("text"), "extension": VALUE, "priority": Arg("int", 1, 1000)},
        ("answered", "unavailable"),
    ),
}

ROUTERS: Final[dict[str, Kind]] = {
    "switch": Kind({"operand": VALUE, "cases": Arg("mapping"), "default": Arg("text")}, None),
    "office_hours": Kind({"days": Arg("days"), "open": Arg("time"), "close": Arg("time"), "timezone": Arg("text")},
                         ("open", "closed")),
    # (category names avoid yes/no: YAML 1.1 reads those as booleans)
    "called_before": Kind({}, ("repeat", "first")),
    "known_language": Kind({}, ("known", "unknown")),
    "has_number": Kind({}, ("number", "anonymous")),
    "workplace_code": Kind({"operand": VALUE, "tries": Arg("int", 1, 10)}, ("valid", "skip", "invalid", "too_many")),
    "code_attempts": Kind({}, ("ok", "too_many")),
    "case_code": Kind({"operand": VALUE}, ("found", "not_found", "too_many")),
    "has_reply": Kind({}, ("reply", "no_reply")),
}

def reference_table() -> str:
    """The argument reference of callflows/README.md, generated from the schema (a test keeps them equal)."""
    lines = ["| kind | argument | expects |", "| --- | --- | --- |"]
    for label, table in (("defaults", {"": DEFAULTS}), ("action", ACTIONS), ("wait", WAITS), ("router", ROUTERS)):
        for kind, spec in table.items():
            name = f"{label} `{kind}`" if kind else label
            if not spec.args:
                lines.append(f"| {name} | | no arguments |")
            for arg, value in spec.args.items():
                lines.append(f"| {name} | `{arg}` | {value.describe()} |")
    return "\n".join(lines) + "\n"


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
            fixed = WAITS[self.wait.kind].categories or ()
            return own + tuple(c for c in fixed if c != "operator" or operator)
        if self.router is not None:
            fixed_r = ROUTERS[self.router.kind].categories
            if fixed_r is not None:
                return fixed_r
            cases = tuple(self.router.args.get("cases", {}).values())
            return (*cases, str(self.router.args.get("default", "other")))
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
