"""``scnn-surgery insert``: put an SCNN module into a net and rewire its consumers."""

from __future__ import annotations

from typing import Any

import click

from ..scnn import module_cost
from .options import build_insert_options, insert_options, output_options, weights_options
from .output import report_cost
from .verb import Carry, Weights, finish, prepare


@click.command("insert")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@insert_options()
@output_options()
@weights_options(new_layers="the module comes from its fillers")
def command(
    model: str,
    output: str | None,
    in_place: bool,
    weights: str | None,
    weights_out: str | None,
    seed: int,
    **params: Any,
) -> None:
    """Insert an SCNN module into MODEL (a prototxt; '-' reads stdin)."""
    given = Weights(weights, weights_out, seed)
    where = prepare(model, output, in_place, given, proto=params.get("proto"))
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..surgery import insert, load

    net = load(model)
    options = build_insert_options(params)
    result = insert(net, options)
    added = result.net.layer_names - net.layer_names
    carry = Carry(
        added=added, spec=result.spec, shapes=options.shapes, phase=options.phase,
        proto=options.proto,
    )  # fmt: skip
    done = f"inserted at {result.point.describe()}"
    finish(where, result.net, [*result.notes, done], given, carry)
    report_cost(result.spec, module_cost(result.spec))
