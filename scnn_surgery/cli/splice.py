"""``scnn-surgery splice``: put any fragment of layers into a net, and rewire."""

from __future__ import annotations

from typing import Any

import click

from ..files import named
from ..options import SpliceOptions
from .options import build_verb_options, output_options, verb_options, weights_options
from .verb import Carry, Weights, finish, prepare

# The fragment's --output is an option of the verb; the file written is -o only.
RENAMED = {"output": "fragment_output"}


@click.command("splice")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@click.argument("fragment", type=click.Path(dir_okay=False))
@verb_options(SpliceOptions, rename=RENAMED)
@output_options(long_flag=False)
@weights_options(new_layers="the fragment's layers come from their fillers")
def command(
    model: str,
    fragment: str,
    output: str | None,
    in_place: bool,
    weights: str | None,
    weights_out: str | None,
    seed: int,
    **params: Any,
) -> None:
    """Splice FRAGMENT (a prototxt of layers) into MODEL ('-' reads stdin).

    The fragment's inputs (blobs it reads but does not write) read the net's blobs; its
    output is read by every layer that read the blob it follows, in every phase.
    """
    given = Weights(weights, weights_out, seed)
    where = prepare(
        model, output, in_place, given, inputs=named("FRAGMENT", fragment), proto=params["proto"]
    )
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..surgery import load, splice

    options = build_verb_options(SpliceOptions, params, rename=RENAMED)
    result = splice(load(model), load(fragment), options)
    where_to = result.point.describe("fragment", rewiring=result.output is not None)
    reads = f"they read '{result.output}'" if result.output else "a branch, rewiring nothing"
    done = f"spliced {len(result.added)} layers from {fragment} at {where_to}; {reads}"
    added = {layer.name for layer in result.added}
    carry = Carry(added=added, shapes=options.shapes, phase=options.phase, proto=options.proto)
    finish(where, result.net, [*result.notes, done], given, carry)
