"""Crash trials at scale: kill -9 `validation-loop ingest` and `run` at many points; nothing may
be lost.

Usage: python benchmarks/crash_trials.py [--trials 200] [--seed 0] [--delays 0.25]
           [--by-kind 0.5] [--workers 2] [--keep DIR]

The machinery is `validation_loop_tests/crash.py` (the CI test `test_crash.py` runs 20 kills
with it). Each trial copies the template loop, drops a step's files into landing and runs one
command, `ingest` or `run` (alternately), killed with SIGKILL: for a share `--delays` of the
trials after a delay drawn uniformly from a clean run's length (points inside DuckDB's own
work); for the others just before a file-system event of a clean run of that command, drawn
uniformly from its kinds of events for a share `--by-kind` of them (the loop's own writes as
often as Dagster's), else uniformly from all its events (most of them Dagster's).
Then the home is checked (the warehouse opens, batches whole or absent, no rejection without
its file, no file half written, unfinished work still in landing), `run` goes to the end, and
the outcome is compared with a clean run on the same files. Prints the trials, the kills that
landed, the kinds of kill points and of states hit, and every trial that lost something;
exits 1 if one did.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # validation_loop_tests

from validation_loop_tests.crash import Kill, Scenario, Trial, Zygote, summary

COMMANDS = ("ingest", "run")


def plan(scenario: Scenario, trials: int, seed: int, delays: float, by_kind: float) -> list[Kill]:
    """One kill per trial, seeded: commands alternate; a share `delays` are delays, a share
    `by_kind` of the others are drawn by kind of event."""
    rng = random.Random(seed)
    kills = []
    for index in range(trials):
        command = COMMANDS[index % len(COMMANDS)]
        if rng.random() < delays:
            kills.append(scenario.random_delay(command, rng))
        else:
            kills.append(scenario.random_kill(command, rng, by_kind=rng.random() < by_kind))
    return kills


def main() -> int:
    """Run the trials on `--workers` zygotes and print what they found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--delays", type=float, default=0.25)
    parser.add_argument("--by-kind", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the homes of failed trials here")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        zygotes = [Zygote() for _ in range(args.workers)]
        try:
            scenario = Scenario(zygotes[0], root)
            for command in COMMANDS:
                scenario.measure(zygotes[0], command)
                scenario.reference(zygotes[0], (command,))
            kills = plan(scenario, args.trials, args.seed, args.delays, args.by_kind)

            def work(worker: int) -> list[Trial]:
                return [
                    scenario.trial(zygotes[worker], [kill], f"trial-{index}")
                    for index, kill in enumerate(kills)
                    if index % args.workers == worker
                ]

            with ThreadPoolExecutor(args.workers) as pool:
                trials = [t for part in pool.map(work, range(args.workers)) for t in part]
        finally:
            for zygote in zygotes:
                zygote.close()
    counts = summary(trials)
    steps = [trial.steps[0] for trial in trials]
    delayed = [s for s in steps if s.kill.after is not None]
    print(
        f"{counts['trials']} trials in {time.monotonic() - started:.0f} s: {counts['kills']} "
        f"kills landed ({sum(s.killed for s in delayed)} of {len(delayed)} after a delay, "
        f"the rest before a chosen event), {counts['kill_point_kinds']} kinds of kill points, "
        f"{counts['states']} distinct states of the home at the kill; clean runs took "
        + ", ".join(f"{c} {scenario.seconds[c]:.1f} s" for c in COMMANDS)
    )
    for kind, count in Counter(counts["by_kind"]).most_common():
        print(f"  {count:4d}  {kind}")
    lost = [trial for trial in trials if trial.lost]
    print(f"trials that lost something: {len(lost)}")
    for trial in lost:
        print(f"  {trial}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
