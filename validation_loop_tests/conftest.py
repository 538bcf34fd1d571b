"""Shared fixtures: a fresh home, a typical loop spec, and writers for batch files."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

from validation_loop.home import Home
from validation_loop.spec import LoopSpec, parse_spec, save_spec

pytest_plugins = ["validation_loop_tests.servers"]

# Hypothesis (test_fuzz.py): `ci` is bounded and reproducible; HYPOTHESIS_PROFILE=long tries more.
_FUZZ = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("ci", max_examples=30, derandomize=True, **_FUZZ)
settings.register_profile("long", max_examples=2_000, **_FUZZ)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SPEC: dict[str, Any] = {
    "name": "churn",
    "task": "classification",
    "label": "churned",
    "id_column": "customer_id",
    "columns": {
        "customer_id": "text",
        "age": "numeric",
        "region": "categorical",
        "active": "boolean",
        "signup": "datetime",
        "churned": "categorical",
    },
    "slices": ["region"],
    "sensitive": ["region"],
}

ROWS: list[dict[str, Any]] = [
    {
        "customer_id": "c1",
        "age": 34,
        "region": "north",
        "active": "yes",
        "signup": "2024-01-05",
        "churned": "no",
    },
    {
        "customer_id": "c2",
        "age": 51.5,
        "region": "south",
        "active": "no",
        "signup": "2024-02-11 08:30:00",
        "churned": "yes",
    },
    {
        "customer_id": "c3",
        "age": None,
        "region": "south",
        "active": None,
        "signup": None,
        "churned": "no",
    },
]


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """An empty home in a temporary folder."""
    return Home(tmp_path / "home")


@pytest.fixture
def spec(home: Home) -> LoopSpec:
    """The `churn` loop's spec, saved in the home."""
    loop_spec = parse_spec(SPEC, "test")
    save_spec(loop_spec, home.loop(loop_spec.name).spec_path)
    home.loop(loop_spec.name).create()
    return loop_spec


def _write(frame: pd.DataFrame, path: Path) -> Path:
    """Write a frame in the format the path's name says."""
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name.removesuffix(".gz")
    compressed = path.name.endswith(".gz")
    if name.endswith(".csv"):
        frame.to_csv(path, index=False, compression="gzip" if compressed else None)
    elif name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif name.endswith(".jsonl"):
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        text = "".join(json.dumps(r) + "\n" for r in records)
        path.write_bytes(gzip.compress(text.encode()) if compressed else text.encode())
    else:
        raise ValueError(path)
    return path


@pytest.fixture
def write_batch(tmp_path: Path) -> Callable[..., Path]:
    """Write rows (default: the three typical rows) to a batch file named `name`."""

    def write(name: str, rows: list[dict[str, Any]] | None = None, folder: Path | None = None):
        frame = pd.DataFrame(ROWS if rows is None else rows)
        return _write(frame, (folder or tmp_path / "incoming") / name)

    return write


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the demo run share one xdist worker (`--dist loadgroup`), so the
    session's demo is built once, not once per worker."""
    for item in items:
        if "demo_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("demo"))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> dict[str, Any]:
    """The demo loop as `make demo` runs it (default settings, model checks on, up to five
    rounds) in a home of its own. Tests that change the home work on a copy (`demo_copy`).
    """
    import dagster as dg

    from validation_loop.demo import run_demo

    home = Home(tmp_path_factory.mktemp("demo_home"))
    lines: list[str] = []
    with dg.instance_for_test() as instance:
        rounds = run_demo(home, 5, lines.append, instance=instance)
    return {"home": home, "rounds": rounds, "lines": lines}


@pytest.fixture
def demo_copy(demo_run, tmp_path) -> Home:
    """A copy of the demo home that a test may change (its model checks off, for speed)."""
    import shutil

    from validation_loop.spec import load_spec

    target = tmp_path / "demo_copy"
    shutil.copytree(demo_run["home"].root, target)
    home = Home(target)
    spec = load_spec(home.loop("adult").spec_path)
    spec.models.enabled = False
    save_spec(spec, home.loop("adult").spec_path)
    return home


@pytest.fixture
def env(home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Dagster instance of the test's own and the home, both in the environment; returns the
    Dagster instance's folder."""
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.setenv("VALIDATION_LOOP_HOME", str(home.root))
    return dagster_home


def landing_tick(home: Home, instance: Any, cursor: str | None = None) -> Any:
    """One evaluation of the `churn` loop's landing sensor against `instance` (a real Dagster
    instance), from `cursor`."""
    import dagster as dg

    from validation_loop.defs.build import build_definitions
    from validation_loop.defs.resources import HomeResource

    defs = build_definitions(home)
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=defs,
        resources={"home": HomeResource(path=str(home.root))},
    )
    return defs.resolve_sensor_def("churn_landing_sensor")(context)
