"""``scnn-surgery remove``: take layers out of a net, bridging what read their outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import click

from ..files import OutputFiles, named
from .options import check_weights_options, insert_option, output_options, weights_options
from .output import check_verb_paths, destination, note, write_result


@click.command("remove")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@click.argument("layers", nargs=-1, required=True)
@output_options()
@weights_options(new_layers="layers without blobs in --weights come from their fillers")
@insert_option("shapes")
@insert_option("proto")
def command(
    model: str,
    layers: tuple[str, ...],
    output: str | None,
    in_place: bool,
    weights: str | None,
    weights_out: str | None,
    seed: int,
    shapes: Mapping[str, Sequence[int]],
    proto: str | None,
) -> None:
    """Remove LAYERS from MODEL (a prototxt; '-' reads stdin).

    An in-place layer simply goes; the readers of a one-bottom, one-top layer read its
    bottom instead, in every phase. A name shared by several layers (per-phase variants)
    removes them all; '#N' (quoted for the shell) names the N-th layer of the file.
    """
    where = destination(model, output, in_place)
    check_weights_options(weights, weights_out)
    check_verb_paths(
        where,
        [*named("--weights", weights), *named("--proto", proto)],
        named("--weights-out", weights_out),
    )
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..carry import stage_weights
    from ..export import export_bytes
    from ..surgery import load, remove

    result = remove(load(model), layers, shapes=shapes, proto=proto)
    notes = list(result.notes)  # said once everything is written: a refusal is one line
    with OutputFiles() as outputs:
        if weights_out is not None:
            gone = {layer.name for layer in result.removed}
            for message in stage_weights(
                outputs, result.net, weights, weights_out, removed=gone, seed=seed,
                shapes=shapes, proto=proto,
            ):  # fmt: skip
                notes.append(message)
        write_result(outputs, export_bytes(result.net), where)
        outputs.commit()
    for message in notes:
        note(message)
    if weights_out is not None:
        note(f"wrote weights to {weights_out}")
    if in_place:
        note(f"replaced {model}")
