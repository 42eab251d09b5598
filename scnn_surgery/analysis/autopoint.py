"""Choose the insertion point when ``--after`` is omitted: the top hidden layer.

For each net output, walk back to the nearest classifier (a Convolution,
Deconvolution or InnerProduct), take its input, and follow that back until
the blob is a spatial map (H, W >= 2).  One candidate is the answer.  With
several heads, the answer is the deepest spatial blob every candidate is
computed from (their lowest common ancestor).  When that is not unique, or
is only the net's input, the choice is ambiguous and refused with the
candidates listed, so the user can name one with ``--after``.

Bottoms that only lend their shape (PriorBox's, Crop's and Interp's
reference blob) are not followed: they carry no features to a head.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import networkx as nx

from ..core.graph import BlobVersion, LayerGraph, Node
from ..core.net import Layer, Net
from ..errors import SurgeryError
from .params import layer_message
from .shapes import ShapeResult

CLASSIFIER_TYPES = frozenset(
    {
        "Convolution",
        "Deconvolution",
        "InnerProduct",
        "DepthwiseConvolution",
        "ConvolutionDepthwise",
    }
)
PREDICTION_TYPES = frozenset({"Softmax", "Sigmoid", "ArgMax"})
# layer type -> indices of bottoms read for their shape only (None: every bottom)
SHAPE_ONLY_BOTTOMS: dict[str, frozenset[int] | None] = {
    "PriorBox": None,
    "Crop": frozenset({1}),
    "Interp": frozenset({1}),
}


def _feature_bottoms(layer_type: str, count: int) -> list[int]:
    if layer_type not in SHAPE_ONLY_BOTTOMS:
        return list(range(count))
    skipped = SHAPE_ONLY_BOTTOMS[layer_type]
    return [] if skipped is None else [i for i in range(count) if i not in skipped]


@dataclass(frozen=True)
class Candidate:
    blob: BlobVersion
    head: str  # the output it was found from
    classifier: str  # the layer whose input it is (or leads to)


def is_spatial(shape: Sequence[int | None] | None) -> bool:
    return (
        shape is not None
        and len(shape) == 4
        and shape[2] is not None
        and shape[3] is not None
        and shape[2] >= 2
        and shape[3] >= 2
    )


def _feature_edge(graph: LayerGraph) -> Callable[[Node, Node], bool]:
    """Whether an edge carries features towards a head: not into a classifier (the search
    stops there) and not a bottom read only for its shape."""

    def keep(u: Node, v: Node) -> bool:
        if not isinstance(v, Layer):
            return True
        if v.type in CLASSIFIER_TYPES:
            return False
        bound = graph.bottoms(v)
        return any(bound[i] == u for i in _feature_bottoms(v.type, len(bound)))

    return keep


def _classifier_inputs(graph: LayerGraph, output: BlobVersion) -> list[tuple[BlobVersion, str]]:
    """The inputs of the nearest classifiers above ``output``: the classifiers among its
    ancestors over feature edges, which end at classifiers."""
    features = nx.subgraph_view(graph.graph, filter_edge=_feature_edge(graph))
    found = []
    for node in nx.ancestors(features, output):
        if isinstance(node, Layer) and node.type in CLASSIFIER_TYPES:
            source = graph.bottom(node, 0)
            if source is not None:
                found.append((source, node))
    found.sort(key=lambda item: -graph.net.index_of(item[1]))
    return [(source, layer.name) for source, layer in found]


def _known(shape: Sequence[int | None] | None) -> bool:
    """Known apart from the batch, which SCNN does not care about (ROIs leave it open)."""
    return shape is not None and all(d is not None for d in shape[1:])


def _walk_to_spatial(
    graph: LayerGraph, shapes: ShapeResult, version: BlobVersion
) -> tuple[BlobVersion | None, BlobVersion | None]:
    """Follow first bottoms back from ``version`` until the blob is a spatial map.

    Only known, non-spatial shapes (a 4096-vector, a 1x1 pooled map) are walked
    through; an unknown shape stops the walk, because what lies above it is not
    known to be the map the classifier sees.  The second value is the blob of
    unknown shape the walk stopped at, if any.
    """
    current: BlobVersion | None = version
    while current is not None and not is_spatial(shapes.blob(current)):
        if not _known(shapes.blob(current)):
            return None, current
        producer = graph.producer(current)
        if producer is None:
            return None, None
        current = graph.bottom(producer, 0)
    return current, None


@dataclass(frozen=True)
class Head:
    """Where the net ends: an output nobody reads, or what a layer without tops reads."""

    name: str
    version: BlobVersion
    loss_weight: float


def _loss_weight(graph: LayerGraph, layer: Layer | None, top: int) -> float:
    """Caffe's weight of a top in the objective: its ``loss_weight``, else 1 for the first
    top of a loss layer (``LossLayer::LayerSetUp``), else 0."""
    if layer is None or layer.format == "v0":
        return 0.0
    weights = list(layer_message(graph.net, layer).loss_weight)
    if top < len(weights):
        return float(weights[top])
    return 1.0 if top == 0 and layer.type.endswith("Loss") else 0.0


def _all_heads(graph: LayerGraph) -> list[Head]:
    heads = []
    for version in graph.outputs():
        producer = graph.producer(version)
        top = graph.tops(producer).index(version) if producer is not None else 0
        heads.append(Head(version.name, version, _loss_weight(graph, producer, top)))
    for layer in graph.layers:
        if not layer.tops and layer.type != "Silence":
            # Caffe gives a top-less V1 loss a top of its own, with weight 1.
            weight = _loss_weight(graph, layer, 0)
            heads += [Head(layer.name, v, weight) for v in graph.bottoms(layer) if v is not None]
    return heads


def main_heads(graph: LayerGraph) -> tuple[list[Head], list[Head]]:
    """(main, auxiliary): with losses in the net, the heads of the largest loss weight are
    the main ones; lighter losses (GoogLeNet's two 0.3 classifiers) and the outputs that
    carry no loss (accuracies) do not pull the insertion point."""
    heads = _all_heads(graph)
    heaviest = max((h.loss_weight for h in heads), default=0.0)
    if heaviest <= 0:
        return heads, []
    main = [h for h in heads if h.loss_weight == heaviest]
    auxiliary = [h for h in heads if 0 < h.loss_weight < heaviest]
    return main, auxiliary


def _heads(graph: LayerGraph) -> list[tuple[str, BlobVersion]]:
    return [(h.name, h.version) for h in main_heads(graph)[0]]


def _prediction_above(graph: LayerGraph, version: BlobVersion) -> BlobVersion | None:
    """The Softmax/Sigmoid output a map is computed from, with no classifier between.

    A branch that pools a probability map (SCNN's lane-existence head) is a head on
    a head: its features are those of the classifier that made the probabilities.
    """
    current: BlobVersion | None = version
    while current is not None:
        layer = graph.producer(current)
        if layer is None or layer.type in CLASSIFIER_TYPES:
            return None
        if layer.type in PREDICTION_TYPES:
            return current
        current = graph.bottom(layer, 0)
    return None


def find_candidates(graph: LayerGraph, shapes: ShapeResult) -> list[Candidate]:
    candidates: list[Candidate] = []
    seen: set[BlobVersion] = set()
    pending = deque(_heads(graph))
    while pending:
        head, output = pending.popleft()
        if output in seen:
            continue
        seen.add(output)
        for version, classifier in _classifier_inputs(graph, output):
            source, _ = _walk_to_spatial(graph, shapes, version)
            if source is None:
                continue
            prediction = _prediction_above(graph, source)
            if prediction is not None:
                pending.append((head, prediction))
            elif all(c.blob != source for c in candidates):
                candidates.append(Candidate(source, head, classifier))
    return candidates


def _unknown_inputs(graph: LayerGraph, shapes: ShapeResult) -> list[str]:
    """Classifier inputs whose shape inference could not tell, for the refusal message."""
    names = []
    for _, output in _heads(graph):
        for version, _ in _classifier_inputs(graph, output):
            _, unknown = _walk_to_spatial(graph, shapes, version)
            if unknown is not None and unknown.name not in names:
                names.append(unknown.name)
    return names


def _stop_hint(graph: LayerGraph, shapes: ShapeResult) -> str:
    if shapes.stopped:
        return f": {shapes.stopped[0].message}"
    unknown = _unknown_inputs(graph, shapes)
    if unknown:
        sources = [
            layer
            for layer in graph.layers
            if not layer.bottoms and any(not _known(s) for s in shapes.layer_outputs(layer))
        ]
        if not sources or not sources[0].tops:
            return f": the shape of '{unknown[0]}' is unknown; give it with --shape"
        source = sources[0]
        return (
            f": the shape of '{unknown[0]}' is unknown (layer '{source.name}' does not state"
            f" its output size); give it with --shape {source.tops[0]}=N,C,H,W"
        )
    return ""


def _computed(graph: LayerGraph, version: BlobVersion) -> bool:
    """Produced by a layer that reads something: not the net's input or a data layer."""
    producer = graph.producer(version)
    return producer is not None and bool(producer.bottoms)


def deepest_common_ancestor(
    graph: LayerGraph, shapes: ShapeResult, candidates: Sequence[Candidate]
) -> BlobVersion | None:
    """The deepest spatial map every candidate derives from, if exactly one is deepest.

    The common ancestors are the intersection of each candidate's ``nx.ancestors``;
    among their computed spatial blob versions the deepest must have all the others
    among its own ancestors, or two branches are equally deep and there is no answer.
    """
    common: set[Node] | None = None
    for c in candidates:
        mine = nx.ancestors(graph.graph, c.blob) | {c.blob}
        common = mine if common is None else common & mine
    spatial = [
        v
        for v in common or ()
        if isinstance(v, BlobVersion) and _computed(graph, v) and is_spatial(shapes.blob(v))
    ]
    if not spatial:
        return None
    deepest = max(spatial, key=lambda v: graph.position(v))
    if not set(spatial) <= nx.ancestors(graph.graph, deepest) | {deepest}:
        return None
    return deepest


def _auxiliary_note(graph: LayerGraph) -> str:
    main, auxiliary = main_heads(graph)
    if not auxiliary:
        return ""
    heaviest = f"{main[0].loss_weight:g}"
    listed = ", ".join(f"{h.name} ({h.loss_weight:g})" for h in auxiliary)
    return (
        f"; the auxiliary heads {listed}, weighted below the main loss's {heaviest},"
        " are not followed"
    )


def choose_blob(net: Net, graph: LayerGraph, shapes: ShapeResult) -> tuple[str, str]:
    """The blob name to insert after, and why it was chosen (one sentence)."""
    blob, why = _choose(net, graph, shapes)
    return blob, why + _auxiliary_note(graph)


def _choose(net: Net, graph: LayerGraph, shapes: ShapeResult) -> tuple[str, str]:
    candidates = find_candidates(graph, shapes)
    if not candidates:
        raise SurgeryError(
            f"{net.source}: found no spatial feature map feeding a classifier"
            f" (phase {graph.state.phase}){_stop_hint(graph, shapes)}"
        )
    if len(candidates) == 1:
        c = candidates[0]
        return c.blob.name, (
            f"'{c.blob.name}' is the last spatial feature map feeding the classifier"
            f" '{c.classifier}' of output '{c.head}'"
        )
    shared = deepest_common_ancestor(graph, shapes, candidates)
    listed = ", ".join(
        f"{c.blob.name} (feeds {c.classifier} -> {c.head})"
        for c in sorted(candidates, key=lambda c: graph.position(c.blob))
    )
    if shared is None:
        raise SurgeryError(
            f"{net.source}: the insertion point is ambiguous: the heads use different feature"
            f" maps with no single deepest one in common: {listed}; choose one with --after"
        )
    return shared.name, (
        f"'{shared.name}' is the deepest spatial feature map shared by every head: {listed}"
    )
