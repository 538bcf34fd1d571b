"""Run a loop's Dagster jobs in-process, on the same definitions and instance the UI uses."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from validation_loop.atomic import write_text
from validation_loop.defs.assets import batch_run_config, batches_key
from validation_loop.defs.build import build_definitions
from validation_loop.defs.feedback_assets import accepted_config_key, reference_batch_key
from validation_loop.defs.jobs import (
    accept_job_name,
    compare_job_name,
    generate_job_name,
    ingest_job_name,
)
from validation_loop.defs.partitions import batch_partitions
from validation_loop.defs.resources import env_value
from validation_loop.defs.sqlite_speed import quick_sqlite
from validation_loop.errors import FileVanished, ValidationLoopError
from validation_loop.home import Home, Source
from validation_loop.ingest import BatchRecord, batch_key, file_sha256, find_batch
from validation_loop.locks import file_lock
from validation_loop.progress import Progress
from validation_loop.quality.results import suite_summary
from validation_loop.spec import load_spec
from validation_loop.warehouse import Warehouse

if TYPE_CHECKING:
    from dagster_shared.error import SerializableErrorInfo

INSTANCE_CONFIG = """\
# Written by validation_loop. No network at run time: telemetry off.
telemetry:
  enabled: false
"""
LOG = logging.getLogger(__name__)
QUIET: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class FileOutcome:
    """One file's ingest run: its batch when accepted, the reason when not, or why it was
    skipped (gone before it was read, or named twice)."""

    file: Path
    batch_id: str
    batch: BatchRecord | None
    new: bool
    error: str | None
    suite: dict[str, int] | None = None
    skipped: str | None = None


def dagster_instance(home: Home) -> dg.DagsterInstance:
    """The persistent Dagster instance: `$DAGSTER_HOME`, else `<home>/dagster`."""
    if not os.environ.get("DAGSTER_HOME"):
        home.dagster_home.mkdir(parents=True, exist_ok=True)
        config = home.dagster_home / "dagster.yaml"
        if not config.exists():
            write_text(config, INSTANCE_CONFIG)
        os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    # Two processes creating a fresh instance's SQLite storage at once race on its tables:
    # open the instance and touch every storage one process at a time.
    init_lock = Path(os.environ["DAGSTER_HOME"]) / ".validation_loop_init.lock"
    with file_lock(init_lock, exclusive=True, timeout=120, holder=str(init_lock)):
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)
        instance.get_dynamic_partitions("validation_loop_init")
        instance.all_instigator_state()
    return instance


def _error_text(error: SerializableErrorInfo) -> str:
    """The error user code raised under Dagster's wrappers, as `Type: message`."""
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    name = error.cls_name or "Error"
    message = error.message.strip()
    # Dagster keeps `traceback.format_exception_only`: "module.Type: message", or just the type.
    head, sep, rest = message.partition(":")
    if head.rsplit(".", 1)[-1] == name:
        message = rest.strip() if sep else ""
    return f"{name}: {message}" if message else name


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The reason a run failed: the step's `Failure` description, else the underlying error."""
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            return data.user_failure_data.description
        if data.error is not None:
            return f"{_error_text(data.error)} (in step {event.step_key})"
    return f"run {result.run_id} failed"


def _vanished(result: dg.ExecuteInProcessResult) -> str | None:
    """The message of a run that failed because its file was gone before the step read it."""
    for event in result.all_events:
        error = event.step_failure_data.error if event.is_step_failure else None
        while error is not None:
            if error.cls_name == FileVanished.__name__:
                return error.message.strip().partition(": ")[2]
            error = error.cause
    return None


