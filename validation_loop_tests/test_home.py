"""Loop names: the one check every command and every loop path goes through."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from validation_loop.errors import SpecError
from validation_loop.home import Home, LoopNameError, check_loop_name
from validation_loop.spec import parse_spec
from validation_loop_tests.conftest import SPEC

VALID = ["churn", "churn_v2", "a", "a" * 63]
INVALID = ["", "Churn", "1churn", "_churn", "churn-v2", "churn v2", "a" * 64]
HOSTILE = ["..", "../outside", "../../outside", "churn/../x", "/etc", "churn\n", "churn\x00"]


@pytest.mark.parametrize("name", VALID)
def test_valid_names_pass_and_make_a_folder_under_loops(name: str, tmp_path: Path) -> None:
    assert check_loop_name(name) == name
    assert Home(tmp_path).loop(name).root == tmp_path / "loops" / name


@pytest.mark.parametrize("name", INVALID + HOSTILE)
def test_invalid_names_are_refused_with_the_rule(name: str, tmp_path: Path) -> None:
    with pytest.raises(LoopNameError, match="a loop name is a lower-case letter followed by"):
        check_loop_name(name)
    with pytest.raises(LoopNameError, match=re.escape(f"invalid loop name {name!r}")):
        Home(tmp_path).loop(name)


@pytest.mark.parametrize("name", VALID + INVALID + HOSTILE)
def test_the_check_agrees_with_loop_yaml(name: str) -> None:
    """`init` writes the name into loop.yaml: a name the check passes, the spec accepts."""
    try:
        parse_spec({**SPEC, "name": name}, "test")
        spec_accepts = True
    except SpecError:
        spec_accepts = False
    assert spec_accepts == (name in VALID)
