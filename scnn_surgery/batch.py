"""Convert many nets at once: find the sources, resolve each model's options, run the
conversions in worker processes, and report what became of every model.

Workers only compute. Each sends the new text back to the parent, and the parent
alone writes outputs, atomically. So a worker that crashes, or is killed on Ctrl-C,
cannot leave a half-written or temporary file behind. A worker converts one model
at a time, so when one dies the model that killed it is known exactly.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import gc
import glob
import io
import json
import multiprocessing
import os
import re
import signal
import stat
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.context import DefaultContext
from pathlib import Path, PurePosixPath
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# The report's data model lives in batchreport (htmlreport reads it too); importable from
# here as before.
from .carry import carried_caffemodel, carry_of
from .core.net import Net
from .core.text_export import export_bytes
from .errors import SurgeryError, UsageError
from .files import joined, read_input_bytes, write_bytes_atomic, write_files_atomic
from .options import (
    OptionValueError,
    declared_fields,
    shown,
)
from .report.batchreport import REPORT_COLUMNS, WEIGHTS_SUFFIX, AnyOptions, Verb, text_row
from .report.batchreport import STATUSES as STATUSES
from .report.batchreport import USUAL_STATUSES as USUAL_STATUSES
from .report.batchreport import BatchReport as BatchReport
from .report.batchreport import ConfigRule as ConfigRule
from .report.batchreport import Job as Job
from .report.batchreport import Outcome as Outcome
from .report.batchreport import RunInfo as RunInfo
from .report.batchreport import Status as Status
from .report.batchreport import shape_text as shape_text
from .report.batchreport import shown_counts as shown_counts
from .surgery import InsertResult, load
from .verbs import REGISTRY, Entry, options_class, run_verb, verb_of_options, verb_spec

MODEL_SUFFIX = ".prototxt"
_GLOB_MAGIC = re.compile(r"[*?[]")



# --- sources ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One model: where it is, and its path under the output directory."""

    path: Path
    relative: PurePosixPath


@dataclass(frozen=True)
class Skipped:
    """A path that looked like a model but cannot be read as one, and why."""

    path: Path
    reason: str


@dataclass
class Discovery:
    """What the sources name: the models to convert, and the paths skipped with a reason."""

    sources: list[Source] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def discover_sources(specs: Sequence[str], exclude: Path | None = None) -> list[Source]:
    """The models :func:`find_sources` finds (without the paths it skips)."""
    return find_sources(specs, exclude).sources


def find_sources(specs: Sequence[str], exclude: Path | None = None) -> Discovery:
    """Expand files, directories (every ``*.prototxt`` below, through links to
    directories) and globs, in a stable order.

    A file reached twice is converted once. Directory and glob expansion skip files
    under ``exclude`` (the output directory), so an earlier run's outputs are never
    taken for sources. A named pipe, a device, a dangling link or a link loop is not
    read: it is listed as skipped, with the reason.
    """
    excluded = exclude.resolve() if exclude is not None else None
    found = Discovery()
    seen: set[Path] = set()
    for spec in specs:
        expanded = _expand(spec, excluded)
        for source in expanded.sources:
            key = source.path.resolve()
            if key not in seen:
                seen.add(key)
                found.sources.append(source)
        for skipped in expanded.skipped:
            if skipped.path not in seen:
                seen.add(skipped.path)
                found.skipped.append(skipped)
    return found


