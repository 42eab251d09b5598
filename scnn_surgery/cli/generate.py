"""``scnn-surgery generate``: print an SCNN module as prototxt layers.

Only the light modules are imported here (no networkx, protobuf or numpy): generating a
module never reads a net.
"""

from __future__ import annotations

from typing import Any

import click

from ..files import STDIO, check_output_paths, named
from ..scnn import ScnnSpec, build_module, kernel_too_wide, module_cost, render_layers
from .options import module_options, output_option
from .output import emit, note, report_cost


@click.command("generate")
@module_options(required=("height", "width"), bottom=ScnnSpec.bottom)
@output_option()
def command(output: str | None, **params: Any) -> None:
    """Print the SCNN module for an H x W x C feature map."""
    check_output_paths([], named("-o", STDIO if output is None else output))
    # An option left out keeps ScnnSpec's default (128 channels, no prefix).
    spec = ScnnSpec(**{name: value for name, value in params.items() if value is not None})
    emit(render_layers(build_module(spec)).encode(), output)
    report_cost(spec, module_cost(spec))
    too_wide = kernel_too_wide(spec)  # as insert warns: Caffe runs it, but little of it is used
    if too_wide is not None:
        note(too_wide)
