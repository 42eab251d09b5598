"""``scnn-surgery insert``: put an SCNN module into a net and rewire its consumers."""

from __future__ import annotations

from typing import Any

import click

from ..files import OutputFiles, named
from ..scnn import module_cost
from .options import (
    build_insert_options,
    check_weights_options,
    insert_options,
    output_options,
    weights_options,
)
from .output import check_verb_paths, destination, note, report_cost, write_result


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
    where = destination(model, output, in_place)
    check_weights_options(weights, weights_out)
    check_verb_paths(
        where,
        [*named("--weights", weights), *named("--proto", params.get("proto"))],
        named("--weights-out", weights_out),
    )
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..carry import stage_weights
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
            weight_notes = stage_weights(
                outputs, result.net, weights, weights_out,
                added=result.net.layer_names - net.layer_names, spec=result.spec, seed=seed,
                shapes=options.shapes, phase=options.phase, proto=options.proto,
            )  # fmt: skip
            for message in weight_notes:
                note(message)
        write_result(outputs, export_bytes(result.net), where)
        outputs.commit()
    if weights_out is not None:
        note(f"wrote weights to {weights_out}")
    if in_place:
        note(f"replaced {model}")
    report_cost(result.spec, module_cost(result.spec))
