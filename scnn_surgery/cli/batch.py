"""``scnn-surgery batch``: a verb (insert by default) over every model of a zoo, in parallel."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from ..errors import UsageError
from ..files import (
    NamedPath,
    check_output_directory,
    check_output_paths,
    file_key,
    named,
    note_first_ctrl_c,
    signals_deferred,
)
from ..options import declared_fields
from ..verbs import REGISTRY, options_class
from .options import (
    batch_options,
    build_verb_options,
    old_spellings,
    option_keyword,
    stack,
    verb_options,
)
from .output import note
from .stdio import one_line

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

    from ..report.batchreport import AnyOptions, BatchReport, Job, Outcome, Status, Verb

# Light (no networkx): the batch module is imported only when the command runs.
VERB_NAMES = tuple(REGISTRY)
F = TypeVar("F", bound=Callable[..., Any])


def every_verb_option() -> Callable[[F], F]:
    """Each option of every verb, once (a field several verbs have is declared by the
    first); a verb's arguments (rename's OLD=NEW) are options here (--rename OLD=NEW)."""
    seen: set[str] = set()
    decorators = []
    for verb in REGISTRY:
        fields = {item.name for item, _ in declared_fields(options_class(verb))}
        decorators.append(verb_options(options_class(verb), skip=seen, arguments=False))
        seen |= fields
    return stack(decorators)

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


def _verb_options(
    ctx: click.Context, verb: Verb, fragment: str | None, params: dict[str, Any]
) -> AnyOptions:
    """The verb's options from the command line, every model's defaults; an option of
    another verb is refused."""
    chosen = options_class(verb)
    mine = {option_keyword(item.name) for item, _ in declared_fields(chosen)}
    flags = {p.name: p.opts[-1] for p in ctx.command.params}
    given = [
        flags.get(name, name) for name in params
        if name not in mine
        and ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
    ]  # fmt: skip
    given += [flag for name, flag in old_spellings(ctx).items() if name not in mine]
    if given:
        raise UsageError(f"--verb {verb} takes no {given[0]}")
    reads = REGISTRY[verb].inputs
    if (fragment is not None) != bool(reads):
        users = [v for v, entry in REGISTRY.items() if entry.inputs]
        raise UsageError(f"--fragment FILE goes with --verb {' or '.join(users)}, and only with it")
    # A value the verb needs (remove's --layer) may come from the config instead: each
    # model is asked for it once the config applies (batch.plan_jobs).
    options: AnyOptions = build_verb_options(chosen, params)
    return options


def worker_count(asked: int | None, cores: int, models: int) -> int:
    """``--jobs`` up to the cores this process may use: more workers than cores only run
    slower and take more memory (each holds an interpreter and its nets)."""
    if asked is not None and asked > cores:
        note(
            f"--jobs {asked} is more than the {cores} core{'s' if cores > 1 else ''} this"
            f" process may use; running {cores} worker{'s' if cores > 1 else ''}"
        )
    return max(1, min(asked or cores, cores, models))


def _is_within(path: Path, directory: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(directory))


def refuse_report_over_output(report_path: str, planned: Sequence[Job]) -> None:
    """A report that is one of the converted models' outputs or the caffemodel one reads
    (fold-bn), however spelled."""
    report = file_key(report_path)
    for job in planned:
        if job.weights is not None and file_key(job.weights) == report:
            raise UsageError(
                f"--report {report_path} is the caffemodel of {job.source}; give the report"
                " another path"
            )
        for output in (path for path in (job.output, job.weights_output) if path):
            if file_key(output) == report:
                raise UsageError(
                    f"--report {report_path} is the output of {job.source}; give the report"
                    " another path"
                )


def interrupted_outcomes(sources: Sequence[str]) -> list[Outcome]:
    from ..batch import NOT_FINISHED, Outcome

    return [Outcome(source, "interrupted", reason=NOT_FINISHED) for source in sources]


def short_reason(outcome: Outcome) -> str:
    """The reason without a bare leading ``SOURCE: ``, which the table's column already
    shows; a ``SOURCE:LINE:COL`` stays whole, the place an editor or a terminal opens."""
    reason = outcome.reason or ""
    return reason.removeprefix(f"{outcome.source}: ")


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
@batch_options(VERB_NAMES)
@every_verb_option()
@click.pass_context
def command(
    ctx: click.Context,
    /,
    sources: tuple[str, ...],
    output_dir: str,
    jobs: int | None,
    report_path: str | None,
    config_path: str | None,
    verb: Verb,
    fragment: str | None,
    **params: Any,
) -> None:
    """Insert an SCNN module into every model in SRC... (files, directories, globs), or
    run another verb on each: splice a fragment (--verb splice --fragment FILE), strip
    each one's module (--verb strip), remove, upgrade, rename, retarget, fold-bn
    (each model's weights from NAME.caffemodel beside it, the folded caffemodel written
    beside its output), export (each model as NAME.onnx).

    Directories are searched for *.prototxt recursively; outputs keep each model's
    path relative to its SRC under OUTPUT_DIR. Sources are never modified.

    Exit status: 0 when every model converted, 1 when any was refused, failed or
    skipped (a path that is not a readable file), 2 for usage errors, 130 when
    interrupted (the report is still written).
    """
    early_ctrl_c, stop_noting = note_first_ctrl_c()  # the checks below end in a report too
    ctx.call_on_close(stop_noting)
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..batch import (
        STATUSES,
        BatchConfig,
        BatchInterrupted,
        BatchReport,
        RunInfo,
        default_jobs,
        find_sources,
        load_config,
        picture_plan,
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
    base = _verb_options(ctx, verb, fragment, params)
    config = load_config(Path(config_path), verb) if config_path else BatchConfig()
    protos = [getattr(base, "proto", None), *(rule.settings.get("proto") for rule in config.rules)]
    for proto in dict.fromkeys(p for p in protos if p is not None):
        user_schema(proto)  # a broken .proto is one error, not one per model
    check_output_directory(NamedPath("-o", output_dir))
    out = Path(output_dir)
    discovery = find_sources(sources, exclude=out)
    found = discovery.sources
    inputs = [NamedPath("SRC", str(source.path)) for source in found]
    inputs += [*named("--config", config_path), *named("--proto", getattr(base, "proto", None))]
    inputs += named("--fragment", fragment)
    # Only OUTPUT_DIR, which the batch creates, may hold a report's missing directory.
    report_in_out = report_file is not None and _is_within(report_file.parent, out)
    check_output_paths(inputs, named("--report", report_path), report_in_out)
    for pattern in unused_patterns(config, found):
        note(f"warning: config pattern '{pattern}' matches no model")
    counts: dict[Status, int] = dict.fromkeys(STATUSES, 0)
    start = time.perf_counter()
    planned: list[Job] = []
    pictures_note: str | None = None
    workers = 1
    stop_noting()
    try:  # Ctrl-C at any moment from here on still ends with the report
        if early_ctrl_c:
            raise KeyboardInterrupt
        picture_context, pictures_note = picture_plan(report_file)
        if pictures_note is not None:
            note(f"warning: {pictures_note}")
        planned = plan_jobs(found, out, base, config, fragment, picture_context=picture_context)
        if report_path is not None:
            refuse_report_over_output(report_path, planned)
        workers = worker_count(jobs, default_jobs(), len(planned))
        with progress_bar(len(planned), tally(counts), sys.stderr) as bar:

            def advance(outcome: Outcome) -> None:
                counts[outcome.status] += 1
                bar.label = tally(counts)
                bar.update(1)

            outcomes = run_batch(planned, workers, advance)
            interrupted = False
    except BatchInterrupted as stop:
        outcomes, interrupted = stop.outcomes, True
    except KeyboardInterrupt:  # before the first worker started
        sources_seen = [job.source for job in planned] or [str(s.path) for s in found]
        outcomes, interrupted = interrupted_outcomes(sources_seen), True
    if interrupted:
        note(
            f"interrupted after {sum(counts.values())} of {len(planned) or len(outcomes)}"
            " models; the outputs written are complete and nothing is half-written"
        )
    skipped = [skipped_outcome(item) for item in discovery.skipped]
    run = RunInfo(
        sources, output_dir, base, config_path, config.rules, tuple(planned), pictures_note
    )
    report = BatchReport(tuple(outcomes + skipped), workers, time.perf_counter() - start, run)
    note(f"batch: {report.describe()}")
    for line in summary_table(report):
        click.echo(f"  {one_line(line)}", err=True)
    if report_file is not None:
        if report_in_out:
            report_file.parent.mkdir(parents=True, exist_ok=True)
        with signals_deferred() as arrived:  # a second Ctrl-C must not lose the report
            write_report(report_file, report)
        note(f"report written to {report_file}")
        interrupted = interrupted or bool(arrived)
    if interrupted:
        sys.exit(INTERRUPTED)
    if not report.all_converted:
        sys.exit(1)
