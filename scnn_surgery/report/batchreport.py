"""What a batch run was and what became of each model: the data its reports show.

:mod:`scnn_surgery.batch` makes these (it runs the jobs), :mod:`scnn_surgery.report.htmlreport`
and the text renderers in ``batch`` read them; neither imports the other for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from ..analysis.shapes import format_shape
from ..scnn import ModuleCost, ScnnSpec
from ..verbs import REGISTRY, verb_of_options

Verb = str  # a verb of the registry (scnn_surgery.verbs.REGISTRY); batch can do each
AnyOptions = Any  # the verb's options class (options.py), per model
WEIGHTS_SUFFIX = ".caffemodel"


@dataclass(frozen=True)
class ConfigRule:
    """One ``[models."PATTERN"]`` table: settings for the models whose path matches."""

    pattern: str
    settings: Mapping[str, Any]
    regex: re.Pattern[str] = field(compare=False, repr=False)

    def matches(self, relative: PurePosixPath) -> bool:
        return self.regex.fullmatch(relative.as_posix()) is not None


@dataclass(frozen=True)
class Job:
    """One conversion; everything a worker needs, so it must pickle."""

    source: str
    output: str
    options: AnyOptions
    fragment: str | None = None  # what ``splice`` puts in
    # Draw the change with this many layers around it (None: no picture); an HTML report
    # shows it, and the worker makes it, so the parent only collects.
    picture_context: int | None = None
    # The caffemodel the verb reads: fold-bn's (NAME.caffemodel beside the source), whose
    # new one is written beside the output (see ``weights_output``), or export's.
    weights: str | None = None

    @property
    def verb(self) -> Verb:
        return verb_of_options(self.options)

    @property
    def weights_output(self) -> str | None:
        """The caffemodel written with the output: NAME.caffemodel beside NAME.prototxt
        (none for a verb that only reads one: export)."""
        if self.weights is None or REGISTRY[self.verb].reads_weights:
            return None
        return str(Path(self.output).with_suffix(WEIGHTS_SUFFIX))


Status = Literal["converted", "refused", "failed", "skipped", "interrupted"]
STATUSES: tuple[Status, ...] = ("converted", "refused", "failed", "skipped", "interrupted")
# Shown even at 0 in summaries; "skipped" (a source that is not a readable file) and
# "interrupted" (Ctrl-C came first) only when they happened.
USUAL_STATUSES: tuple[Status, ...] = ("converted", "refused", "failed")


@dataclass(frozen=True)
class Outcome:
    """What became of one model. ``data`` (and ``beside``) carries the new text from worker
    to parent only."""

    source: str
    status: Status
    output: str | None = None
    reason: str | None = None
    insertion_point: str | None = None
    shape: tuple[int, int, int] | None = None  # channels, height, width of the module
    data: bytes | None = field(default=None, repr=False, compare=False)
    # Further files (path, bytes) written with the output (export's external data).
    beside: tuple[tuple[str, bytes], ...] = field(default=(), repr=False, compare=False)
    verb: Verb = "insert"
    summary: str | None = None  # what was done, in a sentence (splice and strip)
    # For the HTML report: why the point, the module and its cost, the verb's notes, the
    # time it took, and the picture of the change (an <svg> element) or why there is none.
    point_reason: str | None = None
    placed_after: str | None = None  # the layer the module follows (None: first in the net)
    spec: ScnnSpec | None = None
    cost: ModuleCost | None = None
    notes: tuple[str, ...] = ()
    seconds: float | None = None
    picture: str | None = field(default=None, repr=False, compare=False)
    picture_note: str | None = None

    def record(self) -> dict[str, Any]:
        shape = None
        if self.shape is not None:
            shape = dict(zip(("channels", "height", "width"), self.shape, strict=True))
        return {
            "source": self.source,
            "status": self.status,
            "output": self.output,
            "reason": self.reason,
            "insertion_point": self.insertion_point,
            "shape": shape,
            "verb": self.verb,
            "summary": self.summary,
        }




@dataclass(frozen=True)
class RunInfo:
    """How a batch was run, for a report that shows it (the HTML page)."""

    sources: tuple[str, ...]
    output_dir: str
    options: AnyOptions
    config: str | None = None
    rules: tuple[ConfigRule, ...] = ()
    jobs: tuple[Job, ...] = ()
    pictures_note: str | None = None  # why there are no pictures, when there are none


@dataclass(frozen=True)
class BatchReport:
    outcomes: tuple[Outcome, ...]
    workers: int
    seconds: float
    run: RunInfo | None = None

    def counts(self) -> dict[Status, int]:
        counts: dict[Status, int] = dict.fromkeys(STATUSES, 0)
        for outcome in self.outcomes:
            counts[outcome.status] += 1
        return counts

    def shown_counts(self) -> dict[Status, int]:
        """The usual statuses, and the others that happened."""
        return shown_counts(self.counts())

    @property
    def all_converted(self) -> bool:
        return all(outcome.status == "converted" for outcome in self.outcomes)

    def summary(self) -> dict[str, Any]:
        return {
            "total": len(self.outcomes),
            **{str(status): n for status, n in self.counts().items()},
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
        }

    def describe(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in self.shown_counts().items())
        workers = "worker" if self.workers == 1 else "workers"
        models = "model" if len(self.outcomes) == 1 else "models"
        return (
            f"{len(self.outcomes)} {models}: {counts}"
            f" ({self.seconds:.1f} s, {self.workers} {workers})"
        )


def shown_counts(counts: Mapping[Status, int]) -> dict[Status, int]:
    return {s: n for s, n in counts.items() if n or s in USUAL_STATUSES}


REPORT_COLUMNS = (
    "source", "status", "output", "reason", "insertion_point", "shape", "verb", "summary",
)  # fmt: skip


def shape_text(shape: tuple[int, int, int] | None) -> str:
    """The module's feature map (kept as C, H, W) as HxWxC, as insert and the page say it."""
    if not shape:
        return ""
    channels, height, width = shape
    return format_shape((height, width, channels))


def text_row(outcome: Outcome) -> list[str]:
    record = outcome.record()
    record["shape"] = shape_text(outcome.shape)
    return ["" if record[column] is None else str(record[column]) for column in REPORT_COLUMNS]