def unreadable_reason(path: Path) -> str | None:
    """Why ``path`` is not a model file to read (None: a regular file, or a link to one)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        if os.path.islink(path):
            return f"a symbolic link to {os.readlink(path)}, which does not exist"
        return f"cannot be read: {exc.strerror}"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    return "a device, not a regular file"


def _expand(spec: str, excluded: Path | None) -> Discovery:
    path = Path(spec)
    if path.is_dir():
        found = _models_under(path, path, excluded)
        if not found.sources and not found.skipped:
            raise UsageError(f"{spec}: {_why_no_model(path, excluded)}")
        return found
    if os.path.lexists(path):
        reason = unreadable_reason(path)
        if reason is None:
            return Discovery([Source(path, PurePosixPath(path.name))])
        return Discovery(skipped=[Skipped(path, reason)])
    if not _GLOB_MAGIC.search(spec):
        raise UsageError(f"{spec}: no such file or directory")
    found = _glob_sources(spec, excluded)
    if not found.sources and not found.skipped:
        raise UsageError(f"{spec}: matches no file")
    return found


def _why_no_model(directory: Path, excluded: Path | None) -> str:
    everywhere = _models_under(directory, directory, None)
    if everywhere.sources or everywhere.skipped:
        return (
            f"every {MODEL_SUFFIX} file in this directory is under the output directory"
            f" {excluded}, whose files are never taken as sources"
        )
    return f"no {MODEL_SUFFIX} file in this directory (searched recursively, through links)"


def _glob_sources(pattern: str, excluded: Path | None) -> Discovery:
    """A glob's matching files as named, and the models under its matching directories."""
    root = glob_root(pattern)
    found = Discovery()
    for match in sorted(glob.glob(pattern, recursive=True)):
        path = Path(match)
        if path.is_dir():
            below = _models_under(path, root, excluded)
            found.sources += below.sources
            found.skipped += below.skipped
        elif not _is_under(path, excluded):
            reason = unreadable_reason(path)
            if reason is None:
                found.sources.append(Source(path, _relative(path, root)))
            else:
                found.skipped.append(Skipped(path, reason))
    return found


