"""Loop spec validation: every wrong spec names the field, the value and what was expected."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from validation_loop.errors import SpecError
from validation_loop.spec import ColumnType, LoopSpec, Task, load_spec, parse_spec, save_spec
from validation_loop_tests.conftest import SPEC


def _spec(**changes) -> dict:
    data = copy.deepcopy(SPEC)
    data.update(changes)
    return data


def test_valid_spec_round_trips_through_yaml(tmp_path: Path) -> None:
    spec = parse_spec(SPEC, "test")
    path = tmp_path / "loops" / "churn" / "loop.yaml"
    save_spec(spec, path)
    again = load_spec(path)
    assert again == spec
    assert again.task is Task.classification
    assert again.columns["age"] is ColumnType.numeric
    assert again.feature_columns == ["age", "region", "active", "signup"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"task": "clustering"}, ["field 'task'", "'clustering'", "classification", "regression"]),
        ({"name": "Bad Name"}, ["field 'name'", "'Bad Name'", "pattern"]),
        ({"label": "nope"}, ["label 'nope' is not in columns"]),
        (
            {"columns": {**SPEC["columns"], "age": "numberic"}},
            ["field 'columns.age'", "'numberic'", "numeric", "categorical"],
        ),
        (
            {"columns": {**SPEC["columns"], "churned": "numeric"}},
            ["label 'churned' has type numeric", "categorical or boolean"],
        ),
        ({"task": "regression"}, ["regression expects numeric"]),
        ({"slices": ["age"]}, ["slice 'age' has type numeric", "expected categorical"]),
        ({"sensitive": ["gender"]}, ["sensitive attribute 'gender' is not in columns"]),
        ({"colums": {}}, ["field 'colums'", "Extra inputs are not permitted"]),
        ({"thresholds": {"ks": "high"}}, ["field 'thresholds.ks'", "'high'", "number"]),
        ({"annotations": {"format": "long"}}, ["needs annotator_column"]),
        (
            {"annotations": {"format": "long", "annotator_column": "age"}},
            ["must not be one of columns"],
        ),
        ({"schedule": {"cron": "0 25 * * *"}}, ["field 'schedule.cron'", "not a valid cron"]),
        ({"schedule": {"timezone": "Mars/Olympus"}}, ["field 'schedule.timezone'", "IANA"]),
        (
            {"alerts": {"routes": [{"name": "x", "type": "webhook", "url_env": "U"}]}},
            ["route 'x' (webhook) needs secret_env"],
        ),
        (
            {
                "alerts": {
                    "routes": [
                        {
                            "name": "m",
                            "type": "email",
                            "smtp_host": "h",
                            "sender": "a@b",
                            "recipients": ["c@d"],
                            "username_env": "U",
                        }
                    ]
                }
            },
            ["username_env and password_env go together"],
        ),
        (
            {
                "alerts": {
                    "routes": [
                        {"name": "s", "type": "slack", "url_env": "A"},
                        {"name": "s", "type": "slack", "url_env": "B"},
                    ]
                }
            },
            ["route names must be unique"],
        ),
    ],
)
def test_wrong_spec_names_field_value_and_expectation(changes: dict, expected: list[str]) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(_spec(**changes), "loops/churn/loop.yaml")
    message = str(caught.value)
    assert message.startswith("loops/churn/loop.yaml: ")
    for fragment in expected:
        assert fragment in message


def test_missing_required_field_is_named() -> None:
    data = _spec()
    del data["label"]
    with pytest.raises(SpecError, match="field 'label': missing"):
        parse_spec(data, "x")


def test_yaml_syntax_error_names_file(tmp_path: Path) -> None:
    path = tmp_path / "churn" / "loop.yaml"
    path.parent.mkdir()
    path.write_text("name: churn\ncolumns: [unclosed\n")
    with pytest.raises(SpecError, match=r"loop\.yaml: not valid YAML"):
        load_spec(path)


def test_name_must_match_folder(tmp_path: Path) -> None:
    path = tmp_path / "other" / "loop.yaml"
    save_spec(parse_spec(SPEC, "x"), path)
    with pytest.raises(SpecError, match="expected the loop folder's name 'other'"):
        load_spec(path)


def test_long_format_uses_id_as_item_column() -> None:
    spec = parse_spec(_spec(annotations={"format": "long", "annotator_column": "annotator"}), "x")
    assert isinstance(spec, LoopSpec)
    assert spec.item_column == "customer_id"
