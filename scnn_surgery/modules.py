"""SCNN modules already in a net: which layers form them and how to describe them.

``scnn.detect_modules`` recognises the layout from names and wiring; this adds
what only a whole net can tell: each convolution's size, and which layer's
output the module reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .document import Message, Scalar
from .graph import BlobVersion, LayerGraph
from .net import Layer
from .scnn import ConvShape, DetectedModule, detect_modules

TIMES = "\u00d7"  # MULTIPLICATION SIGN, between the dimensions of a shape
INPUT_NAME = "input"


def _int_or_none(scalar: Scalar | None) -> int | None:
    if scalar is None:
        return None
    try:
        return scalar.as_int()
    except ValueError:
        return None


def _conv_shape(param: Message) -> ConvShape | None:
    num_output = _int_or_none(param.scalar("num_output"))
    sizes = [_int_or_none(s) for s in param.scalars("kernel_size")]
    kernel_h = _int_or_none(param.scalar("kernel_h")) or (sizes[0] if sizes else None)
    kernel_w = _int_or_none(param.scalar("kernel_w")) or (sizes[-1] if sizes else None)
    if num_output is None or kernel_h is None or kernel_w is None:
        return None
    return num_output, kernel_h, kernel_w


def conv_shapes(layers: Iterable[Layer]) -> dict[str, ConvShape]:
    """(num_output, kernel_h, kernel_w) of each convolution whose parameters say so."""
    out: dict[str, ConvShape] = {}
    for layer in layers:
        param = layer.body.message("convolution_param")
        if layer.type == "Convolution" and param is not None:
            shape = _conv_shape(param)
            if shape is not None:
                out[layer.name] = shape
    return out


def find_modules(layers: Sequence[Layer]) -> list[tuple[DetectedModule, list[Layer]]]:
    """The SCNN modules among ``layers`` (file order), each with its layers."""
    summaries = [(x.name, x.type, x.bottoms, x.tops) for x in layers]
    modules = detect_modules(summaries, conv_shapes(layers))
    return [(m, list(layers[m.first_index : m.last_index + 1])) for m in modules]


@dataclass(frozen=True)
class ModuleSummary:
    """What a recognised module is and where it sits."""

    kind: str
    prefix: str
    directions: str
    height: int | None
    width: int | None
    channels: int | None
    kernel: int | None
    layers: int
    bottom: str
    placed_after: str
    output: str

    def geometry(self) -> list[str]:
        """Directions, height, width, channels and kernel: what the module computes."""

        def dim(value: int | None) -> str:
            return "?" if value is None else str(value)

        parts = [
            f"directions {self.directions}",
            TIMES.join(dim(d) for d in (self.height, self.width, self.channels)),
        ]
        return parts + ([f"k {self.kernel}"] if self.kernel is not None else [])

    def parts(self) -> list[str]:
        return [
            *self.geometry(),
            f"{self.layers} layers",
            f"after {self.placed_after}",
            f"output {self.output}",
        ]

    @property
    def title(self) -> str:
        return f"{self.kind} module" + (f" '{self.prefix}'" if self.prefix else "")

    def describe(self) -> str:
        return ", ".join([self.title, *self.parts()])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "prefix": self.prefix,
            "directions": self.directions,
            "height": self.height,
            "width": self.width,
            "channels": self.channels,
            "kernel": self.kernel,
            "layers": self.layers,
            "bottom": self.bottom,
            "placed_after": self.placed_after,
            "output": self.output,
        }


def _placed_after(graphs: Sequence[LayerGraph], first: Layer, bottom: str) -> str:
    """The layer whose output the module reads (the end of an in-place chain)."""
    for graph in graphs:
        version = graph.bottom_binding.get((first.index, 0))
        if version is not None:
            return producer_name(graph, version)
    return bottom


def summarise_module(
    module: DetectedModule, layers: Sequence[Layer], graphs: Sequence[LayerGraph]
) -> ModuleSummary:
    return ModuleSummary(
        kind="SCNN",
        prefix=module.prefix,
        directions=module.directions,
        height=module.height,
        width=module.width,
        channels=module.channels,
        kernel=module.kernel,
        layers=len(layers),
        bottom=module.bottom,
        placed_after=_placed_after(graphs, layers[0], module.bottom),
        output=module.output,
    )


def producer_name(graph: LayerGraph, version: BlobVersion) -> str:
    """The layer that wrote this version; top-level inputs read as the ``Input``
    layer Caffe's upgrade makes of them."""
    node = graph.producer[version]
    return INPUT_NAME if node < 0 else graph.net.layers[node].name
