"""The flow format: loading, `ivr check` problems, localisation overlays, the default flow."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO

from ivr.cases import CATEGORIES
from ivr.flows.check import check_flow_file, check_flows, prompt_keys, read_catalog
from ivr.flows.load import FlowError, load_flow
from ivr.settings import Settings

HOTLINE = REPO / "callflows" / "hotline.yaml"

MINIMAL = {
    "spec_version": 1,
    "start": "hello",
    "nodes": {
        "hello": {"actions": [{"play": "greeting"}], "exit": "menu"},
        "menu": {
            "wait": {"menu": {"prompts": "main_menu", "choices": {"1": "a", "2": "b"}}},
            "exits": {"a": "bye", "b": "bye", "no_input": "bye", "invalid": "bye"},
        },
        "bye": {"actions": [{"play": "goodbye"}, {"hangup": {"outcome": "completed"}}]},
    },
}


def write(tmp_path: Path, data: dict[str, object], name: str = "f.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def problems_for(tmp_path: Path, data: dict[str, object], catalog: dict[str, set[str]] | None = None) -> list[str]:
    return check_flow_file(write(tmp_path, data), catalog=catalog, languages=("en", "my"))


def test_minimal_flow_is_clean(tmp_path: Path) -> None:
    assert problems_for(tmp_path, MINIMAL) == []
    flow = load_flow(write(tmp_path, MINIMAL))
    assert flow.nodes["menu"].categories() == ("a", "b", "no_input", "invalid")


def test_default_flow_is_clean_and_offers_every_ilo_category() -> None:
    assert check_flow_file(HOTLINE, catalog=None, languages=("my", "en")) == []
    flow = load_flow(HOTLINE)
    choices = flow.nodes["category_menu"].wait.args["choices"]  # type: ignore[union-attr]
    assert list(choices.values()) == list(CATEGORIES)
    assert list(choices) == [str(i) for i in range(1, 9)]
    main = flow.nodes["main_menu"].wait.args["choices"]  # type: ignore[union-attr]
    assert main == {"1": "report", "2": "message", "3": "callback", "4": "followup", "9": "emergency"}
    assert flow.quick_exit == "*"


def test_unknown_fields_name_file_and_node(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    data["colour"] = "red"
    data["nodes"]["hello"]["colour"] = "blue"
    data["nodes"]["menu"]["wait"]["menu"]["tiemout"] = 5
    data["nodes"]["bye"]["actions"].append({"dance": {}})
    problems = problems_for(tmp_path, data)
    path = str(tmp_path / "f.yaml")
    assert f"{path}: unknown field 'colour'" in problems
    assert f"{path}: node hello: unknown field 'colour'" in problems
    assert f"{path}: node menu: unknown field 'tiemout' in wait menu" in problems
    assert any(p.startswith(f"{path}: node bye: unknown action 'dance'") for p in problems)


def test_unknown_exit_unreachable_and_dead_end(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    data["nodes"]["menu"]["exits"]["b"] = "nowhere"
    data["nodes"]["orphan"] = {"actions": [{"play": "goodbye"}]}
    problems = problems_for(tmp_path, data)
    assert any("node menu: exit to unknown node 'nowhere'" in p for p in problems)
    assert any("node orphan: unreachable from start" in p for p in problems)
    assert any("node orphan: dead end" in p for p in problems)


def test_missing_category_exit_and_bogus_category(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    del data["nodes"]["menu"]["exits"]["no_input"]
    data["nodes"]["menu"]["exits"]["c"] = "bye"
    problems = problems_for(tmp_path, data)
    assert any("node menu: no exit for no_input" in p for p in problems)
    assert any("node menu: exit for 'c', which this node never yields" in p for p in problems)


def test_loop_that_never_waits(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    data["nodes"]["bye"] = {"actions": [{"play": "goodbye"}], "exit": "again"}
    data["nodes"]["again"] = {"router": {"switch": {"operand": "@x", "cases": {"1": "one"}}}, "exit": "bye"}
    problems = problems_for(tmp_path, data)
    assert any("loop that never waits for input" in p and "bye" in p and "again" in p for p in problems)
    # A loop through a menu is fine: it waits for the caller each time round.
    data2 = yaml.safe_load(yaml.safe_dump(MINIMAL))
    data2["nodes"]["menu"]["exits"]["invalid"] = "hello"
    assert problems_for(tmp_path, data2) == []


def test_missing_prompts_per_language_and_overlay(tmp_path: Path) -> None:
    catalog = {"greeting": {"en", "my"}, "main_menu": {"en"}, "goodbye": {"en", "my"},
               "invalid_input": {"en", "my"}, "no_input": {"en", "my"}}
    problems = problems_for(tmp_path, MINIMAL, catalog)
    assert problems == [f"{tmp_path / 'f.yaml'}: node menu: prompt 'main_menu' is missing in enabled language my"]
    # A Burmese overlay swaps in a key the catalog has in Burmese: the problem goes away.
    (tmp_path / "f.my.yaml").write_text("prompts: {main_menu: greeting}\n", encoding="utf-8")
    assert problems_for(tmp_path, MINIMAL, catalog) == []
    assert load_flow(tmp_path / "f.yaml").prompt_key("main_menu", "my") == "greeting"
    catalog.pop("goodbye")
    assert any("prompt 'goodbye' is not in the prompts catalog" in p for p in problems_for(tmp_path, MINIMAL, catalog))


def test_wrong_spec_version_and_yaml_booleans(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    data["spec_version"] = 2
    with pytest.raises(FlowError, match="spec_version"):
        load_flow(write(tmp_path, data))
    path = tmp_path / "b.yaml"
    path.write_text(HOTLINE.read_text().replace("{known: main_menu", "{yes: main_menu"), encoding="utf-8")
    assert any("quote it" in p for p in check_flow_file(path, catalog=None, languages=("en",)))


def test_every_default_flow_prompt_is_in_the_catalog(settings: Settings) -> None:
    assert read_catalog(settings.prompts_dir) is not None, "prompts/catalog.yaml is missing"
    flow = load_flow(HOTLINE)
    keys = {k for n in flow.nodes.values() for k in prompt_keys(n)}
    assert {"greeting", "main_menu", "review_menu", "choose_language"} <= keys
    assert check_flows(settings) == []


def test_speech_menu_is_checked(tmp_path: Path) -> None:
    flow = yaml.safe_load(HOTLINE.read_text(encoding="utf-8"))
    flow["nodes"]["main_menu"]["wait"]["menu"]["speech"] = {"ko": {"report": ["신고"], "message": ["메시지"]}}
    path = tmp_path / "hotline.yaml"
    path.write_text(yaml.safe_dump(flow, allow_unicode=True), encoding="utf-8")
    assert check_flow_file(path, catalog=None, languages=("ko", "en")) == []
    flow["nodes"]["main_menu"]["wait"]["menu"]["speech"] = {"ko": {"nonsense": ["메시지"]}, "xx": {}}
    path.write_text(yaml.safe_dump(flow, allow_unicode=True), encoding="utf-8")
    problems = check_flow_file(path, catalog=None, languages=("ko",))
    assert any("node main_menu: menu speech words for 'nonsense', which is not one" in p for p in problems)
    assert any("node main_menu: menu speech for unknown language 'xx'" in p for p in problems)


def test_repeat_and_quick_exit_keys_are_checked(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    data["repeat_key"] = "#"
    assert problems_for(tmp_path, data) == []
    flow = load_flow(write(tmp_path, data))
    assert (flow.repeat_key, flow.quick_exit) == ("#", "*")      # '*' quick exit unless turned off
    assert load_flow(write(tmp_path, {**data, "quick_exit": None})).quick_exit is None
    data["repeat_key"] = "*"
    assert any("repeat_key and quick_exit are the same key" in p for p in problems_for(tmp_path, data))
    data["repeat_key"] = "1"
    problems = problems_for(tmp_path, data)
    assert any("node menu: menu choice '1' is also the flow's repeat_key key" in p for p in problems)
    data["repeat_key"] = "##"
    assert any("repeat_key '##' is not a single key" in p for p in problems_for(tmp_path, data))
