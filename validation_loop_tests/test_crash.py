"""Crash safety: kill -9 the ingest and the run 20 times at points spread over them, and
nothing is lost; and, step by step, why: a rejection is recorded before its file leaves
landing, an accepted file leaves landing last, and a validation kept before a crash is not
redone against a suite that already learnt from it.

The trials' machinery is `validation_loop_tests/crash.py`: each kill is a real SIGKILL of a
real `validation-loop ingest` or `run` process, delivered just before a chosen file-system event
(seeded, spread over the kinds of events of a clean run of that command). After every kill the
home is checked: the warehouse opens, every batch is wholly there or absent, no rejection row
lacks its quarantined file, no report, config, suite or Data Docs file is half written, and
whatever is unfinished still has its file in landing. Each trial ends with a `run` that must
finish and leave the same batches, rejections, gap records, report figures, generator
configs, suite and folders as one clean run on the same files. `benchmarks/crash_trials.py`
runs hundreds of trials.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from validation_loop.errors import BatchRejected, LockTimeoutError
from validation_loop.ingest import ingest_file, settle
from validation_loop.locks import file_lock
from validation_loop.quality.validation import validate_batch
from validation_loop.warehouse import LOCK_TIMEOUT_ENV, Warehouse, list_rejections
from validation_loop_tests.conftest import ROWS
from validation_loop_tests.crash import Scenario, Trial, Zygote, summary

SEED = 12
PATTERN = ("ingest", "ingest", "run", "run", "run")  # the commands of one trial's steps
TRIALS = 4  # 4 x 5 = 20 kills: 8 of `ingest`, 12 of `run`


def test_kill_9_mid_ingest_and_mid_run_loses_nothing(tmp_path) -> None:
    """Four trials of five kills each, run by two zygotes side by side."""
    with Zygote() as first, Zygote() as second:
        scenario = Scenario(first, tmp_path)
        with ThreadPoolExecutor(2) as pool:
            clean = pool.submit(scenario.reference, second, PATTERN)
            scenario.measure(first, "ingest")
            scenario.measure(first, "run")
            clean.result()
            rng = random.Random(SEED)
            ingest = scenario.spread("ingest", PATTERN.count("ingest") * TRIALS, rng)
            run = scenario.spread("run", PATTERN.count("run") * TRIALS, rng)
            # Points in the generator's files come first: only a loop's first comparison
            # proposes (and, in auto mode, accepts) a config, in a trial's first `run` step.
            run.sort(key=lambda kill: "/generator/" not in str(kill.before))
            firsts, later = run[:TRIALS], run[TRIALS:]
            chains = [
                [*ingest[2 * i : 2 * i + 2], firsts[i], *later[2 * i : 2 * i + 2]]
                for i in range(TRIALS)
            ]

            def work(zygote: Zygote, offset: int) -> list[Trial]:
                return [
                    scenario.trial(zygote, chains[i], f"trial-{i}")
                    for i in range(offset, TRIALS, 2)
                ]

            halves = [pool.submit(work, first, 0), pool.submit(work, second, 1)]
            trials = [trial for half in halves for trial in half.result()]
    counts = summary(trials)
    for trial in trials:
        assert not trial.lost, trial
    assert counts["kills"] == len(PATTERN) * TRIALS, counts
    assert counts["states"] >= 10, counts


def test_a_rejection_is_recorded_before_its_file_leaves_landing(
    home, spec, write_batch, monkeypatch
) -> None:
    """The test holds the warehouse (shared) so the rejection's row cannot be written: the
    ingest stops there, as a crash would. The file is in quarantine with its error file and
    still in landing; the next ingest rejects it into the same place, records it and only then
    removes it from landing."""
    layout = home.loop("churn")
    warehouse = Warehouse(home.warehouse_path)
    with warehouse.write():
        pass  # the warehouse and its tables exist before the test holds it
    bad = write_batch("bad.csv", [dict(ROWS[0], age="forty")], folder=layout.landing("human"))
    monkeypatch.setenv(LOCK_TIMEOUT_ENV, "0.2")
    held = file_lock(warehouse.lock_path, exclusive=False, timeout=10, holder="test")
    with held, pytest.raises(LockTimeoutError):
        ingest_file(home, spec, bad, "human")
    quarantined = sorted(p.name for p in layout.quarantine.iterdir())
    assert quarantined == ["bad.csv", "bad.csv.error.json"]
    assert bad.is_file()
    with warehouse.read() as con:
        assert list_rejections(con, "churn") == []
    monkeypatch.delenv(LOCK_TIMEOUT_ENV)
    with pytest.raises(BatchRejected):
        ingest_file(home, spec, bad, "human")
    assert not bad.exists()
    assert sorted(p.name for p in layout.quarantine.iterdir()) == quarantined
    with warehouse.read() as con:
        (row,) = list_rejections(con, "churn")
    assert row["quarantined_as"] == str(layout.quarantine / "bad.csv")


def test_an_ingest_cut_short_before_archiving_is_finished_with_its_kept_validation(
    home, spec, write_batch
) -> None:
    """A second human batch, older than the first's ages allow, is stored and validated (its
    range check fails, a warning), which widens the suite; then the process stops before
    archiving it (the batches asset leaves the file for `settle`). Validating it again would
    hold it to a suite made from itself, and pass. The next ingest finds it stored and not
    archived, and finishes with the kept outcomes. Once archived, an ingest of the same file
    validates it again, as before."""
    layout = home.loop("churn")
    first = ingest_file(home, spec, write_batch("first.csv"), "human")
    validate_batch(home, spec, first.batch.batch_id)
    older = [dict(row, customer_id=f"o{i}", age=90) for i, row in enumerate(ROWS)]
    path = write_batch("older.csv", older, folder=layout.landing("human"))
    cut = ingest_file(home, spec, path, "human", archive=False)
    assert cut.new and cut.stored_as is None and path.is_file()
    batch_id = cut.batch.batch_id
    outcomes, _ = validate_batch(home, spec, batch_id)
    ages = [o for o in outcomes if o.check_name == "column_values_to_be_between__age"]
    assert [o.success for o in ages] == [False]

    again = ingest_file(home, spec, path, "human", archive=False)
    assert not again.new and path.is_file()
    kept, page = validate_batch(home, spec, batch_id)
    assert kept == outcomes and page.is_file()
    done = settle(home, again)
    assert done.stored_as == layout.archive / "human" / batch_id / "older.csv"
    assert done.stored_as.is_file() and not path.exists()

    repeated, _ = validate_batch(home, spec, batch_id)
    ages = [o for o in repeated if o.check_name == "column_values_to_be_between__age"]
    assert [o.success for o in ages] == [True]  # held to the suite it widened
    with Warehouse(home.warehouse_path).read() as con:
        validations = con.execute(
            "SELECT count(DISTINCT validated_at) FROM expectation_results WHERE batch_id = ?",
            [batch_id],
        ).fetchone()
    assert validations == (2,)
