"""Fuzz batch files and loop.yaml with far more inputs than CI, and count them.

Usage: python benchmarks/fuzz_inputs.py [--examples 2000] [--only csv,spec] [--seed 1]

Runs the properties of validation_loop_tests/test_fuzz.py (every input ends as an accepted
batch or a clean rejection; every loop.yaml as a usable spec or a SpecError naming the file and
field) with `--examples` inputs per batch-file property and ten times as many per loop.yaml
property (they are cheap), then prints, per property, how many inputs were tried and how they
ended. Exits 1 if a property failed (Hypothesis prints the smallest failing input).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path


def main() -> int:
    """Run the chosen properties with the chosen number of inputs; print counts per property."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2_000, help="inputs per batch property")
    parser.add_argument("--only", default="", help="comma-separated parts of test names to run")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: a random one)")
    args = parser.parse_args()
    chosen = random.randrange(2**32) if args.seed is None else args.seed
    print(f"seed {chosen} (again: --seed {chosen})", flush=True)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # validation_loop_tests
    from hypothesis import seed, settings

    import validation_loop_tests.conftest  # noqa: F401  (registers the `long` profile)

    settings.register_profile(
        "fuzz_inputs", settings.get_profile("long"), max_examples=args.examples
    )
    settings.load_profile("fuzz_inputs")  # before test_fuzz is imported: its tests take it
    from validation_loop_tests import test_fuzz

    words = [w for w in args.only.split(",") if w]
    tests: list[tuple[str, Callable[[], None]]] = [
        (name, test)
        for name, test in vars(test_fuzz).items()
        if getattr(test, "is_hypothesis_test", False)
        and (not words or any(w in name for w in words))
    ]
    failed = []
    started = time.monotonic()
    for name, test in tests:
        began = time.monotonic()
        try:
            seed(chosen)(test)()
        except Exception as exc:  # report (with the falsifying input) and go on with the others
            failed.append(name)
            print(f"FAILED {name}:", flush=True)
            traceback.print_exception(exc, file=sys.stdout)
        print(f"{name}: {time.monotonic() - began:.0f}s", flush=True)

    print(f"\ninputs tried per property ({time.monotonic() - started:.0f}s in all):")
    for prop, count in sorted(test_fuzz.TRIED.items()):
        ends = sorted(
            (outcome.split(": ", 1)[1], n)
            for outcome, n in test_fuzz.OUTCOMES.items()
            if outcome.startswith(f"{prop}: ")
        )
        print(f"  {prop:32} {count:7,}   " + ", ".join(f"{end} {n:,}" for end, n in ends))
    print(f"  {'total':32} {sum(test_fuzz.TRIED.values()):7,}")
    if failed:
        print(f"\n{len(failed)} propert{'y' if len(failed) == 1 else 'ies'} failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