class LoopRunner:
    """Executes one loop's jobs in this process and reports per file."""

    def __init__(self, home: Home, loop: str, instance: dg.DagsterInstance) -> None:
        self.home = home
        self.loop = loop
        self.instance = instance
        self.definitions = build_definitions(home, [loop])

    def ingest(
        self,
        files: Iterable[tuple[Source, Path]],
        generator_version: str | None = None,
    ) -> list[FileOutcome]:
        """Ingest each file through the loop's ingest job, one partition per file."""
        todo = list(files)
        job = self.definitions.resolve_job_def(ingest_job_name(self.loop))
        partitions = batch_partitions(self.loop).name or ""
        progress = Progress(len(todo), f"ingesting into {self.loop}")
        outcomes: list[FileOutcome] = []
        seen: set[Path] = set()
        try:
            for source, path in todo:
                progress.step(path.name)
                if path.resolve() in seen:
                    skip = f"{path.name}: named twice in one command"
                    outcomes.append(FileOutcome(path, "", None, False, None, skipped=skip))
                    continue
                seen.add(path.resolve())
                try:
                    key = batch_key(source, file_sha256(path))
                except FileNotFoundError:
                    skip = str(FileVanished(path.name))
                    outcomes.append(FileOutcome(path, "", None, False, None, skipped=skip))
                    continue
                except OSError as exc:
                    error = f"{path.name}: cannot read the file: {exc.strerror}"
                    outcomes.append(FileOutcome(path, "", None, False, error))
                    continue
                with quick_sqlite():
                    if not self.instance.has_dynamic_partition(partitions, key):
                        self.instance.add_dynamic_partitions(partitions, [key])
                    result = job.execute_in_process(
                        run_config={
                            **batch_run_config(
                                self.loop, path.resolve(), generator_version, progress.enabled
                            ),
                            **QUIET,
                        },
                        instance=self.instance,
                        partition_key=key,
                        raise_on_error=False,
                    )
                outcomes.append(self._outcome(path, key, result))
                if not result.success and outcomes[-1].skipped is None:
                    self._alert_failure(ingest_job_name(self.loop), result)
        finally:
            progress.close()
        return outcomes

    def _outcome(self, path: Path, key: str, result: dg.ExecuteInProcessResult) -> FileOutcome:
        """What one ingest run did, read back from its events and the warehouse.

        A batch stored but failing its suite at error severity fails the run (the check is
        blocking) yet is ingested: it comes back with its suite summary and no error.
        """
        with Warehouse(self.home.warehouse_path).read() as con:
            batch = find_batch(con, self.loop, key)
            suite = suite_summary(con, self.loop, key) if batch else None
        materializations = result.asset_materializations_for_node(
            batches_key(self.loop).to_python_identifier()
        )
        if batch is None or not materializations:
            vanished = _vanished(result)
            if vanished is not None:
                return FileOutcome(path, key, None, False, None, skipped=vanished)
            reason = _failure_message(result)
            if not reason.startswith(f"{path.name}:"):
                reason = f"{path.name}: {reason}"
            return FileOutcome(path, key, None, False, reason)
        new_value = materializations[0].metadata.get("new")
        return FileOutcome(path, key, batch, bool(new_value and new_value.value), None, suite)

    def _run(self, job_name: str, run_config: dict[str, Any]) -> dg.ExecuteInProcessResult:
        """Run one of the loop's unpartitioned jobs; a failure alerts and raises."""
        job = self.definitions.resolve_job_def(job_name)
        with quick_sqlite():
            result = job.execute_in_process(
                instance=self.instance, run_config={**run_config, **QUIET}, raise_on_error=False
            )
        if not result.success:
            self._alert_failure(job_name, result)
            raise ValidationLoopError(f"{job_name} failed: {_failure_message(result)}")
        return result

    def _alert_failure(self, job_name: str, result: dg.ExecuteInProcessResult) -> None:
        """Tell the loop's alert routes that a run failed; never raises (the daemon's
        run-failure sensor may report the same run: it is sent once)."""
        try:
            spec = load_spec(self.home.loop(self.loop).spec_path)
            if spec.alerts.routes:
                from validation_loop.alerts.dispatch import notify_run_failure

                notify_run_failure(
                    self.home, spec, job_name, result.run_id, _failure_message(result), env_value
                )
        except Exception as exc:  # alerting must not hide the run's own failure
            LOG.warning("could not alert on run %s: %s", result.run_id, type(exc).__name__)

    def compare(self) -> None:
        """Rebuild the inventory, gaps, report, next config and alerts; raises if it fails."""
        self._run(compare_job_name(self.loop), {})

    def generate(self, rows: int | None, version: str | None) -> dict[str, Any]:
        """Materialise the reference-batch asset; returns its metadata (file, version, rows)."""
        config = {k: v for k, v in (("rows", rows), ("version", version)) if v is not None}
        node = reference_batch_key(self.loop).to_python_identifier()
        result = self._run(generate_job_name(self.loop), {"ops": {node: {"config": config}}})
        (materialization,) = result.asset_materializations_for_node(node)
        return {k: v.value for k, v in materialization.metadata.items()}

    def accept(self, version: str | None) -> dict[str, Any]:
        """Materialise the accepted-config asset; returns its metadata (status, current)."""
        node = accepted_config_key(self.loop).to_python_identifier()
        config = {"version": version} if version else {}
        result = self._run(accept_job_name(self.loop), {"ops": {node: {"config": config}}})
        (materialization,) = result.asset_materializations_for_node(node)
        return {k: v.value for k, v in materialization.metadata.items()}
