"""``scnn-surgery generate``: print an SCNN module as prototxt layers."""

from __future__ import annotations

import click

from ..files import STDIO, check_output_paths, named
from ..scnn import ScnnSpec, module_cost
from ..surgery import generate
from .options import module_options, output_option
from .output import emit, report_cost


@click.command("generate")
@module_options(sizes_required=True)
@click.option("--bottom", default="conv5_5", show_default=True, help="Blob the module reads.")
@output_option()
def command(
    height: int,
    width: int,
    channels: int | None,
    kernel_width: int,
    directions: str,
    prefix: str | None,
    top: str | None,
    init_std: float | None,
    share_weights: bool,
    lr_mult: float,
    bottom: str,
    output: str | None,
) -> None:
    """Print the SCNN module for an H x W x C feature map."""
    check_output_paths([], named("-o", STDIO if output is None else output))
    spec = ScnnSpec(
        height=height,
        width=width,
        channels=128 if channels is None else channels,
        kernel_width=kernel_width,
        bottom=bottom,
        directions=directions,
        prefix=prefix or "",
        top=top,
        init_std=init_std,
        share_weights=share_weights,
        lr_mult=lr_mult,
    )
    text = generate(spec)
    emit(text.encode(), output)
    report_cost(spec, module_cost(spec))
