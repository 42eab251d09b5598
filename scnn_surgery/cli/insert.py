"""``scnn-surgery insert``: put an SCNN module into a net and rewire its consumers."""

from __future__ import annotations

from typing import Any

import click

from ..errors import UsageError
from ..files import same_file
from ..scnn import module_cost
from .options import build_insert_options, insert_options, output_option
from .output import emit, note, report_cost


def _refuse_clashing_files(
    model: str, output: str | None, weights: str | None, weights_out: str | None
) -> None:
    if weights is not None and weights_out is None:
        raise UsageError("--weights needs --weights-out, the caffemodel to write")
    if output not in (None, "-") and model != "-" and same_file(output, model):
        raise UsageError(f"-o {output} is MODEL itself; the input is never written")
    if weights_out is not None and (
        weights_out in ("-", output, model)
        or any(same_file(weights_out, p) for p in (output, model, weights) if p not in (None, "-"))
    ):
        raise UsageError("--weights-out must be a file other than the prototxts and --weights")


@click.command("insert")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@insert_options()
@output_option()
@click.option(
    "--weights",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="MODEL's .caffemodel; every layer keeps its blobs (needs --weights-out).",
)
@click.option(
    "--weights-out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the new net's .caffemodel here; the module comes from its fillers.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed for the values drawn from fillers."
)
def command(
    model: str,
    output: str | None,
    weights: str | None,
    weights_out: str | None,
    seed: int,
    **params: Any,
) -> None:
    """Insert an SCNN module into MODEL (a prototxt; '-' reads stdin)."""
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..carry import stage_insert_weights
    from ..export import export_bytes
    from ..surgery import insert, load

    _refuse_clashing_files(model, output, weights, weights_out)
    net = load(model)
    options = build_insert_options(params)
    result = insert(net, options)
    for message in result.notes:
        note(message)
    note(f"inserted at {result.point.describe()}")
    staged = None
    if weights_out is not None:
        added = result.net.layer_names - net.layer_names
        staged, weight_notes = stage_insert_weights(
            result.net, added, result.spec, weights, weights_out, seed, options.shapes,
            options.phase, options.proto,
        )
        for message in weight_notes:
            note(message)
    try:
        emit(export_bytes(result.net), output)
    except BaseException:
        if staged is not None:
            staged.discard()
        raise
    if staged is not None:
        staged.commit()
        note(f"wrote weights to {weights_out}")
    report_cost(result.spec, module_cost(result.spec))
