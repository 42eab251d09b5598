"""Writing results: stdout or an atomically replaced file, and notes on stderr."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..files import write_bytes_atomic
from ..scnn import ModuleCost, ScnnSpec

LARGE_CHANNELS = 256


def emit(data: bytes, output: str | None) -> None:
    if output is None or output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_bytes_atomic(Path(output), data)


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
            " 128 fits and 512 is too much (reduce channels with a 1x1 conv first)"
        )
