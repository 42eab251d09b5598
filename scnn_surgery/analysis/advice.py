"""Warnings for requests that run but make little sense, with what to do instead.

``insert`` still does what it was asked; these only explain, on stderr:

* the module on the raw input (``--after data``): SCNN passes messages across a feature
  map, not across the image's three colour planes;
* a dead end (``--after prob``): nothing reads the blob after the point, so the module
  rewires nothing and only adds an output;
* a kernel wider than the map: most of each 1xk (kx1) kernel reads zero padding;
* an automatic point on a fine decoder map (SegNet's 360x480, ENet's 256x512): the design
  keeps the top hidden layer, but such a module costs thousands of layers, and the SCNN
  paper applies SCNN at 1/8 resolution; the encoder's bottleneck (its deepest,
  lowest-resolution map) is named as the alternative.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import networkx as nx

from ..core.graph import BlobVersion, LayerGraph, Node
from ..core.net import Layer
from ..passes.anchor import InsertionPoint
from ..scnn import ScnnSpec, kernel_too_wide, module_cost
from .autopoint import SHAPE_ONLY_BOTTOMS
from .geometry import PhaseShapes
from .placeholders import placeholder_reason
from .shapes import MaybeShape, ShapeResult, format_shape, shape_flag

# Layers that make a map larger: where an encoder ends and a decoder begins.
UPSAMPLING_TYPES = frozenset({"Deconvolution", "Upsample", "Unpooling", "Interp", "Resize"})
# A decoder map finer than this share of the input's area (a quarter of each side) draws
# the warning: the paper's module runs at 1/8 of each side.
FINE_AREA_SHARE = 1 / 16
# Maps within this factor of the lowest area count as the lowest level.
LEVEL_TOLERANCE = 1.25


@dataclass(frozen=True)
class Alternative:
    """Where else the module could go, and why it is worth a look."""

    blob: str
    reason: str


def _spatial(shape: MaybeShape) -> tuple[int, int] | None:
    if shape is None or len(shape) != 4 or shape[2] is None or shape[3] is None:
        return None
    return shape[2], shape[3]


def _area(shape: MaybeShape) -> int | None:
    hw = _spatial(shape)
    return None if hw is None else hw[0] * hw[1]


def _grows(shapes: ShapeResult, layer: Layer) -> bool:
    """An upsampling layer that makes its map larger (or whose sizes are not known)."""
    inputs, outputs = shapes.layer_inputs(layer), shapes.layer_outputs(layer)
    before = _area(inputs[0]) if inputs else None
    after = _area(outputs[0]) if outputs else None
    return before is None or after is None or after > before


def _upsampling(
    graph: LayerGraph, shapes: ShapeResult, ancestors: AbstractSet[Node]
) -> list[Layer]:
    """The layers among ``ancestors`` that make their map larger, in file order."""
    found = [
        node
        for node in ancestors
        if isinstance(node, Layer) and node.type in UPSAMPLING_TYPES and _grows(shapes, node)
    ]
    return sorted(found, key=graph.net.index_of)


def _feature_input(graph: LayerGraph, layer: Layer) -> BlobVersion | None:
    """The bottom that carries features (not a pooling mask's or a reference's shape)."""
    skipped = SHAPE_ONLY_BOTTOMS.get(layer.type, frozenset())
    for index, version in enumerate(graph.bottoms(layer)):
        if version is not None and (skipped is None or index not in skipped):
            return version
    return None


def _bottleneck(
    graph: LayerGraph, shapes: ShapeResult, upsampling: Sequence[Layer]
) -> BlobVersion | None:
    """The encoder's deepest, lowest-resolution map: among the maps every upsampling layer
    derives from, the deepest of those at the lowest resolution (within a quarter: an
    unpadded 5x1 convolution's 62x130 is no lower than 64x128). Without their sizes, the
    input of the first upsampling layer."""
    common: set[object] | None = None
    for layer in upsampling:
        mine = set(nx.ancestors(graph.graph, layer))
        common = mine if common is None else common & mine
    sized = [
        (area, node)
        for node in common or ()
        if isinstance(node, BlobVersion)
        and (producer := graph.producer(node)) is not None
        and producer.bottoms
        and (area := _area(shapes.blob(node))) is not None
    ]
    if not sized:
        return _feature_input(graph, upsampling[0])
    lowest = min(area for area, _ in sized)
    level = [node for area, node in sized if area <= lowest * LEVEL_TOLERANCE]
    return max(level, key=lambda node: graph.position(node))


def _largest_area(shapes: ShapeResult, nodes: Iterable[Node]) -> int | None:
    """The area of the finest map among ``nodes`` (a map and its ancestors: the input's
    resolution)."""
    areas = [
        area
        for node in nodes
        if isinstance(node, BlobVersion) and (area := _area(shapes.blob(node))) is not None
    ]
    return max(areas, default=None)


def _map_text(shape: MaybeShape) -> str:
    if shape is None or len(shape) != 4 or None in shape[1:]:
        return ""
    return f" ({format_shape((shape[2], shape[3], shape[1]))}, HxWxC)"


def _macs(macs: int) -> str:
    return f"{macs / 1e9:,.1f} GMACs" if macs >= 10**9 else f"{macs:,} MACs"


def decoder_alternative(
    graph: LayerGraph,
    shapes: ShapeResult,
    blob: str,
    spec: ScnnSpec,
    ancestors: AbstractSet[Node] | None = None,
) -> Alternative | None:
    """The encoder's bottleneck, when ``blob`` is a decoder map finer than a quarter of the
    input's resolution (it derives from a layer that made the map larger). ``ancestors``
    are the blob's, when the caller has them."""
    version = graph.latest.get(blob)
    area = _area(shapes.blob(version)) if version is not None else None
    if version is None or area is None:
        return None
    if ancestors is None:
        ancestors = nx.ancestors(graph.graph, version)
    upsampling = _upsampling(graph, shapes, ancestors)
    if not upsampling:
        return None
    largest = _largest_area(shapes, [*ancestors, version])
    if largest is None or area <= largest * FINE_AREA_SHARE:
        return None
    bottleneck = _bottleneck(graph, shapes, upsampling)
    if bottleneck is None:
        return None
    name = bottleneck.name
    cost = module_cost(spec)
    share = "full" if area == largest else f"1/{round((largest / area) ** 0.5):g}"
    reason = (
        f"'{blob}' is a decoder map at {share} resolution ({spec.height}x{spec.width}): a"
        f" module there has {cost.layers:,} layers and {_macs(cost.macs)}, and the"
        " SCNN paper applies SCNN at 1/8 resolution; the encoder's bottleneck, its deepest,"
        f" lowest-resolution map, is '{name}'{_map_text(shapes.blob(graph.latest[name]))}"
    )
    return Alternative(name, reason)


def _raw_input(point: InsertionPoint, spec: ScnnSpec) -> str | None:
    source = point.chain[0] if point.chain else None
    if source is not None and source.bottoms:
        return None
    what = "the net's input" if source is None else f"the output of data layer '{source.name}'"
    return (
        f"warning: '{point.blob}' is {what}, the image itself ({spec.channels} channels), not a"
        " feature map; SCNN passes messages across the rows and columns of a feature map (the"
        " paper's top hidden layer, which insert chooses when --after is left out)"
    )


def _dead_end(point: InsertionPoint, output: str) -> str | None:
    if point.consumers:
        return None
    return (
        f"warning: no layer reads '{point.blob}' after the insertion point, so the module"
        f" rewires nothing: its output '{output}' is a dead end, an extra output of the net"
        " that changes no prediction; name a blob that later layers read"
    )


# Where insert can take the module when no kernel fits the map.
LARGER_MAP = (
    "insert at a larger map (--after), or size the net for the input it runs at (--shape)"
)


def placeholder_warnings(
    graph: LayerGraph,
    result: ShapeResult,
    blob: str,
    given: Collection[str] = (),
    ancestors: AbstractSet[Node] | None = None,
) -> list[str]:
    """The inputs ``blob`` is computed from whose stated size is a placeholder (and that no
    --shape, named in ``given``, sizes): a module there is sized for the placeholder, not
    for the size the net runs at. ``ancestors`` are the blob's, when the caller has them.
    (insert writes a size --shape gives such an input into the file.)"""
    version = graph.latest.get(blob)
    if version is None:
        return []
    inputs = {node for node in _stated_inputs(graph) if node.name not in given}
    if not inputs:
        return []
    if ancestors is None:
        ancestors = nx.ancestors(graph.graph, version)
    found = []
    for node in sorted((node for node in inputs if node in ancestors), key=str):
        stated = result.blob(node)
        reason = placeholder_reason(graph.net, node.name, stated)
        if reason is None or stated is None:
            continue
        found.append(
            f"warning: input '{node.name}' is {format_shape(stated)}, and {reason}: the module"
            f" is sized for a placeholder ({_area_text(result.blob(version))} at"
            f" '{blob}'); give the size the net runs at with"
            f" {shape_flag(node.name, _shape_hint(stated))}"
        )
    return found


def _stated_inputs(graph: LayerGraph) -> list[BlobVersion]:
    """The blobs whose size the file states: the net's inputs (the versions with no
    producer) and the tops of its Input layers."""
    found = [node for node, net_input in graph.graph.nodes(data="input") if net_input is not None]
    found += [top for layer in graph.layers if layer.type == "Input" for top in graph.tops(layer)]
    return found


def _area_text(shape: MaybeShape) -> str:
    if shape is None or len(shape) != 4:
        return format_shape(shape)
    return format_shape(shape[2:])


def _shape_hint(stated: Sequence[int | None]) -> str:
    return ",".join([*("?" if d is None else str(d) for d in stated[:2]), "H", "W"])


def advise(
    shapes: PhaseShapes,
    point: InsertionPoint,
    spec: ScnnSpec,
    output: str,
    phase: str | None,
    automatic: bool,
) -> list[str]:
    """The warnings for inserting ``spec`` at ``point`` (the net before the edit)."""
    found = (
        _raw_input(point, spec),
        _dead_end(point, output),
        kernel_too_wide(spec, LARGER_MAP),
    )
    graph = shapes.select(phase)[-1]
    result = shapes.of(graph)
    version = graph.latest.get(point.blob)
    # both warnings below read the point's ancestors: find them once
    ancestors = nx.ancestors(graph.graph, version) if automatic and version is not None else None
    placeholders = placeholder_warnings(
        graph, result, point.blob, shapes.overrides, ancestors=ancestors
    )
    notes = [*placeholders, *(note for note in found if note is not None)]
    if automatic:
        alternative = decoder_alternative(graph, result, point.blob, spec, ancestors)
        if alternative is not None:
            notes.append(
                f"warning: {alternative.reason}; the module stays at the top hidden layer, as"
                f" designed; for the bottleneck, give --after {alternative.blob}"
            )
    return notes
