"""Real materialisations of the report, feedback, accept and reference-batch assets."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from validation_loop.defs.build import build_definitions
from validation_loop.defs.feedback_assets import (
    REPORT_KINDS,
    accepted_config_key,
    gap_report_key,
    generator_config_key,
    reference_batch_key,
)
from validation_loop.feedback.versions import current_version, proposals


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def test_gap_report_asset_metadata_and_one_check_per_kind(demo_copy, instance) -> None:
    defs = build_definitions(demo_copy)
    asset = defs.resolve_assets_def(gap_report_key("adult"))
    result = dg.materialize([asset], instance=instance)
    assert result.success
    metadata = result.asset_materializations_for_node("adult__gap_report")[0].metadata
    assert 0 < metadata["score"].value <= 1
    assert isinstance(metadata["errors"].value, int)
    assert metadata["summary"].value.startswith("# Gap report: loop adult")
    assert "| severity | kind |" in metadata["top_gaps"].value
    assert metadata["report_html"].value.endswith(".html")
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {f"{kind}_gaps" for kind in REPORT_KINDS}
    report = json.loads(Path(metadata["report_json"].value).read_text())
    for kind in REPORT_KINDS:
        gaps = [g for g in report["gaps"] if g["kind"] == kind]
        evaluation = evaluations[f"{kind}_gaps"]
        assert evaluation.passed == (not gaps)
        if gaps:
            worst = "error" if any(g["severity"] == "error" for g in gaps) else "warn"
            assert evaluation.severity.value == worst.upper()


def test_accept_generate_and_feedback_assets(demo_copy, instance) -> None:
    layout = demo_copy.loop("adult")
    defs = build_definitions(demo_copy)
    waiting = proposals(layout)
    accepted = dg.materialize(
        [defs.resolve_assets_def(accepted_config_key("adult"))], instance=instance
    )
    meta = accepted.asset_materializations_for_node("adult__accepted_config")[0].metadata
    if waiting:
        assert meta["current"].value == waiting[-1] == current_version(layout)
    else:
        assert meta["status"].value == "no proposal waiting"
    batch = dg.materialize(
        [defs.resolve_assets_def(reference_batch_key("adult"))],
        instance=instance,
        run_config={"ops": {"adult__reference_batch": {"config": {"rows": 500}}}},
    )
    meta = batch.asset_materializations_for_node("adult__reference_batch")[0].metadata
    path = meta["file"].value
    assert meta["generator_version"].value == current_version(layout)
    assert meta["dagster/row_count"].value == 500
    sidecar = json.loads(Path(path + ".meta.json").read_text())
    assert sidecar["generator_version"] == current_version(layout)
    feedback = dg.materialize(
        [defs.resolve_assets_def(generator_config_key("adult"))], instance=instance
    )
    meta = feedback.asset_materializations_for_node("adult__generator_config")[0].metadata
    assert meta["status"].value  # why it wrote (or did not write) a version