def glob_root(pattern: str) -> Path:
    """The part of a glob before its first wildcard: outputs mirror the tree below it."""
    fixed: list[str] = []
    for part in Path(pattern).parts[:-1]:  # the last part names files, never the root
        if _GLOB_MAGIC.search(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _models_under(directory: Path, root: Path, excluded: Path | None) -> Discovery:
    """Every ``*.prototxt`` below ``directory``, walked breadth first with a queue. Links to
    directories are followed, each directory once and never one that holds ``directory``
    (a link back up); a directory that cannot be listed is skipped with the reason."""
    found = Discovery()
    top = directory.resolve()
    visited: set[tuple[int, int]] = set()
    pending = deque([directory])
    while pending:
        current = pending.popleft()
        try:
            info = current.stat()
            if (info.st_dev, info.st_ino) in visited:
                continue
            visited.add((info.st_dev, info.st_ino))
            entries = sorted(os.scandir(current), key=lambda entry: entry.name)
        except OSError as exc:
            found.skipped.append(Skipped(current, f"cannot list this directory: {exc.strerror}"))
            continue
        for entry in entries:
            path = Path(entry.path)
            if _is_under(path, excluded):
                continue
            if _is_directory(entry):
                if not top.is_relative_to(path.resolve()):
                    pending.append(path)
            elif entry.name.endswith(MODEL_SUFFIX):
                reason = unreadable_reason(path)
                if reason is None:
                    found.sources.append(Source(path, _relative(path, root)))
                else:
                    found.skipped.append(Skipped(path, reason))
    found.sources.sort(key=lambda source: source.relative)
    found.skipped.sort(key=lambda skipped: skipped.path)
    return found


def _is_directory(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # through a link
    except OSError:  # a link loop: not a directory, and reported if it names a model
        return False


def _relative(path: Path, root: Path) -> PurePosixPath:
    return PurePosixPath(path.relative_to(root).as_posix())


def _is_under(path: Path, directory: Path | None) -> bool:
    if directory is None:
        return False
    try:
        return path.resolve().is_relative_to(directory)
    except (OSError, RuntimeError):  # a link loop resolves nowhere
        return False


# --- per-model settings ----------------------------------------------------------------




@dataclass(frozen=True)
class ConfigKey:
    """A config setting: the options field it sets and how to check it."""

    option: str
    convert: Callable[[object], object]


def config_keys(verb: Verb = "insert") -> dict[str, ConfigKey]:
    """Each of the verb's options by field name and aliases, checked by the option's own
    converter. (Dashes in keys work too: kernel-width.)"""
    keys: dict[str, ConfigKey] = {}
    for item, declared in declared_fields(options_class(verb)):
        for key in (item.name, *declared.aliases):
            keys[key] = ConfigKey(item.name, declared.kind.check)
    if REGISTRY[verb].needs_weights or REGISTRY[verb].reads_weights:
        keys[WEIGHTS_KEY] = ConfigKey(WEIGHTS_KEY, _caffemodel_path)
    return keys


# The caffemodel a verb that needs weights reads for the models a table matches, instead
# of NAME.caffemodel beside the model (relative to the working directory, as --proto is).
WEIGHTS_KEY = "weights"


def _caffemodel_path(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise OptionValueError(f"must be the path of a caffemodel, got {shown(value)}")
    return value


CONFIG_KEYS: Mapping[str, ConfigKey] = config_keys("insert")


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A path glob: ``*``, ``?`` and ``[...]`` stay within one path segment; ``**`` spans any."""
    pieces: list[str] = []
    segments = pattern.strip("/").split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            pieces.append(".*" if last else "(?:[^/]+/)*")
        else:
            pieces.append(_segment_regex(segment) + ("" if last else "/"))
    return re.compile("".join(pieces))


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := segment.find("]", i + 2)) != -1:
            body = segment[i + 1 : end]
            negate = body.startswith("!")
            body = re.sub(r"([\\^])", r"\\\1", body[1:] if negate else body)
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)



@dataclass(frozen=True)
class BatchConfig:
    rules: tuple[ConfigRule, ...] = ()


def load_config(path: Path, verb: Verb = "insert") -> BatchConfig:
    try:
        text = read_input_bytes(path, "a config file").decode("utf-8")
    except SurgeryError as exc:  # a bad config file is a usage error, exit status 2
        raise UsageError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: the config is not UTF-8 text ({exc.reason})") from None
    return parse_config(text, str(path), verb)


def parse_config(text: str, source: str = "<config>", verb: Verb = "insert") -> BatchConfig:
    """Parse and check a TOML config; any mistake is a :class:`UsageError` naming it."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: invalid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses into each nested array and inline table
        raise UsageError(f"{source}: invalid TOML: arrays or tables nested too deeply") from None
    for key in document:
        if key not in ("models", SHAPE_RULES_KEY):
            raise UsageError(
                f"{source}: unknown top-level key '{key}'; settings go in"
                f' [models."PATH-OR-GLOB"] tables (and layer types\' rules in [{SHAPE_RULES_KEY}])'
            )
    models = document.get("models", {})
    if not isinstance(models, dict):
        raise UsageError(f'{source}: models must be tables: [models."PATH-OR-GLOB"]')
    keys = config_keys(verb)
    rules = [_parse_rule(pattern, table, source, keys) for pattern, table in models.items()]
    if SHAPE_RULES_KEY in document:  # for every model, before the models' own
        everywhere = {SHAPE_RULES_KEY: document[SHAPE_RULES_KEY]}
        rules.insert(0, _parse_rule("**", everywhere, source, keys, f"{source}: [shape_rules]"))
    return BatchConfig(tuple(rules))


# The one top-level table besides the models': how custom layer types size their tops.
SHAPE_RULES_KEY = "shape_rules"


def _parse_rule(
    pattern: str,
    table: object,
    source: str,
    keys: Mapping[str, ConfigKey] = CONFIG_KEYS,
    where: str | None = None,
) -> ConfigRule:
    where = where or f'{source}: [models."{pattern}"]'
    cleaned = pattern.removeprefix("./")
    if not cleaned.strip("/"):
        raise UsageError(f"{where}: the pattern is empty")
    if not isinstance(table, dict):
        raise UsageError(f"{where}: must be a table of settings")
    try:
        regex = pattern_regex(cleaned)
    except re.error as exc:  # a [z-a] range, say
        raise UsageError(f"{where}: the pattern is not a valid glob ({exc})") from None
    settings: dict[str, Any] = {}
    for key, value in table.items():
        spec = keys.get(key.replace("-", "_"))
        if spec is None:
            known = ", ".join(sorted({k.option for k in keys.values()}))
            raise UsageError(f"{where}: unknown setting '{key}' (known: {known})")
        try:
            settings[spec.option] = spec.convert(value)
        except OptionValueError as exc:
            raise UsageError(f"{where}: {key} {exc}") from None
    return ConfigRule(cleaned, settings, regex)


def options_for(relative: PurePosixPath, base: AnyOptions, config: BatchConfig) -> Any:
    """The command line's options with every matching rule applied in file order, each
    value combined with what came before as :func:`combined` says."""
    settings: dict[str, Any] = {}
    for rule in config.rules:
        if rule.matches(relative):
            for key, value in rule.settings.items():
                if key != WEIGHTS_KEY:  # not an option: see weights_for
                    settings[key] = combined(settings.get(key, getattr(base, key)), value)
    return replace(base, **settings)


def combined(earlier: object, later: object) -> object:
    """A table's value over the command line's and earlier tables': a repeatable option's
    values add up (``layers``, ``only``: the names of both; ``shapes``, ``renames``,
    ``binds``, ``inputs``, ``shape_rules``: the entries of both, the later one's for a name
    both give), as the flag given again would; any other value replaces the earlier."""
    if isinstance(earlier, Mapping) and isinstance(later, Mapping):
        return {**earlier, **later}
    if isinstance(earlier, tuple) and isinstance(later, tuple):
        return tuple(dict.fromkeys((*earlier, *later)))
    return later


def _weights_of(entry: Entry, source: Source, config: BatchConfig) -> str | None:
    """The caffemodel of a verb that needs one (fold-bn); of one that only reads one if it
    is given (export: its config table's, or NAME.caffemodel when it exists)."""
    if entry.needs_weights:
        return weights_for(source, config)
    if not entry.reads_weights:
        return None
    chosen = weights_for(source, config)
    stated = any(WEIGHTS_KEY in r.settings for r in config.rules if r.matches(source.relative))
    return chosen if stated or os.path.lexists(chosen) else None


def weights_for(source: Source, config: BatchConfig) -> str:
    """The caffemodel a verb that needs weights reads for ``source``: the last matching
    rule's ``weights``, else NAME.caffemodel beside NAME.prototxt."""
    chosen = str(source.path.with_suffix(WEIGHTS_SUFFIX))
    for rule in config.rules:
        if rule.matches(source.relative):
            chosen = rule.settings.get(WEIGHTS_KEY, chosen)
    return chosen


def unused_patterns(config: BatchConfig, sources: Sequence[Source]) -> list[str]:
    """Patterns that match no model: usually a typo worth a warning."""
    return [
        rule.pattern
        for rule in config.rules
        if not any(rule.matches(source.relative) for source in sources)
    ]


# --- jobs ------------------------------------------------------------------------------


def plan_jobs(
    sources: Sequence[Source],
    output_dir: Path,
    base: AnyOptions,
    config: BatchConfig,
    fragment: str | None = None,
    *,
    picture_context: int | None = None,
) -> list[Job]:
    verb = verb_of_options(base)
    entry = REGISTRY[verb]
    outputs = [output_dir.joinpath(*source.relative.parts) for source in sources]
    if entry.output_suffix is not None:  # another kind of file: model.prototxt -> model.onnx
        outputs = [output.with_suffix(entry.output_suffix) for output in outputs]
    jobs = [
        Job(
            str(source.path),
            str(output),
            options_for(source.relative, base, config),
            fragment,
            picture_context,
            _weights_of(entry, source, config),
        )
        for source, output in zip(sources, outputs, strict=True)
    ]
    _refuse_missing_values(jobs, verb)
    _refuse_clashes(jobs)
    return jobs


def _refuse_missing_values(jobs: Sequence[Job], verb: Verb) -> None:
    """A value the verb cannot run without (remove's layers) must reach every model, from
    the command line or a config table that matches it: a usage error naming the first
    model without it, before any work."""
    for item, declared in declared_fields(options_class(verb)):
        lacking = [job.source for job in jobs if not getattr(job.options, item.name)]
        if declared.needed and lacking:
            more = f" (and {len(lacking) - 1} more models)" if len(lacking) > 1 else ""
            raise UsageError(
                f"{lacking[0]}{more}: --verb {verb} needs {declared.flag} (one or more),"
                f" on the command line or as '{item.name}' in a config table matching the model"
            )


def _refuse_clashes(jobs: Sequence[Job]) -> None:
    """No output (a prototxt or its caffemodel) may be a source or another model's output."""
    read = {Path(path).resolve() for job in jobs for path in (job.source, job.weights) if path}
    claimed: dict[Path, Job] = {}
    for job in jobs:
        for output in (path for path in (job.output, job.weights_output) if path):
            key = Path(output).resolve()
            if key in read:
                raise UsageError(
                    f"{output}: would overwrite a source; choose another output directory"
                )
            if key in claimed:
                raise UsageError(
                    f"{claimed[key].source} and {job.source} would both be written to {output};"
                    " convert them in separate runs"
                )
            claimed[key] = job


def default_jobs() -> int:
    """The cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


# --- converting one model --------------------------------------------------------------

def skipped_outcome(skipped: Skipped) -> Outcome:
    return Outcome(str(skipped.path), "skipped", reason=f"{skipped.path}: {skipped.reason}")


def naming_model(source: str, reason: str) -> str:
    """A refusal that names the model's file, read alone (a report's reason column): as it
    is where it does (``SOURCE:LINE:COL: ...``, a layer's ``(SOURCE:LINE:COL)``), else after
    ``SOURCE: `` (a net-level refusal, or one naming its caffemodel or the fragment)."""
    if reason.startswith(f"{source}:") or f"({source}:" in reason:
        return reason
    return f"{source}: {reason}"


def convert(job: Job) -> Outcome:
    """Load, run the verb, and classify: a :class:`SurgeryError` is a refusal, anything
    else a failure."""
    start = time.perf_counter()
    try:
        before = load(job.source)
        outcome, after = _converted(job, before)
    except SurgeryError as exc:
        return Outcome(
            job.source, "refused", reason=naming_model(job.source, str(exc)), verb=job.verb,
            seconds=_since(start),
        )  # fmt: skip
    except Exception as exc:  # a bug or an unforeseen input: report it, keep the batch going
        return Outcome(
            job.source, "failed", reason=exception_summary(exc), verb=job.verb,
            seconds=_since(start),
        )  # fmt: skip
    outcome = replace(outcome, seconds=_since(start))
    if job.picture_context is None:
        return outcome
    return _with_picture(outcome, before, after, job)


def _converted(job: Job, before: Net) -> tuple[Outcome, Any]:
    """The outcome of the verb on ``before``, and its result (what a picture is drawn from)."""
    spec = verb_spec(job.verb)
    reads = REGISTRY[job.verb].inputs
    if job.weights is not None:
        _refuse_unreadable_weights(job.weights, job.verb)
    inputs = [load(job.fragment)] if reads and job.fragment is not None else []
    result = run_verb(job.verb, before, inputs, job.options, job.weights)
    details: dict[str, Any] = {"summary": getattr(result, "done", None)}
    if spec.report is not None:
        details.update(spec.report(result))
    if REGISTRY[job.verb].output_suffix is not None:
        (_, pieces), *others = result.output_files(job.output)
        data, beside = joined(pieces), [(name, joined(more)) for name, more in others]
    else:
        data, beside = export_bytes(result.net), []
    notes = list(result.notes)
    if job.weights_output is not None:  # made as the verb's command makes --weights-out
        carry = carry_of(before, result, job.options)
        weights, said = carried_caffemodel(result.net, job.weights, job.weights_output, carry)
        beside.append((job.weights_output, weights))
        notes += said
    return Outcome(
        job.source, "converted", output=job.output, verb=job.verb, data=data,
        beside=tuple(beside), notes=tuple(notes), **details,
    ), result  # fmt: skip


def _refuse_unreadable_weights(weights: str, verb: Verb) -> None:
    """Refuse a caffemodel that is missing, or is not a file to read (a directory, a
    dangling link, a named pipe, whose reading would wait for a writer)."""
    if not os.path.lexists(weights):
        raise SurgeryError(
            f"{weights}: no such caffemodel; --verb {verb} reads each model's weights from"
            f" the {WEIGHTS_SUFFIX} file of the same name beside it, or from its config's"
            f" '{WEIGHTS_KEY}'"
        )
    reason = unreadable_reason(Path(weights))
    if reason is not None:
        raise SurgeryError(f"{weights}: {reason}")


def _since(start: float) -> float:
    return time.perf_counter() - start


def _with_picture(outcome: Outcome, before: Net, after: Any, job: Job) -> Outcome:
    """The outcome with the picture of its change; a picture that cannot be made is a note
    on the model, never a failure of it."""
    from .report.changeview import change_svg, inserted_svg  # only HTML reports need pictures

    assert job.picture_context is not None
    if REGISTRY[job.verb].output_suffix is not None:
        return replace(outcome, picture_note=f"no picture: {job.verb} changes no layer")
    phase, context = getattr(job.options, "phase", None), job.picture_context
    try:
        if isinstance(after, InsertResult) and not job.options.upgrade:
            svg = inserted_svg(before, after, phase, context)
        else:  # the whole net may be rewritten (insert --upgrade): a diff tells what changed
            svg = change_svg(before, after.net, phase, context)
    except SurgeryError as exc:
        return replace(outcome, picture_note=f"no picture: {exc}")
    except Exception as exc:  # a picture is a courtesy: a bug in drawing keeps the model
        return replace(outcome, picture_note=f"no picture: {exception_summary(exc)}")
    return replace(outcome, picture=svg)


def exception_summary(exc: BaseException) -> str:
    """``Type: message (at file:line)``, the line being where it was raised."""
    message = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        text += f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})"
    return text


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "vanished"
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


def _worker_main(conn: Connection[Outcome, Job | None], parent: int) -> None:
    # Ctrl-C reaches the whole process group; the parent decides, and kills workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A worker lives for many models: what it inherited from the parent (which may have
    # paused the collector) is set aside for good, and the collector runs as usual.
    gc.freeze()
    gc.enable()
    while True:
        # Sibling workers may hold our pipe's other end open, so a parent killed without
        # cleaning up is noticed this way rather than by end-of-file.
        while not conn.poll(1.0):
            if os.getppid() != parent:
                return
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        conn.send(convert(job))


# --- running many ----------------------------------------------------------------------

NO_WORKER = "could not start a worker process"
NOT_FINISHED = "the batch was interrupted before this model was converted"


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_batch`: ``outcomes`` holds every job's outcome, in job
    order, those that had not finished marked "interrupted"."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        super().__init__()
        self.outcomes = outcomes


class _Worker:
    """A worker process and the job it is converting, if any."""

    def __init__(self, context: DefaultContext) -> None:
        ours, theirs = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(theirs, os.getpid()), daemon=True,
            name="scnn-surgery-batch",
        )
        self.process.start()
        theirs.close()  # else the parent never sees end-of-file when the worker dies
        self.conn: Connection[Job | None, Outcome] = ours
        self.task: tuple[int, Job] | None = None

    def assign(self, index: int, job: Job) -> bool:
        try:
            self.conn.send(job)
        except OSError:  # it died while idle
            return False
        self.task = (index, job)
        return True

    def finish(self) -> tuple[int, Outcome]:
        """The outcome of the current job, once :func:`wait` said this worker is ready."""
        assert self.task is not None
        index, job = self.task
        self.task = None
        try:
            if self.conn.poll():
                return index, self.conn.recv()
        except (EOFError, OSError):
            pass
        self.process.join()
        died = describe_exit(self.process.exitcode)
        reason = f"worker process {died} while converting this model"
        return index, Outcome(job.source, "failed", reason=reason, verb=job.verb)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join()
        self.conn.close()

    def kill(self) -> None:
        # Workers write nothing, so killing one mid-job cannot leave a partial file.
        self.process.kill()
        self.process.join()
        self.conn.close()


def run_batch(
    jobs: Sequence[Job], workers: int, on_outcome: Callable[[Outcome], None] | None = None
) -> list[Outcome]:
    """Convert every job in ``workers`` processes, write the converted ones; outcomes in job order.

    A model that raises, or whose worker dies, is "failed" and the others go on (a dead
    worker is replaced). On KeyboardInterrupt the workers are killed and
    :class:`BatchInterrupted` (a KeyboardInterrupt) carries the outcomes so far; every
    output written by then is complete.
    """
    if not jobs:
        return []
    context = multiprocessing.get_context()
    pending = deque(enumerate(jobs))
    outcomes: dict[int, Outcome] = {}

    def record(index: int, outcome: Outcome) -> None:
        outcomes[index] = outcome
        if on_outcome is not None:
            on_outcome(outcome)

    pool: list[_Worker] = []
    try:
        pool.extend(_Worker(context) for _ in range(max(1, min(workers, len(jobs)))))
        while len(outcomes) < len(jobs):
            for slot in range(len(pool)):
                if pool[slot].task is None and pending:
                    index, job = pending.popleft()
                    if not _dispatch(pool, slot, index, job, context):
                        failed = Outcome(job.source, "failed", reason=NO_WORKER, verb=job.verb)
                        record(index, failed)
            ready = _ready(pool)
            for slot, worker in enumerate(pool):
                if worker in ready:
                    index, outcome = worker.finish()
                    if not worker.process.is_alive():
                        pool[slot] = _Worker(context)
                    record(index, write_output(outcome))
    except BaseException as exc:
        for worker in pool:
            worker.kill()
        if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, BatchInterrupted):
            raise BatchInterrupted(_so_far(jobs, outcomes)) from None
        raise
    for worker in pool:
        worker.stop()
    return [outcomes[index] for index in range(len(jobs))]


def _so_far(jobs: Sequence[Job], outcomes: Mapping[int, Outcome]) -> list[Outcome]:
    return [
        outcomes.get(index) or Outcome(job.source, "interrupted", reason=NOT_FINISHED)
        for index, job in enumerate(jobs)
    ]


def _dispatch(
    pool: list[_Worker], slot: int, index: int, job: Job, context: DefaultContext
) -> bool:
    """Hand ``job`` to the worker in ``slot``, replacing it once if it died while idle."""
    if pool[slot].assign(index, job):
        return True
    pool[slot].kill()
    pool[slot] = _Worker(context)
    return pool[slot].assign(index, job)


def _ready(pool: Sequence[_Worker]) -> set[_Worker]:
    """Block until some busy worker has an answer or has died; those workers."""
    busy = [worker for worker in pool if worker.task is not None]
    if not busy:
        return set()
    owner: dict[object, _Worker] = {}
    handles: list[Connection[Job | None, Outcome] | int] = []
    for worker in busy:
        owner[worker.conn] = owner[worker.process.sentinel] = worker
        handles += [worker.conn, worker.process.sentinel]
    return {owner[handle] for handle in wait(handles)}


def write_output(outcome: Outcome) -> Outcome:
    """Write a converted model's text and the files beside it (its caffemodel, export's
    external data), creating directories, all together or none; drop their bytes."""
    if outcome.status != "converted" or outcome.output is None or outcome.data is None:
        return replace(outcome, data=None, beside=())
    path = Path(outcome.output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the files beside first: the output refers to them
        write_files_atomic([*outcome.beside, (path, outcome.data)])
    except OSError as exc:
        reason = f"cannot write {path}: {exc.strerror or exc}"
        return Outcome(outcome.source, "failed", reason=reason, verb=outcome.verb)
    except SurgeryError as exc:  # already names the file; one output must not stop the batch
        return Outcome(outcome.source, "failed", reason=str(exc), verb=outcome.verb)
    return replace(outcome, data=None, beside=())


# --- reports ---------------------------------------------------------------------------

def render_json(report: BatchReport) -> str:
    document = {
        "models": [outcome.record() for outcome in report.outcomes],
        "summary": report.summary(),
    }
    return json.dumps(document, indent=2) + "\n"


def render_csv(report: BatchReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    writer.writerows(text_row(outcome) for outcome in report.outcomes)
    return buffer.getvalue()


def _markdown_cell(text: str) -> str:
    """One table cell: a name's controls written as escapes, so that a terminal showing
    the file does not act on them (ESC ] 0 ; ... BEL sets its title)."""
    escaped = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return _MARKDOWN_CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode(), escaped)


# Bidi controls too: a right-to-left override would reverse the rest of a row as shown.
_MARKDOWN_CONTROLS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def render_markdown(report: BatchReport) -> str:
    lines = [
        "# scnn-surgery batch report",
        "",
        f"{report.describe()}.",
        "",
        "| " + " | ".join(column.replace("_", " ") for column in REPORT_COLUMNS) + " |",
        "|" + "---|" * len(REPORT_COLUMNS),
    ]
    for outcome in report.outcomes:
        lines.append("| " + " | ".join(_markdown_cell(cell) for cell in text_row(outcome)) + " |")
    return "\n".join(lines) + "\n"


def render_html(report: BatchReport) -> str:
    from .report.htmlreport import batch_page  # only this format needs it

    return batch_page(report)


REPORT_FORMATS: Mapping[str, Callable[[BatchReport], str]] = {
    ".json": render_json,
    ".csv": render_csv,
    ".md": render_markdown,
    ".markdown": render_markdown,
    ".html": render_html,
    ".htm": render_html,
}
HTML_REPORTS = frozenset({".html", ".htm"})


def picture_plan(report: Path | None) -> tuple[int | None, str | None]:
    """How much context the workers draw around each change (None: no pictures), and why
    there are none when an HTML report wants them: without Graphviz's ``dot`` the report
    is the table, with a note."""
    if report is None or report.suffix.lower() not in HTML_REPORTS:
        return None, None
    from .report.changeview import PICTURE_CONTEXT, missing_dot_note

    missing = missing_dot_note()
    return (None, missing) if missing else (PICTURE_CONTEXT, None)


def report_renderer(path: Path) -> Callable[[BatchReport], str]:
    """The writer the file's extension asks for; others are a usage error."""
    renderer = REPORT_FORMATS.get(path.suffix.lower())
    if renderer is None:
        known = ", ".join(REPORT_FORMATS)
        raise UsageError(f"{path}: unknown report format '{path.suffix}' (use {known})")
    return renderer


def write_report(path: Path, report: BatchReport) -> None:
    text = report_renderer(path)(report)
    try:
        write_bytes_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise SurgeryError(f"{path}: cannot write the report: {exc.strerror or exc}") from None
