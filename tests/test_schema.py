"""Key-checked reading of TOML tables: values, defaults and messages."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from scylla_build.errors import ConfigError
from scylla_build.schema import Table

FILE = Path("experiments/demo/experiment.toml")


def table(data: dict[str, Any], name: str = "agent") -> Table:
    return Table(FILE, name, data)


def test_key_label_names_the_table() -> None:
    assert table({}).key_label("timeout") == "[agent].timeout"
    assert table({}, name="").key_label("files/") == "files/"


def test_fail_names_file_key_problem_and_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        table({}).fail("timeout", "is bad", "set it")
    assert str(caught.value) == f"{FILE}, [agent].timeout: is bad; set it"
    assert (caught.value.key, caught.value.fix) == ("[agent].timeout", "set it")


def test_string_returns_value_or_default() -> None:
    assert table({"name": "x"}).string("name", example='"x"') == "x"
    assert table({}).string("name", "dflt", example='"x"') == "dflt"
    assert table({}).string("name", None, example='"x"') is None


@pytest.mark.parametrize("value", ["", 3, True, ["a"]])
def test_string_refuses_non_strings(value: object) -> None:
    with pytest.raises(ConfigError, match=r"\[agent\]\.name: must be a non-empty"):
        table({"name": value}).string("name", example='"x"')


def test_string_missing_required_says_add() -> None:
    with pytest.raises(ConfigError, match=r"is required but missing; add name = "):
        table({}).string("name", example='"x"')


def test_boolean_accepts_only_booleans() -> None:
    assert table({"flag": False}).boolean("flag", True) is False
    assert table({}).boolean("flag", True) is True
    with pytest.raises(ConfigError, match="must be true or false, found an integer 1"):
        table({"flag": 1}).boolean("flag", True)


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "3"])
def test_positive_int_refuses(value: object) -> None:
    with pytest.raises(ConfigError, match=r"at least 1.*set e\.g\. runs = 3"):
        table({"runs": value}, "experiment").positive_int("runs")


def test_positive_int_reads_integer() -> None:
    assert table({"runs": 5}).positive_int("runs") == 5


@pytest.mark.parametrize("value", [0, -5, -0.5, math.inf, math.nan, True, "600"])
def test_seconds_refuses(value: object) -> None:
    with pytest.raises(ConfigError, match=r"positive number of seconds.*= 600"):
        table({"timeout": value}).seconds("timeout", 600)


def test_seconds_reads_int_float_and_default() -> None:
    assert table({"timeout": 2}).seconds("timeout", 600) == 2.0
    assert table({"timeout": 0.5}).seconds("timeout", 600) == 0.5
    assert table({}).seconds("timeout", 600) == 600.0


def test_string_list_checks_items() -> None:
    assert table({"inputs": ["a", "b"]}).string_list("inputs", example="[]") == [
        "a", "b"]
    assert table({}).string_list("inputs", [], example="[]") == []
    for bad in (["a", ""], ["a", 1], "a"):
        with pytest.raises(ConfigError, match="array of non-empty strings"):
            table({"inputs": bad}).string_list("inputs", example="[]")


def test_string_map_checks_values() -> None:
    assert table({"env": {"A": "1"}}).string_map("env") == {"A": "1"}
    assert table({}).string_map("env") is None
    with pytest.raises(ConfigError, match=r"table of strings.*MODEL"):
        table({"env": {"A": 1}}).string_map("env")


def test_table_and_subtables_name_children() -> None:
    root = table({"tiers": {"T0": {"x": 1}, "T1": {}}}, name="")
    tiers = root.subtables("tiers")
    assert list(tiers) == ["T0", "T1"]
    assert tiers["T0"].name == "tiers.T0"
    assert tiers["T0"].key_label("x") == "[tiers.T0].x"
    assert root.table("missing") is None


def test_table_refuses_non_table() -> None:
    with pytest.raises(ConfigError, match=r"must be a table.*\[agent\.env\] section"):
        table({"env": "x"}).table("env")


def test_required_table_missing() -> None:
    with pytest.raises(ConfigError, match="is required but missing"):
        table({}).table("env", required=True)


def test_finish_refuses_unread_key_with_suggestion() -> None:
    reader = table({"timeout": 5, "comand": ["x"]})
    reader.seconds("timeout", 600)
    reader.string_list("command", None, example="[]")
    with pytest.raises(ConfigError) as caught:
        reader.finish()
    message = str(caught.value)
    assert "[agent].comand: is not a known key" in message
    assert "did you mean command?" in message
    assert "known keys here: command, timeout" in message


def test_finish_accepts_read_keys() -> None:
    reader = table({"timeout": 5})
    reader.seconds("timeout", 600)
    reader.finish()
