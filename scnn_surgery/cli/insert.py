"""``scnn-surgery insert``: put an SCNN module into a net and rewire its consumers."""

from __future__ import annotations

import click

from ..scnn import module_cost
from ..surgery import InsertOptions, insert, load
from .options import module_options, output_option
from .output import emit, note, report_cost


@click.command("insert")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--after", default=None, help="Layer or blob after which the module goes.")
@module_options(sizes_required=False)
@output_option()
def command(
    model: str, after: str | None, height: int | None, width: int | None,
    channels: int | None, kernel_width: int, directions: str, prefix: str | None,
    top: str | None, init_std: float | None, share_weights: bool, lr_mult: float,
    output: str | None,
) -> None:
    """Insert an SCNN module into MODEL (a prototxt; '-' reads stdin)."""
    net = load(model)
    options = InsertOptions(
        after=after, height=height, width=width, channels=channels, kernel_width=kernel_width,
        directions=directions, prefix=prefix, top=top, init_std=init_std,
        share_weights=share_weights, lr_mult=lr_mult,
    )
    result = insert(net, options)
    for message in result.notes:
        note(message)
    note(f"inserted at {result.point.describe()}")
    emit(result.net.document.to_bytes(), output)
    report_cost(result.spec, module_cost(result.spec))
