"""Real Dagster materialisations of a loop's batch and inventory assets."""

from __future__ import annotations

import dagster as dg
import pytest

from validation_loop.defs.assets import batch_run_config, batches_key, gaps_key, inventory_key
from validation_loop.defs.build import build_definitions
from validation_loop.defs.partitions import batch_partitions
from validation_loop.defs.runs import LoopRunner
from validation_loop.ingest import batch_key, file_sha256
from validation_loop.warehouse import Warehouse


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def _assets(home):
    defs = build_definitions(home)
    return [defs.resolve_assets_def(key("churn")) for key in (batches_key, inventory_key, gaps_key)]


def _materialize_batch(home, instance, path, source="human"):
    key = batch_key(source, file_sha256(path))
    instance.add_dynamic_partitions(batch_partitions("churn").name, [key])
    batches, *_ = _assets(home)
    result = dg.materialize(
        [batches],
        partition_key=key,
        instance=instance,
        run_config=batch_run_config("churn", path),
        raise_on_error=False,
    )
    return key, result


def test_materialize_batch_partition_records_lineage(home, spec, write_batch, instance) -> None:
    path = write_batch("b.parquet")
    key, result = _materialize_batch(home, instance, path)
    assert result.success
    event = instance.get_latest_materialization_event(batches_key("churn"))
    assert event is not None
    materialization = event.asset_materialization
    assert materialization.partition == key
    metadata = materialization.metadata
    assert metadata["batch_id"].value == key
    assert metadata["dagster/row_count"].value == 3
    assert metadata["sha256"].value == file_sha256(path)
    assert metadata["new"].value is True
    assert "| customer_id |" in metadata["preview"].value


def test_rejected_batch_fails_its_partition_with_reason(home, spec, write_batch, instance):
    path = write_batch(
        "bad.csv",
        [
            {
                "customer_id": "c1",
                "age": "old",
                "region": "n",
                "active": "yes",
                "signup": "2024-01-01",
                "churned": "no",
            }
        ],
    )
    _, result = _materialize_batch(home, instance, path)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description
    assert description == "bad.csv: column 'age', row 1: value 'old' is not numeric"
    assert failure.step_failure_data.user_failure_data.metadata["row"].value == 1
    assert (home.loop("churn").quarantine / "bad.csv.error.json").exists()


def test_inventory_lists_batches_and_rejects(home, spec, write_batch, instance) -> None:
    _materialize_batch(home, instance, write_batch("good.csv"))
    _materialize_batch(home, instance, write_batch("empty.csv", []))
    _, inventory, _ = _assets(home)
    result = dg.materialize([inventory], instance=instance)
    assert result.success
    metadata = result.asset_materializations_for_node("churn__inventory")[0].metadata
    assert metadata["human_batches"].value == 1
    assert metadata["human_rows"].value == 3
    assert metadata["rejected_files"].value == 1
    assert "empty.csv" in metadata["summary"].value


def test_runner_ingests_through_the_same_job(home, spec, write_batch, instance) -> None:
    runner = LoopRunner(home, "churn", instance)
    good = write_batch("good.csv")
    bad = good.with_name("bad.txt")
    bad.write_text("not a batch")
    outcomes = runner.ingest([("human", good), ("human", bad), ("human", good)])
    assert [o.error is None for o in outcomes] == [True, False, True]
    assert [o.new for o in outcomes] == [True, False, False]
    assert outcomes[1].error.startswith("bad.txt: unknown file type")
    runner.compare()
    runs = instance.get_runs()
    assert {r.job_name for r in runs} == {"churn_ingest_batch", "churn_compare_batches"}
    partitions = instance.get_dynamic_partitions(batch_partitions("churn").name)
    assert outcomes[0].batch_id in partitions


