"""``scnn-surgery inspect``: one row per layer with shapes, parameters and MACs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import click

from ..files import STDOUT, check_output_paths, named
from .options import insert_option, json_option
from .output import note
from .stdio import echo, one_line

if TYPE_CHECKING:
    from ..analysis.inspection import InspectReport


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


# A longer layer, type or blob name is shortened in the middle, keeping its start and its
# end (res5c_branch2c, conv3/bn: where long names differ); --json keeps every name whole.
NAME_WIDTH = 40
ELLIPSIS = "..."


def _shortened(name: str) -> str:
    """A name as one cell of the table: its line breaks and tabs written as escapes."""
    name = one_line(name)
    if len(name) <= NAME_WIDTH:
        return name
    kept = NAME_WIDTH - len(ELLIPSIS)
    head = (kept + 1) // 2
    return f"{name[:head]}{ELLIPSIS}{name[len(name) - (kept - head):]}"


def _listed(items: Sequence[str], separator: str) -> str:
    """A row's blobs or shapes; a Slice's dozens of tops shortened to the first and last
    (``--json`` lists them all)."""
    if len(items) <= 3:
        return separator.join(items)
    return f"{items[0]}{separator}...{separator}{items[-1]} ({len(items)})"


def _table(report: InspectReport) -> list[str]:
    from ..analysis.shapes import format_shape

    header: tuple[str, ...] = ("layer", "type", "bottoms -> tops", "output shape", "params", "MACs")
    rows: list[tuple[str, ...]] = [
        (
            _shortened(r.name),
            _shortened(r.type),
            f"{_listed([_shortened(b) for b in r.bottoms], ', ')}"
            f" -> {_listed([_shortened(t) for t in r.tops], ', ')}",
            _listed([format_shape(s) for s in r.shapes], " "),
            _count(r.params),
            _count(r.macs),
        )
        for r in report.rows
    ]
    # What sized each layer, when something other than BVLC's own rules did.
    if any(r.rule != "built-in" for r in report.rows):
        header = (*header, "sized by")
        rules = ["" if r.rule == "built-in" else r.rule for r in report.rows]
        rows = [(*row, rule) for row, rule in zip(rows, rules, strict=True)]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    widths[2] = min(widths[2], 60)
    widths[3] = min(widths[3], 40)

    def line(row: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(w) if i in (4, 5) else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [line(header), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)]


def _summary(report: InspectReport) -> list[str]:
    lines = [
        "",
        f"{len(report.rows)} layers ({report.format}, phase {report.phase}):"
        f" {_count(report.total_params)} parameters, {_count(report.total_macs)} MACs",
    ]
    for module in report.modules:
        lines.append(f"existing {module.describe()}")
    if report.sized_by and any(r.rule != "built-in" for r in report.rows):
        lines.append(f"sized by: {report.sized_by}")
    for message in report.stopped:
        lines.append(f"shape inference stopped: {message}")
    for message in report.errors:
        lines.append(f"error: {message}")
    if report.suggestion is not None:
        lines.append(f"suggested insertion point: {report.suggestion} ({report.suggestion_reason})")
        if report.alternative is not None:
            lines.append(
                f"alternative insertion point: {report.alternative.blob}"
                f" ({report.alternative.reason})"
            )
    else:
        lines.append(f"no insertion point suggested: {report.suggestion_reason}")
    lines += report.placeholders
    if any(len(one_line(name)) > NAME_WIDTH for name in _table_names(report)):
        lines.append(
            f"names longer than {NAME_WIDTH} characters are shortened in the middle"
            f" ({ELLIPSIS}); --json lists them whole"
        )
    return lines


def _table_names(report: InspectReport) -> Iterator[str]:
    for row in report.rows:
        yield from (row.name, row.type, *row.bottoms, *row.tops)


@click.command("inspect")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@insert_option("shapes")
@insert_option("shape_rules")
@insert_option("phase")
@json_option("a JSON object instead of a table")
def command(
    model: str,
    shapes: Mapping[str, Sequence[int]],
    shape_rules: Mapping[str, str],
    phase: str | None,
    as_json: bool,
) -> None:
    """Show every layer of MODEL with its output shapes, parameters and MACs."""
    check_output_paths(named("MODEL", model), [STDOUT])
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..analysis.forkrules import ruled
    from ..analysis.inspection import inspect_net
    from ..analysis.phases import default_phase
    from ..surgery import load

    net = ruled(load(model), shape_rules)
    phase, warnings = default_phase(net, phase, "shown")
    report = inspect_net(net, phase, shapes)
    for warning in warnings:  # after the work: a refusal stays the one line it is
        note(warning)
    if as_json:
        echo(json.dumps(report.to_json(), indent=2))
    else:
        for text in [*_table(report), *map(one_line, _summary(report))]:
            echo(text)
    if report.errors:  # what could be shown was shown; the net (or request) is still wrong
        sys.exit(1)
