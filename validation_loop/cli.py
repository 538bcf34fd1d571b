"""The `validation-loop` command: set up loops, ingest batches, run the loop, read its report.

Names that come from data (file, column and version names, and messages that quote them) are
printed as one inert line each (`shown`), and every `next:` line is one command that a POSIX
shell reads back as exactly its arguments.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shlex
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from validation_loop.atomic import write_text
from validation_loop.errors import BatchRejected, ConfigError, SpecError, ValidationLoopError
from validation_loop.home import HOME_ENV, SOURCES, Home, LoopNameError, check_loop_name
from validation_loop.render.markdown import one_line
from validation_loop.spec import LoopSpec, Task, load_spec, save_spec

if TYPE_CHECKING:
    from validation_loop.defs.runs import FileOutcome

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_GAPS = 3


class UsageError(ValidationLoopError):
    """A command that cannot go on because of what the user asked."""


def next_step(home: Home, args: argparse.Namespace, *words: str | Path) -> str:
    """A `next:` line: one `validation-loop` command, every argument shell-quoted, with the home
    when the user named one (`--home`). A name with a control character shows escaped."""
    prefix = ["--home", str(home.root)] if args.home else []
    return "next: " + one_line(shlex.join(["validation-loop", *prefix, *map(str, words)]))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with an example under every command's --help; a command that
    works on one loop takes it as the positional `name`, checked before anything runs."""
    parser = argparse.ArgumentParser(
        prog="validation-loop",
        description="Compare synthetic batches with human-labelled batches, in DuckDB and Dagster.",
        epilog="example: validation-loop demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--home", help=f"home folder (default: ${HOME_ENV}, else ./data)", default=None
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, example: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    init = command(
        "init",
        "Create a loop: infer loop.yaml from a first human file.",
        "validation-loop init churn --human first_batch.csv --label churned --id customer_id "
        "--slice region --sensitive gender",
    )
    init.add_argument("name", help="loop name (lower case, digits, underscores)")
    init.add_argument("--human", required=True, type=Path, help="a human-labelled batch file")
    init.add_argument("--label", required=True, help="the label column")
    init.add_argument("--task", choices=[t.value for t in Task], help="default: inferred")
    init.add_argument("--id", dest="id_column", help="the item id column")
    init.add_argument("--slice", dest="slices", action="append", default=[], help="repeatable")
    init.add_argument("--sensitive", action="append", default=[], help="repeatable")
    init.add_argument(
        "--annotator", help="long annotation format: the annotator id column (needs --id)"
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing loop.yaml")

    ingest = command(
        "ingest",
        "Ingest batch files now; exits 2 if any file is rejected (the others still go in).",
        "validation-loop ingest churn --source synthetic gen_v3.parquet --generator-version v3",
    )
    ingest.add_argument("name", help="loop name")
    ingest.add_argument("--source", required=True, choices=SOURCES)
    ingest.add_argument("files", nargs="+", type=Path, metavar="FILE")
    ingest.add_argument("--generator-version", help="synthetic batches: what made them")

    run = command(
        "run",
        "Ingest everything waiting in landing/ and materialise the loop's assets; exits 2 if a "
        "landing file is rejected (the rest of the loop still runs).",
        "validation-loop run churn",
    )
    run.add_argument("name", help="loop name")
    run.add_argument(
        "--fail-on",
        choices=["warn", "error"],
        help="exit 3 when the report has a gap at or above this severity (for CI; a rejected "
        "landing file's exit 2 comes first)",
    )

    report = command(
        "report",
        "Print or write the loop's latest gap report.",
        "validation-loop report churn --format html --output churn.html",
    )
    report.add_argument("name", help="loop name")
    report.add_argument("--format", choices=["json", "markdown", "html"], default="markdown")
    report.add_argument("--output", type=Path, help="write to this file instead of stdout")

    accept_cmd = command(
        "accept",
        "Accept a proposed generator config version: it becomes current.",
        "validation-loop accept churn v0003",
    )
    accept_cmd.add_argument("name", help="loop name")
    accept_cmd.add_argument("version", nargs="?", help="default: the newest proposal")

    generate = command(
        "generate",
        "Make a synthetic batch with the reference generator's current config (into landing/).",
        "validation-loop generate churn --rows 20000",
    )
    generate.add_argument("name", help="loop name")
    generate.add_argument("--rows", type=int, help="default: the config's rows")
    generate.add_argument("--version", help="default: the current version")

    alerts = command(
        "alerts",
        "List the loop's recent alerts and their delivery state, or send a test message.",
        "validation-loop alerts churn --test",
    )
    alerts.add_argument("name", help="loop name")
    alerts.add_argument("--test", action="store_true", help="send a test message to every route")
    alerts.add_argument("--limit", type=int, default=20, help="deliveries to list (default 20)")

    demo = command(
        "demo",
        "Run the demo loop (census data, a flawed generator) for a few feedback rounds.",
        "validation-loop demo --rounds 5",
    )
    demo.add_argument("--rounds", type=int, default=5, help="feedback rounds (default 5)")

    ui = command(
        "ui", "Open the Dagster UI on this home's loops.", "validation-loop ui --port 3000"
    )
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    return parser


def _loop_spec(home: Home, name: str) -> LoopSpec:
    """The loop's spec, or a usage error that says how to create it."""
    path = home.loop(name).spec_path
    if not path.exists():
        known = ", ".join(home.loop_names()) or "none yet"
        raise UsageError(
            f"no loop {name!r} in {home.root} (loops: {known}); create it with "
            f"`validation-loop init {name} --human FILE --label COLUMN`"
        )
    return load_spec(path)


def cmd_init(home: Home, args: argparse.Namespace) -> int:
    """Infer and write loop.yaml."""
    from validation_loop.spec_inference import infer_spec

    layout = home.loop(args.name)
    if layout.spec_path.exists() and not args.force:
        raise UsageError(f"{layout.spec_path} exists; pass --force to overwrite it")
    if args.annotator and not args.id_column:
        raise UsageError("--annotator (long annotation format) needs --id for the item column")
    spec = infer_spec(
        args.name,
        args.human,
        label=args.label,
        task=Task(args.task) if args.task else None,
        id_column=args.id_column,
        slices=args.slices,
        sensitive=args.sensitive,
        annotator_column=args.annotator,
    )
    layout.create()
    save_spec(spec, layout.spec_path)
    what = f"{len(spec.columns)} columns, task {spec.task.value}"
    print(f"wrote {one_line(layout.spec_path)} ({what})")
    for column, kind in spec.columns.items():
        print(f"  {one_line(column)}: {kind.value}")
    print(next_step(home, args, "ingest", spec.name, "--source", "human", "--", args.human))
    return EXIT_OK


def _print_outcomes(outcomes: Sequence[FileOutcome]) -> int:
    """Print one line per file; return how many were rejected (a skipped file is not)."""
    rejected = 0
    for outcome in outcomes:
        if outcome.skipped is not None:
            print(f"skipped {one_line(outcome.skipped)}", file=sys.stderr)
        elif outcome.error is not None:
            rejected += 1
            print(f"rejected {one_line(outcome.error)}", file=sys.stderr)
        else:
            batch = outcome.batch
            state = "ingested" if outcome.new else "already ingested"
            version = batch.generator_version
            made_by = f", generator {one_line(version)}" if version else ""
            print(
                f"{state} {one_line(outcome.file.name)} as {batch.batch_id} "
                f"({batch.row_count} rows{made_by})"
            )
            for warning in batch.warnings:
                print(f"  warning: {one_line(warning)}")
            suite = outcome.suite or {}
            if suite.get("failed_errors"):
                print(
                    f"  expectation suite: {suite['failed_errors']} error-level expectation(s) "
                    "failed; the batch is left out of gap checks",
                    file=sys.stderr,
                )
            if suite.get("failed_warnings"):
                print(f"  expectation suite: {suite['failed_warnings']} warning(s)")
    return rejected


def _print_rejected_count(home: Home, name: str, rejected: int) -> None:
    """The closing line after files were rejected: how many, and where they are kept."""
    quarantine = home.loop(name).quarantine
    print(
        f"{rejected} file(s) rejected; kept in {one_line(quarantine)} with .error.json",
        file=sys.stderr,
    )


def cmd_ingest(home: Home, args: argparse.Namespace) -> int:
    """Ingest files through the loop's ingest job."""
    from validation_loop.defs.runs import LoopRunner, dagster_instance

    _loop_spec(home, args.name)
    missing = [one_line(f) for f in args.files if not f.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    runner = LoopRunner(home, args.name, dagster_instance(home))
    outcomes = runner.ingest(((args.source, f) for f in args.files), args.generator_version)
    rejected = _print_outcomes(outcomes)
    if rejected:
        _print_rejected_count(home, args.name, rejected)
        return EXIT_USER_ERROR
    return EXIT_OK


def cmd_run(home: Home, args: argparse.Namespace) -> int:
    """Ingest landing files, then rebuild the inventory and compare the two sides; EXIT_USER_ERROR
    when a landing file was rejected, else the report summary's code."""
    from validation_loop.defs.runs import LoopRunner, dagster_instance
    from validation_loop.inventory import loop_inventory
    from validation_loop.landing import landing_files

    _loop_spec(home, args.name)
    runner = LoopRunner(home, args.name, dagster_instance(home))
    waiting = landing_files(home.loop(args.name))
    outcomes = runner.ingest((f.source, f.path) for f in waiting)
    rejected = _print_outcomes(outcomes)
    runner.compare()
    report = loop_inventory(home, args.name)
    skipped = sum(1 for o in outcomes if o.skipped is not None)
    new = sum(1 for o in outcomes if o.skipped is None and o.error is None and o.new)
    print(
        f"loop {args.name}: {len(outcomes)} landing file(s): {new} new, "
        f"{len(outcomes) - new - rejected - skipped} already ingested, {rejected} rejected, "
        f"{skipped} skipped (gone before they were read)"
    )
    print(
        f"warehouse: {len(report['human_batches'])} human batch(es), {report['human_rows']} rows; "
        f"{len(report['synthetic_batches'])} synthetic batch(es), {report['synthetic_rows']} rows; "
        f"{len(report['rejected_files'])} file(s) in quarantine"
    )
    code = _print_report_summary(home, args)
    if rejected:
        _print_rejected_count(home, args.name, rejected)
        return EXIT_USER_ERROR
    return code


def _print_report_summary(home: Home, args: argparse.Namespace) -> int:
    """One line on the latest gap report and a `next:` line per proposed generator config;
    EXIT_GAPS when the report has a gap at `args.fail_on` or worse."""
    from validation_loop.feedback.versions import proposals
    from validation_loop.gaps.records import SEVERITY_ORDER
    from validation_loop.report.store import latest_report

    name, fail_on = args.name, args.fail_on
    report = latest_report(home, name)
    if report is None:
        print("gaps: nothing to compare yet (needs a human and a synthetic batch)")
        return EXIT_OK
    counts = report["counts"]
    score = "n/a" if report["score"] is None else f"{report['score']:.3f}"
    print(
        f"gap report {report['report_id']} against generator "
        f"{one_line(report['generator_version'] or '(unversioned)')}: score {score}, "
        f"{counts['error']} error, {counts['warn']} warn ({len(report['metrics'])} metrics)"
    )
    print(f"  {one_line(home.reports_dir(name) / (report['report_id'] + '.html'))}")
    for version in proposals(home.loop(name)):
        print(f"  proposed generator config {one_line(version)}")
        print(f"  {next_step(home, args, 'accept', name, version)}")
    if fail_on is not None:
        floor = SEVERITY_ORDER[fail_on]
        if any(SEVERITY_ORDER[g["severity"]] >= floor for g in report["gaps"]):
            print(f"failing: gaps at {fail_on} or worse", file=sys.stderr)
            return EXIT_GAPS
    return EXIT_OK


def cmd_report(home: Home, args: argparse.Namespace) -> int:
    """Render the loop's latest gap report."""
    from validation_loop.render.report import report_html, report_markdown
    from validation_loop.report.store import latest_report

    _loop_spec(home, args.name)
    report = latest_report(home, args.name)
    if report is None:
        raise UsageError(
            f"loop {args.name!r} has no gap report yet (needs a human and a synthetic batch); "
            f"run `validation-loop run {args.name}`"
        )
    renderers: dict[str, Callable[[dict[str, Any]], str]] = {
        "json": lambda r: json.dumps(r, indent=2) + "\n",
        "markdown": report_markdown,
        "html": report_html,
    }
    text = renderers[args.format](report)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_text(args.output, text)
        print(f"wrote {one_line(args.output)}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_accept(home: Home, args: argparse.Namespace) -> int:
    """Make a proposed generator config current (the loop's accept job)."""
    from validation_loop.defs.runs import LoopRunner, dagster_instance
    from validation_loop.feedback.versions import load_config, proposals

    _loop_spec(home, args.name)
    layout = home.loop(args.name)
    waiting = proposals(layout)
    version = args.version or (waiting[-1] if waiting else None)
    if version is None:
        raise UsageError(f"loop {args.name!r} has no proposed generator config waiting")
    load_config(layout, version)
    metadata = LoopRunner(home, args.name, dagster_instance(home)).accept(version)
    previous = metadata.get("previous") or "none"
    print(f"generator config {one_line(version)} is current (was {one_line(previous)})")
    print(next_step(home, args, "generate", args.name))
    print(next_step(home, args, "run", args.name))
    return EXIT_OK


def cmd_generate(home: Home, args: argparse.Namespace) -> int:
    """Make a batch with the reference generator (the loop's generate job)."""
    from validation_loop.defs.runs import LoopRunner, dagster_instance
    from validation_loop.feedback.versions import load_config

    _loop_spec(home, args.name)
    if args.version:
        load_config(home.loop(args.name), args.version)
    metadata = LoopRunner(home, args.name, dagster_instance(home)).generate(args.rows, args.version)
    print(
        f"wrote {one_line(metadata['file'])} ({metadata['dagster/row_count']} rows, generator "
        f"{one_line(metadata['generator_version'])})"
    )
    print(next_step(home, args, "run", args.name))
    return EXIT_OK


def cmd_alerts(home: Home, args: argparse.Namespace) -> int:
    """List deliveries, or send a test message to every route (exit 1 if one fails)."""
    from validation_loop.alerts.dispatch import recent_deliveries, send_test
    from validation_loop.defs.resources import env_value

    spec = _loop_spec(home, args.name)
    if args.test:
        if not spec.alerts.routes:
            raise UsageError(f"loop {args.name!r} has no alert routes (alerts.routes in loop.yaml)")
        results = send_test(home, spec, env_value)
        for route, error in results.items():
            print(one_line(f"{route}: {'delivered' if error is None else 'FAILED: ' + error}"))
        return EXIT_OK if all(e is None for e in results.values()) else EXIT_FAILED
    rows = recent_deliveries(home, args.name, args.limit)
    if not rows:
        print(f"loop {args.name}: no alerts yet ({len(spec.alerts.routes)} route(s) configured)")
    for row in rows:
        state = row["status"] + (f" after {row['attempts']} attempt(s)" if row["attempts"] else "")
        if row["last_error"]:
            state += f" ({row['last_error']})"
        print(
            one_line(
                f"{row['created_at']:%Y-%m-%d %H:%M} {row['event']:<11} {row['severity']:<5} "
                f"-> {row['route']}: {state}: {row['title']}"
            )
        )
    return EXIT_OK


def cmd_demo(home: Home, args: argparse.Namespace) -> int:
    """Run the demo loop for a few feedback rounds."""
    from validation_loop.demo import DEMO_LOOP, run_demo

    if args.rounds < 1:
        raise UsageError("--rounds must be at least 1")
    print(f"demo loop {DEMO_LOOP!r} in {one_line(home.loop(DEMO_LOOP).root)}")
    rounds = run_demo(home, args.rounds, print)
    print(f"final report: {one_line(rounds[-1].report_html)}")
    print(next_step(home, args, "report", DEMO_LOOP))
    print(next_step(home, args, "ui"))
    return EXIT_OK


def cmd_ui(home: Home, args: argparse.Namespace) -> int:
    """Replace this process with `dagster dev` on this home."""
    from validation_loop.defs.runs import dagster_instance

    dagster_instance(home)
    os.environ[HOME_ENV] = str(home.root)
    argv = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-m",
        "validation_loop.definitions",
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    os.execv(sys.executable, argv)
    return EXIT_FAILED


COMMANDS: dict[str, Callable[[Home, argparse.Namespace], int]] = {
    "init": cmd_init,
    "ingest": cmd_ingest,
    "run": cmd_run,
    "report": cmd_report,
    "accept": cmd_accept,
    "generate": cmd_generate,
    "alerts": cmd_alerts,
    "demo": cmd_demo,
    "ui": cmd_ui,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `validation-loop`; returns the exit code."""
    args = build_parser().parse_args(argv)
    home = Home.from_env(args.home)
    try:
        if "name" in vars(args):
            check_loop_name(args.name)
        return COMMANDS[args.command](home, args)
    except (SpecError, BatchRejected, UsageError, ConfigError, LoopNameError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except ValidationLoopError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED


def command() -> None:
    """The `validation-loop` executable: `main`, then exit without the interpreter's teardown.

    Freeing the modules of Dagster, GX and scikit-learn at exit takes about 1.5 s; a process
    that is about to end need not. The exit handlers still run and the streams are flushed
    first; with a thread still running, the exit is the ordinary one.
    """
    code = main()
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()  # what an ordinary exit runs (logging's flush among them)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    command()
