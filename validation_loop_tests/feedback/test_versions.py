"""Generator config versions: written once, one current, proposals accepted with a log."""

from __future__ import annotations

import json

import pytest

from validation_loop.feedback.generator import GeneratorConfig
from validation_loop.feedback.versions import (
    ConfigError,
    accept,
    current_version,
    list_versions,
    load_config,
    next_version,
    proposals,
    save_config,
)


def _config(version: str) -> GeneratorConfig:
    return GeneratorConfig.model_validate(
        {
            "version": version,
            "columns": {"x": {"kind": "numeric", "marginals": {"*": {"quantiles": [0.0] * 21}}}},
            "correlation": [[1.0, 0.0], [0.0, 1.0]],
            "label": "y",
            "label_model": {"*": {"probabilities": {"a": 0.5, "b": 0.5}}},
        }
    )


def test_versions_are_written_once_and_proposals_wait(home) -> None:
    layout = home.loop("churn")
    assert current_version(layout) is None and next_version(layout) == "v0001"
    save_config(layout, _config("v0001"))
    assert current_version(layout) == "v0001"  # no CURRENT file: the oldest version
    with pytest.raises(ConfigError, match="never edited in place"):
        save_config(layout, _config("v0001"))
    save_config(layout, _config(next_version(layout)))
    assert list_versions(layout) == ["v0001", "v0002"]
    assert proposals(layout) == ["v0002"]
    assert accept(layout, "v0002", by="test") == "v0001"
    assert current_version(layout) == "v0002" and proposals(layout) == []
    log = [
        json.loads(line) for line in (layout.generator / "accepted.jsonl").read_text().splitlines()
    ]
    assert log[-1]["version"] == "v0002" and log[-1]["previous"] == "v0001"
    assert log[-1]["by"] == "test"


def test_bad_versions_and_files_name_the_problem(home) -> None:
    layout = home.loop("churn")
    with pytest.raises(ConfigError, match="not a generator version"):
        accept(layout, "latest")
    with pytest.raises(ConfigError, match="no such generator version"):
        load_config(layout, "v0003")
    layout.generator.mkdir(parents=True)
    (layout.generator / "v0001.yaml").write_text("version: v0001\nrows: -5\n")
    with pytest.raises(ConfigError, match=r"v0001.yaml: rows: Input should be greater"):
        load_config(layout, "v0001")
