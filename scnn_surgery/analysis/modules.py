"""SCNN modules already in a net: which layers form them and how to describe them.

``scnn.detect_modules`` recognises the layout from names and wiring; this adds
what only a whole net can tell: each convolution's size, and which layer's
output the module reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..core.graph import BlobVersion, LayerGraph
from ..core.net import Layer, Net
from ..errors import SurgeryError
from ..scnn import (
    ConvShape,
    DetectedModule,
    ScnnSpec,
    ScnnSpecError,
    build_module,
    detect_modules,
    reduction_name,
)
from .params import conv_params

TIMES = "\u00d7"  # MULTIPLICATION SIGN, between the dimensions of a shape
INPUT_NAME = "input"


def conv_shapes(net: Net, layers: Iterable[Layer]) -> dict[str, ConvShape]:
    """(num_output, kernel_h, kernel_w) of each convolution whose parameters say so."""
    out: dict[str, ConvShape] = {}
    for layer in layers:
        if layer.type != "Convolution" or layer.format == "v0":
            continue
        try:
            p = conv_params(net, layer)
            kernel = p.kernel_hw or (p.kernel_size[0], p.kernel_size[-1])
        except (SurgeryError, IndexError):
            continue
        if p.num_output is not None:
            out[layer.name] = (p.num_output, kernel[0], kernel[1])
    return out


def find_modules(
    net: Net, layers: Sequence[Layer] | None = None
) -> list[tuple[DetectedModule, list[Layer]]]:
    """The SCNN modules among ``layers`` (default: the net's, in file order), each with
    its layers: the reduction ``insert --reduce-channels`` put in front of one included,
    as insert added it and strip takes it out."""
    chosen = net.layers if layers is None else layers
    summaries = [(x.name, x.type, x.bottoms, x.tops) for x in chosen]
    modules = detect_modules(summaries)
    if not modules:
        return []
    members = [chosen[m.first_index : m.last_index + 1] for m in modules]
    shapes = conv_shapes(net, (x for group in members for x in group))
    found = []
    for detected, group in zip(modules, members, strict=True):
        module = with_conv_geometry(detected, group, shapes)
        found.append((module, reduction_before(net, module, group) + list(group)))
    return found


def reduction_before(net: Net, module: DetectedModule, members: Sequence[Layer]) -> list[Layer]:
    """The 1x1 Convolution + in-place ReLU ``--reduce-channels`` put right before the
    module, when the module reads it and nothing else does: part of the module for
    ``strip`` and ``diff``."""
    name = reduction_name(module.prefix)
    position = net.index_of(members[0])
    if module.bottom != name or position < 2:
        return []
    conv, relu = net.layers[position - 2], net.layers[position - 1]
    if (conv.name, conv.type, conv.tops) != (name, "Convolution", (name,)):
        return []
    expected_relu = (f"{name}/relu", "ReLU", (name,), (name,))
    if (relu.name, relu.type, relu.bottoms, relu.tops) != expected_relu:
        return []
    others = [x for x in net.layers if name in x.bottoms and x not in (relu, *members)]
    return [] if others or len(conv.bottoms) != 1 else [conv, relu]


def with_conv_geometry(
    module: DetectedModule, layers: Sequence[Layer], shapes: dict[str, ConvShape]
) -> DetectedModule:
    """The module with channels and kernel from its first convolution's parameters."""
    for layer in layers:
        if layer.name in shapes:
            num_output, kernel_h, kernel_w = shapes[layer.name]
            kernel = kernel_w if kernel_h == 1 else kernel_h
            return replace(module, channels=num_output, kernel=kernel)
    return module


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
        version = graph.bottom(first, 0) if first in graph.graph else None
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
    producer = graph.producer(version)
    return INPUT_NAME if producer is None else producer.name


# The names build_module gives, after the prefix: a stage's Slice and Concat, a message
# convolution, its ReLU and its sum.
_MODULE_NAME = re.compile(r"(Slice[12]|Concat[12]|SCNN_([DULR])_\d+(/relu|/sum)?)")


def damaged_module_layers(net: Net, module: DetectedModule, members: Sequence[Layer]) -> str | None:
    """What shows that ``module`` is part of a damaged one (a layer removed from it):
    layers named as the same module's that are not among ``members``, and, where the
    whole module can be told from them, the layers it lacks. None for an intact module."""
    inside = {layer.name for layer in members}
    prefix = re.escape(module.prefix)
    strays = [
        layer for layer in net.layers
        if layer.name not in inside and re.fullmatch(prefix + _MODULE_NAME.pattern, layer.name)
    ]  # fmt: skip
    if not strays:
        return None
    names = [layer.name for layer in strays]
    shown = ", ".join(f"'{n}'" for n in names[:4]) + (", ..." if len(names) > 4 else "")
    missing = _missing_layers(net, module, [*members, *strays])
    lacks = f"; it lacks {', '.join(repr(n) for n in missing[:4])}" if missing else ""
    which = f"the SCNN module '{module.prefix}'" if module.prefix else "the SCNN module"
    return (
        f"{which} is damaged: {len(names)} of its layers ({shown}) are not part of the"
        f" module strip recognises{lacks}"
    )


def _missing_layers(net: Net, module: DetectedModule, present: Sequence[Layer]) -> list[str]:
    """The layers of the whole module the names tell of that the net does not have."""
    by_name = {layer.name: layer for layer in present}
    directions = "".join(
        sorted({m.group(2) for n in by_name if (m := _MODULE_NAME.search(n)) and m.group(2)})
    )
    first_slice = by_name.get(f"{module.prefix}Slice1")
    second_slice = by_name.get(f"{module.prefix}Slice2")
    height = len(first_slice.tops) if first_slice is not None else 1
    width = len(second_slice.tops) if second_slice is not None else 1
    first = first_slice or second_slice
    if first is None or not directions or not first.bottoms:
        return []
    spec = ScnnSpec(
        height, width, bottom=first.bottoms[0], directions=directions, prefix=module.prefix
    )
    try:
        expected = build_module(spec, check_names=False)
    except ScnnSpecError:
        return []
    names = {layer.name for layer in net.layers}
    return [layer.name for layer in expected if layer.name not in names]
