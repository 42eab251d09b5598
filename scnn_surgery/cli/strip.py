"""``scnn-surgery strip``: take an SCNN module out again."""

from __future__ import annotations

from typing import Any

import click

from ..files import OutputFiles, named
from ..options import StripOptions
from .options import (
    build_verb_options,
    check_weights_options,
    output_options,
    verb_options,
    weights_options,
)
from .output import check_verb_paths, destination, note, write_result


@click.command("strip")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@verb_options(StripOptions)
@output_options()
@weights_options(new_layers="the module's blobs are left out")
def command(
    model: str,
    output: str | None,
    in_place: bool,
    weights: str | None,
    weights_out: str | None,
    seed: int,
    **params: Any,
) -> None:
    """Strip the SCNN module from MODEL ('-' reads stdin): ours, the published
    generator's or Apollo's, with the 1x1 reduction insert put before it; its consumers
    read the blob the module read."""
    where = destination(model, output, in_place)
    check_weights_options(weights, weights_out)
    check_verb_paths(
        where,
        [*named("--weights", weights), *named("--proto", params["proto"])],
        named("--weights-out", weights_out),
    )
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..carry import stage_weights
    from ..export import export_bytes
    from ..surgery import load, strip

    options = build_verb_options(StripOptions, params)
    result = strip(load(model), options)
    notes = list(result.notes)  # said once everything is written: a refusal is one line
    notes.append(f"stripped {result.module.describe()}; its consumers read '{result.reads}' again")
    with OutputFiles() as outputs:
        if weights_out is not None:
            removed = {layer.name for layer in result.removed}
            notes += stage_weights(
                outputs, result.net, weights, weights_out, removed=removed, seed=seed,
                shapes=options.shapes, phase=options.phase, proto=options.proto,
            )  # fmt: skip
        write_result(outputs, export_bytes(result.net), where)
        outputs.commit()
    for message in notes:
        note(message)
