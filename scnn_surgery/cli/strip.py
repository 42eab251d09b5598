"""``scnn-surgery strip``: take an SCNN module out again."""

from __future__ import annotations

from typing import Any

import click

from ..options import StripOptions
from .options import build_verb_options, output_options, verb_options, weights_options
from .verb import Carry, Weights, finish, prepare


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
    given = Weights(weights, weights_out, seed)
    where = prepare(model, output, in_place, given, proto=params["proto"])
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..surgery import load, strip

    options = build_verb_options(StripOptions, params)
    result = strip(load(model), options)
    done = f"stripped {result.module.describe()}; its consumers read '{result.reads}' again"
    removed = {layer.name for layer in result.removed}
    carry = Carry(removed=removed, shapes=options.shapes, phase=options.phase, proto=options.proto)
    finish(where, result.net, [*result.notes, done], given, carry)
