"""The one flow schema (ivr.flows.model): every argument of every action, wait and router is
checked by type and range, and the YAML itself is read strictly (issue 20, items 15 and 16)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from test_flows_check import MINIMAL, problems_for

from ivr.flows.check import check_flow_file
from ivr.flows.model import ACTIONS, DEFAULTS, ROUTERS, WAITS, Arg, Kind

# A value of the wrong type for each argument type.
WRONG_TYPE: dict[str, Any] = {
    "int": "lots", "number": "ten", "bool": "maybe", "text": 5, "value": True, "prompts": 5, "prompt": ["a"],
    "key": "##", "choice": "delete", "mapping": ["a"], "days": ["someday"], "time": "8am",
}


def _flow_with(table: str, kind: str, args: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    hello = data["nodes"]["hello"]  # type: ignore[index]
    if table == "action":
        hello["actions"].append({kind: args["values"] if kind == "set" else args})  # set: {name: value}
    else:
        spec = (WAITS if table == "wait" else ROUTERS)[kind]
        hello[table] = {kind: {**({"choices": {"1": "a"}} if kind == "menu" else {}), **args}}
        categories = spec.categories or ("a",) if kind != "switch" else ("other",)
        hello["exits"] = {c: "bye" for c in (*categories, "a")}
    return data


def _cases() -> list[tuple[str, str, str, Arg]]:
    tables: list[tuple[str, dict[str, Kind]]] = [("action", ACTIONS), ("wait", WAITS), ("router", ROUTERS)]
    return [(table, kind, name, arg) for table, specs in tables for kind, spec in specs.items()
            for name, arg in spec.args.items()]


@pytest.mark.parametrize(("table", "kind", "name", "arg"), _cases(),
                         ids=[f"{t}-{k}-{n}" for t, k, n, _ in _cases()])
def test_every_argument_refuses_a_wrong_type_and_an_out_of_range_value(
        tmp_path: Path, table: str, kind: str, name: str, arg: Arg) -> None:
    path = tmp_path / "f.yaml"
    problems = problems_for(tmp_path, _flow_with(table, kind, {name: WRONG_TYPE[arg.type]}))
    wanted = f"{path}: node hello: {table} {kind}: {name} {WRONG_TYPE[arg.type]!r} is not {arg.describe()}"
    assert wanted in problems
    if arg.hi is not None:
        too_big = int(arg.hi) + 1
        problems = problems_for(tmp_path, _flow_with(table, kind, {name: too_big}))
        assert f"{path}: node hello: {table} {kind}: {name} {too_big} is not {arg.describe()}" in problems


def test_every_kind_takes_a_valid_value_for_every_argument(tmp_path: Path) -> None:
    good = {"int": 1, "number": 5, "bool": True, "text": "x", "value": "@input", "prompts": ["greeting"],
            "prompt": "greeting", "key": "#", "mapping": {}, "days": ["mon"], "time": "08:00"}
    for table, kind, name, arg in _cases():
        value = arg.choices[0] if arg.type == "choice" else int(arg.lo) if arg.lo is not None else good[arg.type]
        problems = problems_for(tmp_path, _flow_with(table, kind, {name: value}))
        assert not [p for p in problems if f" {name} " in p], (table, kind, name, problems)


def test_retries_lots_and_timeout_ten_fail_with_file_node_and_argument(tmp_path: Path) -> None:
    data = copy.deepcopy(MINIMAL)
    data["defaults"] = {"retries": "lots"}
    data["nodes"]["menu"]["wait"]["menu"]["timeout"] = "ten"  # type: ignore[index]
    path = tmp_path / "f.yaml"
    assert problems_for(tmp_path, data) == [
        f"{path}: defaults: retries 'lots' is not {DEFAULTS.args['retries'].describe()}",
        f"{path}: node menu: wait menu: timeout 'ten' is not a number of seconds from 1 to 120",
    ]


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    return check_flow_file(path, catalog=None, languages=("en",))


FLOW = """spec_version: 1
start: hello
nodes:
  hello:
    wait: {menu: {prompts: main_menu, choices: {"1": a, "9": b}}}
    exits: {a: bye, b: bye, no_input: bye, invalid: bye}
  bye: {actions: [hangup]}
"""


def test_a_choice_given_twice_is_refused_with_line_and_column(tmp_path: Path) -> None:
    text = FLOW.replace('"9": b}', '"9": b, "9": a}')
    assert _problems(tmp_path, text) == [
        f"{tmp_path / 'f.yaml'}: not valid YAML (line 5, column 65: key '9' appears twice)"]


def test_a_second_start_is_refused(tmp_path: Path) -> None:
    assert _problems(tmp_path, FLOW + "start: bye\n") == [
        f"{tmp_path / 'f.yaml'}: not valid YAML (line 8, column 1: key 'start' appears twice)"]


def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    problems = _problems(tmp_path, FLOW.replace("exits: {a: bye,", "exits: {a: [bye,"))
    assert len(problems) == 1 and problems[0].startswith(f"{tmp_path / 'f.yaml'}: not valid YAML (line 6, column ")


def test_a_menu_choice_read_as_a_boolean_gets_the_hint(tmp_path: Path) -> None:
    problems = _problems(tmp_path, FLOW.replace('"1": a', '"1": yes'))
    assert (f"{tmp_path / 'f.yaml'}: node hello: menu choice '1': category True is not a name: "
            "quote it (YAML reads yes/no/on/off as true/false)") in problems


def test_a_typo_in_start_is_the_one_problem_with_did_you_mean(tmp_path: Path) -> None:
    assert _problems(tmp_path, FLOW.replace("start: hello", "start: helo")) == [
        f"{tmp_path / 'f.yaml'}: start 'helo' is not a node; did you mean 'hello'?"]


def test_a_flow_that_is_not_utf8_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(FLOW.replace("main_menu", "main\xe9").encode("latin-1"))
    assert check_flow_file(path, catalog=None, languages=("en",)) == [
        f"{path}: not UTF-8 text (byte {FLOW.index('main_menu') + 4} cannot be decoded); save the file as UTF-8"]


def test_the_flow_reference_lists_the_schema() -> None:
    from conftest import REPO

    from ivr.flows.model import reference_table

    text = (REPO / "callflows" / "README.md").read_text(encoding="utf-8")
    between = text.split("<!-- schema:start -->\n", 1)[1].split("<!-- schema:end -->", 1)[0]
    assert between == reference_table(), "regenerate the table in callflows/README.md from reference_table()"