def test_gaps_asset_compares_current_generator_and_keeps_records(
    home, spec, write_batch, instance
) -> None:
    rows = [
        dict(r, customer_id=f"c{i}")
        for i, r in enumerate(
            [
                {
                    "customer_id": "x",
                    "age": 20 + i % 50,
                    "region": ["north", "south"][i % 2],
                    "active": "yes",
                    "signup": "2024-01-01",
                    "churned": ["yes", "no"][i % 3 == 0],
                }
                for i in range(300)
            ]
        )
    ]
    _materialize_batch(home, instance, write_batch("h.csv", rows))
    old = [dict(r, region="north") for r in rows]
    new = [dict(r, age=r["age"] + 30) for r in rows]
    for name, batch, version in (("old.csv", old, "v1"), ("new.csv", new, "v2")):
        path = write_batch(name, batch)
        path.with_name(name + ".meta.json").write_text(f'{{"generator_version": "{version}"}}')
        _materialize_batch(home, instance, path, source="synthetic")
    _, _, gaps = _assets(home)
    result = dg.materialize([gaps], instance=instance)
    metadata = result.asset_materializations_for_node("churn__gaps")[0].metadata
    assert metadata["generator_version"].value == "v2"
    assert metadata["errors"].value > 0
    assert "| error | marginal | ks | age |" in metadata["gaps"].value
    with Warehouse(home.warehouse_path).read() as con:
        (stored,) = con.execute(
            "SELECT count(DISTINCT comparison_id), count(*) FROM gap_records"
        ).fetchall()
        region_gaps = con.execute(
            "SELECT count(*) FROM gap_records WHERE severity <> 'info' AND columns = ['region']"
        ).fetchone()
    assert stored[0] == 1 and stored[1] == metadata["metrics"].value
    assert region_gaps == (0,)  # v1's flaw (one region only) is not v2's


def test_gaps_asset_waits_for_both_sides(home, spec, write_batch, instance) -> None:
    _materialize_batch(home, instance, write_batch("h.csv"))
    _, _, gaps = _assets(home)
    result = dg.materialize([gaps], instance=instance)
    metadata = result.asset_materializations_for_node("churn__gaps")[0].metadata
    assert "nothing to compare yet" in metadata["status"].value


def test_expectations_are_asset_checks_and_errors_block(home, spec, write_batch, instance) -> None:
    from validation_loop_tests.conftest import ROWS

    _materialize_batch(home, instance, write_batch("h.csv"))  # writes the suite
    _, first = _materialize_batch(home, instance, write_batch("ok.csv", ROWS[:2]), "synthetic")
    evaluations = {e.check_name: e for e in first.get_asset_check_evaluations()}
    assert first.success and evaluations["expectation_suite"].passed
    assert "column_values_to_be_in_set__churned" in evaluations
    between = evaluations["column_values_to_be_between__age"]
    assert between.passed and "min_value=" in between.metadata["threshold"].value

    bad = [dict(ROWS[0], churned="maybe")]
    _, failed = _materialize_batch(home, instance, write_batch("bad.csv", bad), "synthetic")
    assert not failed.success  # a blocking (error) check failed
    evaluations = {e.check_name: e for e in failed.get_asset_check_evaluations()}
    label = evaluations["column_values_to_be_in_set__churned"]
    assert not label.passed and label.severity == dg.AssetCheckSeverity.ERROR
    assert '"maybe"' in label.metadata["unexpected_examples"].value
    assert not evaluations["expectation_suite"].passed


def test_broken_suite_stops_the_run_naming_file_and_entry(home, spec, write_batch, instance):
    (home.loop("churn").root / "expectations.json").write_text(
        '{"expectations": [{"type": "expect_nothing", "kwargs": {}}]}'
    )
    _, result = _materialize_batch(home, instance, write_batch("h.csv"))
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description
    assert "is stored but not validated" in description
    assert "expectations.json: entry 1 (expect_nothing): unknown expectation type" in description


def test_label_quality_asset_checks_alpha(home, write_batch, instance) -> None:
    from validation_loop.spec import parse_spec, save_spec
    from validation_loop_tests.conftest import SPEC

    spec = parse_spec(
        {
            **SPEC,
            "annotations": {"format": "long", "annotator_column": "annotator"},
            "quality": {"alpha_warn": 0.9, "alpha_error": 0.2},
        },
        "x",
    )
    save_spec(spec, home.loop("churn").spec_path)
    rows = [
        {
            "customer_id": f"c{k}",
            "annotator": f"a{a}",
            "age": 30,
            "region": "north",
            "active": "yes",
            "signup": "2024-01-01",
            "churned": ["yes", "no"][(k + (a == 0)) % 2],
        }
        for k in range(20)
        for a in range(3)
    ]
    _materialize_batch(home, instance, write_batch("long.csv", rows))
    defs = build_definitions(home)
    quality = defs.resolve_assets_def(dg.AssetKey(["churn", "label_quality"]))
    result = dg.materialize([quality], instance=instance)
    (evaluation,) = result.get_asset_check_evaluations()
    observed = evaluation.metadata["observed"].value
    assert not evaluation.passed and observed < 0.9
    expected = dg.AssetCheckSeverity.ERROR if observed < 0.2 else dg.AssetCheckSeverity.WARN
    assert evaluation.severity == expected
    metadata = result.asset_materializations_for_node("churn__label_quality")[0].metadata
    assert metadata["items"].value == 20 and metadata["annotators"].value == 3
