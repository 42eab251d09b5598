"""``scnn-surgery remove``: take layers out of a net, bridging what read their outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import click

from .options import insert_option, output_options, weights_options
from .verb import Carry, Weights, finish, prepare


@click.command("remove")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@click.argument("layers", nargs=-1, required=True)
@output_options()
@weights_options(new_layers="layers without blobs in --weights come from their fillers")
@insert_option("shapes")
@insert_option("shape_rules")
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
    shape_rules: Mapping[str, str],
    proto: str | None,
) -> None:
    """Remove LAYERS from MODEL (a prototxt; '-' reads stdin).

    An in-place layer simply goes; the readers of a one-bottom, one-top layer read its
    bottom instead, in every phase. A name shared by several layers (per-phase variants)
    removes them all; '#N' (quoted for the shell) names the N-th layer of the file.
    """
    given = Weights(weights, weights_out, seed)
    where = prepare(model, output, in_place, given, proto=proto)
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..analysis.forkrules import ruled
    from ..surgery import load, remove

    result = remove(ruled(load(model), shape_rules), layers, shapes=shapes, proto=proto)
    removed = {layer.name for layer in result.removed}
    carry = Carry(removed=removed, shapes=shapes, proto=proto)
    finish(where, result.net, result.notes, given, carry)
