"""The thread budget: how many threads any one step of a run may use, from one place.

A Dagster host runs several runs at once, each in its own process. Libraries that start a
thread per core (OpenMP in scikit-learn's gradient boosting, BLAS in numpy, DuckDB) then fight
over the same cores, and OpenMP's busy-waiting turns that into slowdowns of ten times and more.
So every multi-threaded step takes its count from `thread_budget`: the loop's
`resources.threads`, else `$VALIDATION_LOOP_THREADS` (a host-wide setting), else the cores this
process may run on. Model fits on bounded samples use fewer still (`fit_threads`): below
`ROWS_PER_FIT_THREAD` rows a gradient-boosting fit is faster on one thread than on several.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from threadpoolctl import threadpool_limits

from validation_loop.errors import ConfigError

if TYPE_CHECKING:
    from validation_loop.spec import ResourceSpec

THREADS_ENV = "VALIDATION_LOOP_THREADS"
ROWS_PER_FIT_THREAD = 100_000


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def thread_budget(configured: int | None = None) -> int:
    """Threads one step may use: `configured` (the loop's setting), else the environment's
    `VALIDATION_LOOP_THREADS`, else the available cores."""
    if configured is not None:
        return configured
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return available_cores()
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{THREADS_ENV}={raw!r}: expected a whole number of threads >= 1")
    return value


def duckdb_config(resources: ResourceSpec | None = None) -> dict[str, str | int]:
    """DuckDB settings for a connection: the thread budget and, for a loop, its memory limit."""
    if resources is None:
        return {"threads": thread_budget()}
    return {"threads": thread_budget(resources.threads), "memory_limit": resources.duckdb_memory}


def fit_threads(configured: int | None, rows: int) -> int:
    """Threads for one model fit on `rows` rows: one per `ROWS_PER_FIT_THREAD`, within the
    budget (`configured` as for `thread_budget`)."""
    return max(1, min(thread_budget(configured), rows // ROWS_PER_FIT_THREAD))


@contextmanager
def limited_threads(
    threads: int, openmp_only: bool = False, blas_only: bool = False
) -> Iterator[None]:
    """Cap the OpenMP and BLAS thread pools to `threads` inside the block.

    OpenMP's cap holds for the calling thread only, BLAS's for the whole process: a worker
    thread caps only OpenMP (`openmp_only`) and leaves BLAS to the thread that started it.
    """
    api = "openmp" if openmp_only else "blas" if blas_only else None
    with threadpool_limits(limits=threads, user_api=api):
        yield
