"""``scnn-surgery insert``: put an SCNN module into a net and rewire its consumers."""

from __future__ import annotations

from typing import Any

import click

from ..errors import UsageError
from ..files import STDIO, OutputFiles, check_output_paths, named
from ..scnn import module_cost
from .options import build_insert_options, insert_options, output_option
from .output import note, report_cost, write_output


@click.command("insert")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@insert_options()
@output_option()
@click.option(
    "--weights",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="MODEL's .caffemodel; every layer keeps its blobs (needs --weights-out).",
)
@click.option(
    "--weights-out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the new net's .caffemodel here; the module comes from its fillers.",
)
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True,
    help="Seed for the values drawn from fillers (0 or more).",
)
def command(
    model: str,
    output: str | None,
    weights: str | None,
    weights_out: str | None,
    seed: int,
    **params: Any,
) -> None:
    """Insert an SCNN module into MODEL (a prototxt; '-' reads stdin)."""
    if weights is not None and weights_out is None:
        raise UsageError("--weights needs --weights-out, the caffemodel to write")
    if weights_out == STDIO:
        raise UsageError("--weights-out -: a caffemodel is binary; give it a file")
    inputs = [*named("MODEL", model), *named("--weights", weights)]
    check_output_paths(
        [*inputs, *named("--proto", params.get("proto"))],
        [*named("-o", STDIO if output is None else output), *named("--weights-out", weights_out)],
    )
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..carry import stage_insert_weights
    from ..export import export_bytes
    from ..surgery import insert, load

    net = load(model)
    options = build_insert_options(params)
    result = insert(net, options)
    for message in result.notes:
        note(message)
    note(f"inserted at {result.point.describe()}")
    with OutputFiles() as outputs:
        if weights_out is not None:
            added = result.net.layer_names - net.layer_names
            weight_notes = stage_insert_weights(
                outputs, result.net, added, result.spec, weights, weights_out, seed,
                options.shapes, options.phase, options.proto,
            )
            for message in weight_notes:
                note(message)
        write_output(outputs, export_bytes(result.net), output)
        outputs.commit()
    if weights_out is not None:
        note(f"wrote weights to {weights_out}")
    report_cost(result.spec, module_cost(result.spec))
