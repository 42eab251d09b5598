"""Writing results: stdout, an atomically replaced file or MODEL itself (``--in-place``),
and notes on stderr."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import click

from ..errors import UsageError
from ..files import STDIO, STDOUT, NamedPath, OutputFiles, check_output_paths, named
from ..scnn import ModuleCost, ScnnSpec, cost_lines
from .stdio import one_line, write_stdout


def write_output(outputs: OutputFiles, data: bytes, output: str | None) -> None:
    """Print ``data`` (no ``-o``, or ``-o -``), or stage it for ``outputs.commit()``."""
    if output is None or output == STDIO:
        write_stdout(data)
    else:
        outputs.stage(output, data)


class Destination(NamedTuple):  # not a dataclass: importing dataclasses costs --help
    """Where a verb's net goes: standard output, ``-o FILE``, or MODEL (``--in-place``)."""

    model: str
    output: str | None
    in_place: bool

    @property
    def path(self) -> NamedPath:
        if self.in_place:
            return NamedPath("--in-place", self.model)
        return STDOUT if self.output is None else NamedPath("-o", self.output)


def destination(model: str, output: str | None, in_place: bool) -> Destination:
    """The verb's destination; ``-o`` with ``--in-place``, or ``--in-place`` for a MODEL
    read from standard input, is a usage error."""
    if in_place and output is not None:
        raise UsageError("-o and --in-place both say where to write; give one of them")
    if in_place and model == STDIO:
        raise UsageError("--in-place replaces MODEL, so MODEL must be a file, not '-'")
    return Destination(model, output, in_place)


def check_verb_paths(
    where: Destination,
    inputs: Sequence[NamedPath] = (),
    outputs: Sequence[NamedPath] = (),
    offers_in_place: bool = True,
) -> None:
    """Refuse, before any work, outputs that are inputs (or each other), as
    :func:`~scnn_surgery.files.check_output_paths` does; MODEL is an input, or, with
    ``--in-place``, the one output that may be it. ``inputs`` and ``outputs`` are the
    verb's others (``--weights``, ``--proto``; ``--weights-out``)."""
    model = named("MODEL", where.model)
    if where.in_place:
        check_output_paths(inputs, [where.path, *outputs], in_place=True)
    else:
        check_output_paths([*model, *inputs], [where.path, *outputs], in_place=offers_in_place)


def write_result(
    outputs: OutputFiles, data: bytes, where: Destination, unchanged: bool = False
) -> None:
    """Stage the verb's net for ``outputs.commit()`` (or print it). With ``--in-place`` an
    ``unchanged`` result is not written at all, so MODEL keeps even its time stamp."""
    if where.in_place:
        if not unchanged:
            outputs.stage(where.model, data)
        return
    write_output(outputs, data, where.output)


def emit(data: bytes, output: str | None) -> None:
    """Print ``data``, or write it to the file atomically."""
    with OutputFiles() as outputs:
        write_output(outputs, data, output)
        outputs.commit()
    for message in outputs.notes:
        note(message)


def note(message: str) -> None:
    click.echo(f"scnn-surgery: {one_line(message)}", err=True)


def report_cost(spec: ScnnSpec, cost: ModuleCost) -> None:
    for line in cost_lines(spec, cost):
        note(line)
