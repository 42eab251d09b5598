"""Writing results: stdout or an atomically replaced file, and notes on stderr."""

from __future__ import annotations

import click

from ..files import STDIO, OutputFiles
from ..scnn import ModuleCost, ScnnSpec
from .stdio import write_stdout

LARGE_CHANNELS = 256


def write_output(outputs: OutputFiles, data: bytes, output: str | None) -> None:
    """Print ``data`` (no ``-o``, or ``-o -``), or stage it for ``outputs.commit()``."""
    if output is None or output == STDIO:
        write_stdout(data)
    else:
        outputs.stage(output, data)


def emit(data: bytes, output: str | None) -> None:
    """Print ``data``, or write it to the file atomically."""
    with OutputFiles() as outputs:
        write_output(outputs, data, output)
        outputs.commit()


def note(message: str) -> None:
    click.echo(f"scnn-surgery: {message}", err=True)


def report_cost(spec: ScnnSpec, cost: ModuleCost) -> None:
    note(
        f"module {spec.directions} {spec.height}x{spec.width}x{spec.channels} k{spec.kernel_width}:"
        f" {cost.layers} layers, {cost.parameters:,} parameters, {cost.macs:,} MACs,"
        f" {cost.activation_bytes / 2**20:.1f} MiB activations (float32, per image)"
    )
    if spec.channels > LARGE_CHANNELS:
        note(
            f"warning: {spec.channels} channels is a lot for SCNN; the published advice is that"
            " 128 fits and 512 is too much (insert --reduce-channels 128 maps the blob to 128"
            " channels with a 1x1 convolution first)"
        )
