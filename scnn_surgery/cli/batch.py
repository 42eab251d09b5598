"""``scnn-surgery batch``: insert an SCNN module into every model of a zoo, in parallel."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import click

from ..batch import (
    STATUSES,
    BatchConfig,
    BatchReport,
    Outcome,
    Status,
    default_jobs,
    discover_sources,
    load_config,
    plan_jobs,
    report_renderer,
    run_batch,
    unused_patterns,
    write_report,
)
from ..files import NamedPath, check_output_paths, named
from ..schema.select import user_schema
from .options import build_insert_options, insert_options
from .output import note

INTERRUPTED = 130


def render_progress(done: int, total: int, counts: Mapping[Status, int], width: int) -> str:
    tally = "  ".join(f"{status} {counts.get(status, 0)}" for status in STATUSES)
    text = f" {done}/{total}  {tally}"
    bar_width = max(10, min(40, width - len(text) - 3))
    filled = bar_width * done // total if total else bar_width
    return f"[{'#' * filled}{'.' * (bar_width - filled)}]{text}"[: max(width - 1, 1)]


class Progress:
    """Counts outcomes; draws a one-line bar on ``stream`` only when it is a terminal."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.counts: dict[Status, int] = dict.fromkeys(STATUSES, 0)
        self.draw = stream.isatty()
        self._show()

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def update(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1
        self._show()

    def clear(self) -> None:
        if self.draw:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def _show(self) -> None:
        if self.draw:
            width = shutil.get_terminal_size().columns
            self.stream.write("\r" + render_progress(self.done, self.total, self.counts, width))
            self.stream.flush()


def short_reason(outcome: Outcome) -> str:
    """The reason without the leading source path, which the table already shows."""
    reason = outcome.reason or ""
    return reason.removeprefix(f"{outcome.source}:").lstrip()


def summary_table(report: BatchReport) -> list[str]:
    """Counts per status, then one row per model that did not convert, with its reason."""
    lines = [f"{status:<10} {count:>5}" for status, count in report.counts().items()]
    problems = [outcome for outcome in report.outcomes if outcome.status != "converted"]
    width = max((len(outcome.source) for outcome in problems), default=0)
    lines += [
        f"{outcome.status:<10} {outcome.source:<{width}}  {short_reason(outcome)}"
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

    Exit status: 0 when every model converted, 1 when any was refused or failed,
    2 for usage errors, 130 when interrupted.
    """
    report_file = Path(report_path) if report_path else None
    if report_file is not None:
        report_renderer(report_file)  # an unknown format is a usage error before any work
    config = load_config(Path(config_path)) if config_path else BatchConfig()
    base = build_insert_options(params)
    protos = [base.proto, *(rule.settings.get("proto") for rule in config.rules)]
    for proto in dict.fromkeys(p for p in protos if p is not None):
        user_schema(proto)  # a broken .proto is one error, not one per model
    out = Path(output_dir)
    found = discover_sources(sources, exclude=out)
    inputs = [NamedPath("SRC", str(source.path)) for source in found]
    inputs += [*named("--config", config_path), *named("--proto", base.proto)]
    check_output_paths(inputs, named("--report", report_path), creates_directories=True)
    for pattern in unused_patterns(config, found):
        note(f"warning: config pattern '{pattern}' matches no model")
    planned = plan_jobs(found, out, base, config)
    workers = min(jobs or default_jobs(), len(planned))
    progress = Progress(len(planned), sys.stderr)
    start = time.perf_counter()
    try:
        outcomes = run_batch(planned, workers, progress.update)
    except KeyboardInterrupt:
        progress.clear()
        note(
            f"interrupted after {progress.done} of {len(planned)} models; the outputs written"
            " are complete and nothing is half-written"
        )
        sys.exit(INTERRUPTED)
    progress.clear()
    report = BatchReport(tuple(outcomes), workers, time.perf_counter() - start)
    note(f"batch: {report.describe()}")
    for line in summary_table(report):
        click.echo(f"  {line}", err=True)
    if report_file is not None:
        write_report(report_file, report)
        note(f"report written to {report_file}")
    if not report.all_converted:
        sys.exit(1)
