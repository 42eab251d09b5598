"""``scnn-surgery splice``: put any fragment of layers into a net, and rewire."""

from __future__ import annotations

from typing import Any

import click

from ..files import OutputFiles, named
from ..options import SpliceOptions
from .options import (
    build_verb_options,
    check_weights_options,
    output_options,
    verb_options,
    weights_options,
)
from .output import check_verb_paths, destination, note, write_result

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
    where = destination(model, output, in_place)
    check_weights_options(weights, weights_out)
    check_verb_paths(
        where,
        [*named("FRAGMENT", fragment), *named("--weights", weights),
         *named("--proto", params["proto"])],
        named("--weights-out", weights_out),
    )  # fmt: skip
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..carry import stage_weights
    from ..export import export_bytes
    from ..surgery import load, splice

    options = build_verb_options(SpliceOptions, params, rename=RENAMED)
    result = splice(load(model), load(fragment), options)
    notes = list(result.notes)  # said once everything is written: a refusal is one line
    reads = f"rewires to '{result.output}'" if result.output else "as a branch, rewiring nothing"
    notes.append(
        f"spliced {len(result.added)} layers from {fragment} at {result.point.describe()};"
        f" {reads}"
    )
    with OutputFiles() as outputs:
        if weights_out is not None:
            added = {layer.name for layer in result.added}
            notes += stage_weights(
                outputs, result.net, weights, weights_out, added=added, seed=seed,
                shapes=options.shapes, phase=options.phase, proto=options.proto,
            )  # fmt: skip
        write_result(outputs, export_bytes(result.net), where)
        outputs.commit()
    for message in notes:
        note(message)
