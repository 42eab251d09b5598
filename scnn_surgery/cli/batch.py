"""``scnn-surgery batch``: insert an SCNN module into every model of a zoo, in parallel."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from ..files import NamedPath, check_output_paths, named
from .options import build_insert_options, insert_options
from .output import note

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

    from ..batch import BatchReport, Outcome, Status

INTERRUPTED = 130


def tally(counts: Mapping[Status, int]) -> str:
    """``converted 3  refused 1  failed 0``, shown after the bar (other statuses once
    they happen)."""
    from ..batch import shown_counts

    return "  ".join(f"{status} {n}" for status, n in shown_counts(counts).items())


def progress_bar(total: int, label: str, stream: TextIO) -> ProgressBar[int]:
    """Click's bar with the tally as its label, drawn only on a terminal: to a file or a
    pipe nothing at all is written (click itself would print the label once)."""
    return click.progressbar(
        length=total,
        label=label,
        bar_template="[%(bar)s]  %(info)s  %(label)s",
        file=stream,
        hidden=not stream.isatty(),
        show_pos=True,
        show_eta=False,
        show_percent=False,
        width=0,  # as wide as the terminal allows
    )


def short_reason(outcome: Outcome) -> str:
    """The reason without the leading source path, which the table already shows."""
    reason = outcome.reason or ""
    return reason.removeprefix(f"{outcome.source}:").lstrip()


def summary_table(report: BatchReport) -> list[str]:
    """Counts per status, then one row per model that did not convert, with its reason."""
    lines = [f"{status:<11} {count:>5}" for status, count in report.shown_counts().items()]
    problems = [outcome for outcome in report.outcomes if outcome.status != "converted"]
    width = max((len(outcome.source) for outcome in problems), default=0)
    lines += [
        f"{outcome.status:<11} {outcome.source:<{width}}  {short_reason(outcome)}"
        for outcome in problems
    ]
    return lines


@click.command("batch")
@click.argument("sources", nargs=-1, required=True, metavar="SRC...")
@click.option(
    "-o",
    "--output-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Write the converted models here, mirroring the source tree.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes [default: the number of cores].",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write a report: .json, .csv or .md, by the file's extension.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="TOML file of per-model settings (see the README).",
)
@insert_options()
def command(
    sources: tuple[str, ...],
    output_dir: str,
    jobs: int | None,
    report_path: str | None,
    config_path: str | None,
    **params: Any,
) -> None:
    """Insert an SCNN module into every model in SRC... (files, directories, globs).

    Directories are searched for *.prototxt recursively; outputs keep each model's
    path relative to its SRC under OUTPUT_DIR. Sources are never modified.

    Exit status: 0 when every model converted, 1 when any was refused, failed or
    skipped (a path that is not a readable file), 2 for usage errors, 130 when
    interrupted (the report is still written).
    """
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..batch import (
        STATUSES,
        BatchConfig,
        BatchInterrupted,
        BatchReport,
        default_jobs,
        find_sources,
        load_config,
        plan_jobs,
        report_renderer,
        run_batch,
        skipped_outcome,
        unused_patterns,
        write_report,
    )
    from ..schema.select import user_schema

    report_file = Path(report_path) if report_path else None
    if report_file is not None:
        report_renderer(report_file)  # an unknown format is a usage error before any work
    config = load_config(Path(config_path)) if config_path else BatchConfig()
    base = build_insert_options(params)
    protos = [base.proto, *(rule.settings.get("proto") for rule in config.rules)]
    for proto in dict.fromkeys(p for p in protos if p is not None):
        user_schema(proto)  # a broken .proto is one error, not one per model
    out = Path(output_dir)
    discovery = find_sources(sources, exclude=out)
    found = discovery.sources
    inputs = [NamedPath("SRC", str(source.path)) for source in found]
    inputs += [*named("--config", config_path), *named("--proto", base.proto)]
    check_output_paths(inputs, named("--report", report_path), creates_directories=True)
    for pattern in unused_patterns(config, found):
        note(f"warning: config pattern '{pattern}' matches no model")
    planned = plan_jobs(found, out, base, config)
    workers = min(jobs or default_jobs(), len(planned))
    counts: dict[Status, int] = dict.fromkeys(STATUSES, 0)
    start = time.perf_counter()
    with progress_bar(len(planned), tally(counts), sys.stderr) as bar:

        def advance(outcome: Outcome) -> None:
            counts[outcome.status] += 1
            bar.label = tally(counts)
            bar.update(1)

        try:
            outcomes = run_batch(planned, workers, advance)
            interrupted = False
        except BatchInterrupted as stop:
            outcomes, interrupted = stop.outcomes, True
    if interrupted:
        note(
            f"interrupted after {sum(counts.values())} of {len(planned)} models; the outputs"
            " written are complete and nothing is half-written"
        )
    skipped = [skipped_outcome(item) for item in discovery.skipped]
    report = BatchReport(tuple(outcomes + skipped), workers, time.perf_counter() - start)
    note(f"batch: {report.describe()}")
    for line in summary_table(report):
        click.echo(f"  {line}", err=True)
    if report_file is not None:
        write_report(report_file, report)
        note(f"report written to {report_file}")
    if interrupted:
        sys.exit(INTERRUPTED)
    if not report.all_converted:
        sys.exit(1)
