"""``scnn-surgery upgrade``: a V0 or V1 net rewritten as V2, by Caffe's upgrade rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import click

from ..files import OutputFiles, named
from .options import check_weights_options, insert_option, output_options, weights_options
from .output import check_verb_paths, destination, note, write_result


@click.command("upgrade")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@output_options()
@weights_options(new_layers="layers without blobs in --weights come from their fillers")
@insert_option("shapes")
@insert_option("proto")
def command(
    model: str,
    output: str | None,
    in_place: bool,
    weights: str | None,
    weights_out: str | None,
    seed: int,
    shapes: Mapping[str, Sequence[int]],
    proto: str | None,
) -> None:
    """Rewrite MODEL (a prototxt; '-' reads stdin) in the current format, as Caffe's
    upgrade_net_proto_text would: V0 and V1 layers as V2, data-layer transform fields in
    transform_param, top-level inputs as an Input layer, BatchNorm statistics fixed.

    Text no rule touches is kept byte for byte. A net already current is written as it
    is (with --in-place, not written at all).
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
    from ..surgery import load, upgrade

    net = load(model)
    result = upgrade(net, shapes=shapes, proto=proto)
    notes = list(result.notes)  # said once everything is written: a refusal is one line
    with OutputFiles() as outputs:
        if weights_out is not None:
            for message in stage_weights(
                outputs, result.net, weights, weights_out,
                removed=net.layer_names - result.net.layer_names, seed=seed, shapes=shapes,
                proto=proto,
            ):  # fmt: skip
                notes.append(message)
        write_result(outputs, export_bytes(result.net), where, unchanged=not result.changed)
        outputs.commit()
    for message in notes:
        note(message)
    if weights_out is not None:
        note(f"wrote weights to {weights_out}")
    if in_place and result.changed:
        note(f"replaced {model}")
