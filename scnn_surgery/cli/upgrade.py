"""``scnn-surgery upgrade``: a V0 or V1 net rewritten as V2, by Caffe's upgrade rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import click

from .options import insert_option, output_options, weights_options
from .verb import Carry, Weights, finish, prepare


@click.command("upgrade")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@output_options()
@weights_options(new_layers="layers without blobs in --weights come from their fillers")
@insert_option("shapes")
@insert_option("shape_rules")
@insert_option("proto")
def command(
    model: str,
    output: str | None,
    in_place: bool,
    weights: str | None,
    weights_out: str | None,
    seed: int,
    shapes: Mapping[str, Sequence[int]],
    shape_rules: Mapping[str, str],
    proto: str | None,
) -> None:
    """Rewrite MODEL (a prototxt; '-' reads stdin) in the current format, as Caffe's
    upgrade_net_proto_text would: V0 and V1 layers as V2, data-layer transform fields in
    transform_param, top-level inputs as an Input layer, BatchNorm statistics fixed.

    Text no rule touches is kept byte for byte. A net already current is written as it
    is (with --in-place, not written at all).
    """
    given = Weights(weights, weights_out, seed)
    where = prepare(model, output, in_place, given, proto=proto)
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..analysis.forkrules import ruled
    from ..surgery import load, upgrade

    net = ruled(load(model), shape_rules)
    result = upgrade(net, shapes=shapes, proto=proto)
    removed = net.layer_names - result.net.layer_names
    carry = Carry(removed=removed, shapes=shapes, proto=proto)
    finish(where, result.net, result.notes, given, carry, changed=result.changed)
