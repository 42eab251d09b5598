"""Choose the insertion point when ``--after`` is omitted: the top hidden layer.

For each net output, walk back to the nearest classifier (a Convolution,
Deconvolution or InnerProduct), take its input, and follow that back until
the blob is a spatial map (H, W >= 2).  One candidate is the answer.  With
several heads, the answer is the deepest spatial blob every candidate is
computed from (their lowest common ancestor).  When that is not unique, or
is only the net's input, the choice is ambiguous and refused with the
candidates listed, so the user can name one with ``--after``.

The structure of the net, never its names, refines this (each is a networkx question
over the :class:`LayerGraph`, and the reason names the rule that decided):

* **Gates are part of their block.** A branch that is 1x1 in space and multiplies a map
  it was computed from (a squeeze-and-excitation gate: global pool, 1x1 convolutions,
  Sigmoid, then Axpy, a two-bottom Scale or an Eltwise PROD with the map) carries no
  features to a head: its convolutions are never "the classifier", and a net that ends
  in such a block has the block's output as its point.
* **Regions are not the scene.** What ROIPooling, PSROIPooling or ROIAlign make is one
  map per region; a candidate computed from one is replaced by the scene map the region
  layer reads (the map the RPN reads as well). The regions bottom carries boxes, not
  features, and is not followed.
* **Upsamplers are not classifiers.** A Deconvolution with stride > 1 that keeps the
  channels, whose weights are frozen (``lr_mult: 0``) or per channel (``group`` equal to
  ``num_output``), and that reads a classifier's scores (through crops, sums and other
  such upsamplers, with no activation between) only resizes class scores: FCN's
  ``upscore``. The search goes on through it to the classifier that made the scores.
* **Skips are fused into the deepest scores.** When a head that passes such an upsampler
  has classifiers on maps of one trunk, each computed from the next (FCN-16s/8s add the
  scores of ``pool4`` and ``pool3`` to the upsampled scores of ``fc7``), the shallower ones
  are skips refining the deepest one, and the point is the deepest map: the top hidden
  layer, as on the skip-less net.
* **Auxiliary heads are deep supervision; other heads are tasks.** A loss weighted below
  1 that branches from an earlier map than the main heads' point (GoogLeNet's 0.3
  classifiers, PSPNet's 0.4) is set aside. Heads of weight 1 or more are tasks, and the
  point is the deepest map every task shares.

Bottoms that only lend their shape (PriorBox's, Crop's and Interp's
reference blob) are not followed: they carry no features to a head.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import networkx as nx

from ..core.graph import BlobVersion, LayerGraph, Node
from ..core.net import Layer, Net
from ..errors import SurgeryError
from ..schema import caffe_pb2
from .params import conv_params, layer_message, part_message
from .shapes import ShapeResult, shape_flag

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
# Layers that pool one map per region of interest from a scene map (bottom 0) and the
# regions (bottom 1).
REGION_TYPES = frozenset({"ROIPooling", "PSROIPooling", "ROIAlign", "DFMBPSROIAlign"})
# layer type -> indices of bottoms read for their shape only (None: every bottom)
SHAPE_ONLY_BOTTOMS: dict[str, frozenset[int] | None] = {
    "PriorBox": None,
    "Crop": frozenset({1}),
    "Interp": frozenset({1}),
    # the regions: boxes from a proposal layer, not features
    **dict.fromkeys(REGION_TYPES, frozenset({1})),
}
# What a gate passes through between its 1x1 map and the product: activations and the
# layers that spread a 1x1 map over the map it gates.
_GATE_PATH_TYPES = frozenset(
    {
        "Sigmoid", "HardSigmoid", "TanH", "ReLU", "ReLU6", "Power", "Dropout", "BatchNorm",
        "Scale", "Bias", "Tile", "Upsample", "Interp", "Reshape", "Flatten", "Split",
    }
)  # fmt: skip
# A gated block's output may pass these before it is the net's output (and the Eltwise SUM
# with its shortcut), within a few layers.
_BLOCK_TAIL_TYPES = frozenset({"ReLU", "ReLU6", "PReLU", "BatchNorm", "Scale", "Bias", "Dropout"})
_BLOCK_TAIL_DEPTH = 4


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
    rule: str = ""  # the structural rule that moved it, if any (for the reason)


def is_spatial(shape: Sequence[int | None] | None) -> bool:
    return (
        shape is not None
        and len(shape) == 4
        and shape[2] is not None
        and shape[3] is not None
        and shape[2] >= 2
        and shape[3] >= 2
    )


def _pointwise(shape: Sequence[int | None] | None) -> bool:
    """1x1 in space: N x C x 1 x 1, or a plain N x C vector."""
    if shape is None:
        return False
    return len(shape) == 2 or (len(shape) == 4 and shape[2] == 1 and shape[3] == 1)


# ---------------------------------------------------------------------------
# Gates (squeeze-and-excitation)


@dataclass
class _Gates:
    """Which bottoms of each layer are gates, found once per choice."""

    graph: LayerGraph
    shapes: ShapeResult
    found: dict[Layer, frozenset[int]] = field(default_factory=dict)

    def of(self, layer: Layer) -> frozenset[int]:
        known = self.found.get(layer)
        if known is None:
            known = self.found[layer] = self._find(layer)
        return known

    def _find(self, layer: Layer) -> frozenset[int]:
        bound = self.graph.bottoms(layer)
        if layer.type == "Axpy":
            candidates = [0]
        elif layer.type == "Scale" and len(bound) == 2:
            candidates = [1]
        elif layer.type == "Eltwise" and len(bound) >= 2 and self._product(layer):
            candidates = list(range(len(bound)))
        else:
            return frozenset()
        gates = set()
        for i in candidates:
            version = bound[i]
            others = {v for j, v in enumerate(bound) if j != i and v is not None}
            if version is not None and self._gates(version, others):
                gates.add(i)
        if len(gates) == len(bound):  # every operand a gate: no map is gated
            return frozenset()
        return frozenset(gates)

    def _product(self, layer: Layer) -> bool:
        message = part_message(self.graph.net, layer, "eltwise_param")
        return bool(message.eltwise_param.operation == caffe_pb2.EltwiseParameter.PROD)

    def _gates(self, version: BlobVersion, others: set[BlobVersion]) -> bool:
        """Whether ``version`` is a 1x1 map (through activations and broadcasts) computed
        from one of the maps it multiplies (``others``)."""
        current: BlobVersion | None = version
        while current is not None and not _pointwise(self.shapes.blob(current)):
            producer = self.graph.producer(current)
            if producer is None or producer.type not in _GATE_PATH_TYPES:
                return False
            current = self.graph.bottom(producer, 0)
        if current is None:
            return False
        ancestors = nx.ancestors(self.graph.graph, current)
        return any(other in ancestors for other in others)

    def gated_block(self, version: BlobVersion) -> Layer | None:
        """The gating layer whose block ends in ``version``: reached back through the block's
        tail (a ReLU, a BatchNorm, the Eltwise SUM with the shortcut), a few layers at most."""
        frontier = [version]
        for _ in range(_BLOCK_TAIL_DEPTH):
            found = []
            for current in frontier:
                producer = self.graph.producer(current)
                if producer is None:
                    continue
                if self.of(producer):
                    return producer
                if producer.type in _BLOCK_TAIL_TYPES:
                    found.append(self.graph.bottom(producer, 0))
                elif producer.type == "Eltwise" and not self._product(producer):
                    found += self.graph.bottoms(producer)  # the shortcut's sum
            frontier = [v for v in found if v is not None]
        return None


# ---------------------------------------------------------------------------
# Upsamplers (FCN's score upsampling)

# What carries a classifier's scores to an upsampler: the crops and sums that fuse skips,
# splits, and the layers that resize without learning.
_SCORE_PATH_TYPES = frozenset({"Crop", "Eltwise", "Split", "Interp", "Upsample"})


def _frozen(net: Net, layer: Layer) -> bool:
    """Whether the layer's weights (its first parameter blob) never learn: lr_mult 0."""
    if layer.format == "v1":
        rates = list(part_message(net, layer, "blobs_lr").blobs_lr)
    else:
        rates = [spec.lr_mult for spec in part_message(net, layer, "param").param]
    return bool(rates) and rates[0] == 0


@dataclass
class _Upsamplers:
    """Which Deconvolutions only upsample a classifier's scores, found once per choice."""

    graph: LayerGraph
    shapes: ShapeResult
    found: dict[Layer, bool] = field(default_factory=dict)

    def of(self, layer: Layer) -> bool:
        known = self.found.get(layer)
        if known is None:
            known = self.found[layer] = self._resizes(layer) and self._reads_scores(layer)
        return known

    def _resizes(self, layer: Layer) -> bool:
        """A strided Deconvolution that keeps the channels and cannot classify: its weights
        are frozen (FCN's bilinear ``upscore``) or per channel (``group`` = ``num_output``)."""
        if layer.type != "Deconvolution" or layer.format == "v0":
            return False
        conv = conv_params(self.graph.net, layer)
        if max(conv.stride_hw or conv.stride or (1,)) < 2 or conv.num_output is None:
            return False
        bottom = self.graph.bottom(layer, 0)
        shape = self.shapes.blob(bottom) if bottom is not None else None
        if shape is not None and len(shape) > 1 and shape[1] not in (None, conv.num_output):
            return False
        return conv.group == conv.num_output or _frozen(self.graph.net, layer)

    def _reads_scores(self, layer: Layer) -> bool:
        """Whether every path back from the layer's input, through crops, sums and other
        resizing layers, ends at a classifier's output: the map is scores, not features
        (an activation or a normalisation on the way means features)."""
        pending: list[BlobVersion | None] = [self.graph.bottom(layer, 0)]
        seen: set[BlobVersion] = set()
        scores = False
        while pending:
            version = pending.pop()
            if version is None:
                return False
            if version in seen:
                continue
            seen.add(version)
            producer = self.graph.producer(version)
            if producer is None:
                return False
            resizes = self._resizes(producer)
            if producer.type in CLASSIFIER_TYPES and not resizes:
                scores = True
            elif producer.type in _SCORE_PATH_TYPES or resizes:
                bound = self.graph.bottoms(producer)
                pending += [bound[i] for i in _feature_bottoms(producer.type, len(bound))]
            else:
                return False
        return scores


def _upsampling_rule(passed: Sequence[Layer]) -> str:
    """Why the upsamplers a head's search went through are not its classifier."""
    if not passed:
        return ""
    one = len(passed) == 1
    return (
        f"{_names([layer.name for layer in passed])} only upsample{'s' if one else ''}"
        " class scores (a Deconvolution with stride > 1 that keeps the channels, its"
        f" weights frozen or per channel), so {'it is' if one else 'they are'} not"
        " the classifier"
    )


def _skips(
    graph: LayerGraph, found: Sequence[tuple[BlobVersion, str]]
) -> tuple[list[tuple[BlobVersion, str]], str]:
    """Of the maps whose scores one upsampled head fuses, the deepest when the others are
    all computed before it on its trunk (FCN-16s/8s), with the rule; else all of them."""
    sources = list(dict.fromkeys(version for version, _ in found))
    if len(sources) < 2:
        return list(found), ""
    deepest = max(sources, key=graph.position)
    trunk = nx.ancestors(graph.graph, deepest)
    if not all(version in trunk for version in sources if version != deepest):
        return list(found), ""
    shallower = sorted(
        (item for item in found if item[0] != deepest),
        key=lambda item: graph.position(item[0]),
        reverse=True,
    )
    skips = [f"'{version.name}' ({classifier})" for version, classifier in shallower]
    listed = " and ".join([", ".join(skips[:-1]), skips[-1]] if len(skips) > 1 else skips)
    rule = (
        f"{listed} {'is a skip' if len(skips) == 1 else 'are skips'}: the scores made from"
        f" {'it are' if len(skips) == 1 else 'them are'} fused with the upsampled scores"
        f" of '{deepest.name}', which is computed from {'it' if len(skips) == 1 else 'them'},"
        " so the point is the deepest map (the top hidden layer)"
    )
    return [item for item in found if item[0] == deepest], rule


def _feature_edge(gates: _Gates, upsamplers: _Upsamplers) -> Callable[[Node, Node], bool]:
    """Whether an edge carries features towards a head: not into a classifier (the search
    stops there; an upsampler is none), not a bottom read only for its shape, and not a
    gate."""
    graph = gates.graph

    def keep(u: Node, v: Node) -> bool:
        if not isinstance(v, Layer):
            return True
        if v.type in CLASSIFIER_TYPES and not upsamplers.of(v):
            return False
        bound = graph.bottoms(v)
        gated = gates.of(v)
        return any(bound[i] == u and i not in gated for i in _feature_bottoms(v.type, len(bound)))

    return keep


def _classifier_inputs(
    gates: _Gates, upsamplers: _Upsamplers, output: BlobVersion
) -> tuple[list[tuple[BlobVersion, str]], list[Layer]]:
    """The inputs of the nearest classifiers above ``output`` (the classifiers among its
    ancestors over feature edges, which end at classifiers), and the upsamplers passed on
    the way, each latest first."""
    graph = gates.graph
    features = nx.subgraph_view(graph.graph, filter_edge=_feature_edge(gates, upsamplers))
    found = []
    passed = []
    for node in nx.ancestors(features, output):
        if not isinstance(node, Layer) or node.type not in CLASSIFIER_TYPES:
            continue
        source = graph.bottom(node, 0)
        if upsamplers.of(node):
            passed.append(node)
        elif source is not None:
            found.append((source, node))
    found.sort(key=lambda item: -graph.net.index_of(item[1]))
    passed.sort(key=lambda layer: -graph.net.index_of(layer))
    return [(source, layer.name) for source, layer in found], passed


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


# ---------------------------------------------------------------------------
# Regions


def _scene_map(
    graph: LayerGraph, shapes: ShapeResult, version: BlobVersion
) -> tuple[BlobVersion, str]:
    """The scene map a per-region blob is pooled from (the blob itself when it is not
    per region), and the rule that moved it there."""
    moved = ""
    if not any(layer.type in REGION_TYPES for layer in graph.layers):
        return version, moved  # no region layer to walk back from (most nets)
    for _ in range(len(graph.layers)):
        regions = [
            node
            for node in nx.ancestors(graph.graph, version)
            if isinstance(node, Layer) and node.type in REGION_TYPES
        ]
        if not regions:
            break
        nearest = max(regions, key=graph.net.index_of)
        scene = graph.bottom(nearest, 0)
        if scene is None:
            break
        spatial, _ = _walk_to_spatial(graph, shapes, scene)
        if spatial is None:
            break
        readers = [layer.name for layer, _ in graph.consumers(scene) if layer is not nearest]
        also = (
            f", which {_names(readers)} read{'s' if len(readers) == 1 else ''} too"
            if readers
            else ""
        )
        moved = (
            f"'{version.name}' is per region ({nearest.type} '{nearest.name}'), so the point"
            f" is the scene map it pools from{also}"
        )
        version = spatial
    return version, moved


def _names(names: Sequence[str]) -> str:
    shown = [f"'{n}'" for n in names[:3]]
    return ", ".join(shown) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


# ---------------------------------------------------------------------------
# Heads


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
    """(tasks, light): without losses every output is a task; with losses, the heads of
    weight 1 or more (else the heaviest) are tasks, the lighter weighted ones may be
    auxiliary, and outputs that carry no loss (accuracies) do not pull the point."""
    heads = _all_heads(graph)
    heaviest = max((h.loss_weight for h in heads), default=0.0)
    if heaviest <= 0:
        return heads, []
    tasks = [h for h in heads if h.loss_weight >= min(1.0, heaviest)]
    light = [h for h in heads if 0 < h.loss_weight < min(1.0, heaviest)]
    return tasks, light


def _prediction_above(gates: _Gates, version: BlobVersion) -> BlobVersion | None:
    """The Softmax/Sigmoid output a map is computed from, with no classifier between.

    A branch that pools a probability map (SCNN's lane-existence head) is a head on
    a head: its features are those of the classifier that made the probabilities. The
    walk follows each layer's first feature bottom, never a gate (an SE gate's Sigmoid
    is part of its block).
    """
    graph = gates.graph
    current: BlobVersion | None = version
    while current is not None:
        layer = graph.producer(current)
        if layer is None or layer.type in CLASSIFIER_TYPES:
            return None
        if layer.type in PREDICTION_TYPES:
            return current
        bound = graph.bottoms(layer)
        gated = gates.of(layer)
        features = [i for i in _feature_bottoms(layer.type, len(bound)) if i not in gated]
        current = bound[features[0]] if features else None
    return None


def find_candidates(
    graph: LayerGraph, shapes: ShapeResult, heads: Sequence[Head] | None = None
) -> list[Candidate]:
    gates = _Gates(graph, shapes)
    upsamplers = _Upsamplers(graph, shapes)
    candidates: list[Candidate] = []
    seen: set[BlobVersion] = set()
    chosen = main_heads(graph)[0] if heads is None else heads
    pending = deque((h.name, h.version) for h in chosen)

    def add(candidate: Candidate) -> None:
        if all(c.blob != candidate.blob for c in candidates):
            candidates.append(candidate)

    while pending:
        head, output = pending.popleft()
        if output in seen:
            continue
        seen.add(output)
        block = gates.gated_block(output)
        if block is not None and is_spatial(shapes.blob(output)):
            gate = ", ".join(graph.bottoms(block)[i].name for i in sorted(gates.of(block)))  # type: ignore[union-attr]
            add(
                Candidate(
                    output, head, block.name,
                    f"'{output.name}' is the output of the block gated by '{gate}'"
                    f" ({block.type} '{block.name}'); a 1x1 gate is part of its block,"
                    " not a classifier",
                )
            )  # fmt: skip
            continue
        found, passed = _classifier_inputs(gates, upsamplers, output)
        walked = []
        for version, classifier in found:
            source, _ = _walk_to_spatial(graph, shapes, version)
            if source is not None:
                walked.append((source, classifier))
        skips = ""
        if passed:
            walked, skips = _skips(graph, walked)
        for source, classifier in walked:
            prediction = _prediction_above(gates, source)
            if prediction is not None:
                pending.append((head, prediction))
                continue
            scene, rule = _scene_map(graph, shapes, source)
            rules = (_upsampling_rule(passed), skips, rule)
            add(Candidate(scene, head, classifier, "; ".join(r for r in rules if r)))
    return candidates


def _unknown_inputs(graph: LayerGraph, shapes: ShapeResult) -> list[str]:
    """Classifier inputs whose shape inference could not tell, for the refusal message."""
    gates = _Gates(graph, shapes)
    upsamplers = _Upsamplers(graph, shapes)
    names = []
    for head in main_heads(graph)[0]:
        for version, _ in _classifier_inputs(gates, upsamplers, head.version)[0]:
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
            f" its output size); give it with {shape_flag(source.tops[0], 'N,C,H,W')}"
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


def _weights(heads: Sequence[Head]) -> str:
    return ", ".join(f"{h.name} ({h.loss_weight:g})" for h in heads)


def choose_blob(net: Net, graph: LayerGraph, shapes: ShapeResult) -> tuple[str, str]:
    """The blob name to insert after, and why it was chosen (one sentence, naming the rule
    that decided)."""
    tasks, light = main_heads(graph)
    blob, why = _choose(net, graph, shapes, tasks, weighted=bool(light) or _any_loss(tasks))
    if not light:
        return blob.name, why
    # A lighter loss is deep supervision when it reads an earlier map of the main trunk;
    # on a branch of its own (or past the point) it is one more task.
    trunk = nx.ancestors(graph.graph, blob)
    auxiliary: list[Head] = []
    more: list[Head] = []
    for head in light:
        mine = find_candidates(graph, shapes, [head])
        earlier = bool(mine) and all(_branches_before(graph, c.blob, blob, trunk) for c in mine)
        (auxiliary if earlier else more).append(head)
    if more:
        blob, why = _choose(net, graph, shapes, [*tasks, *more], weighted=True)
    if auxiliary:
        heaviest = max(h.loss_weight for h in tasks)
        why += (
            f"; the auxiliary heads {_weights(auxiliary)}, weighted below the main loss's"
            f" {heaviest:g} and branching from an earlier map than '{blob.name}', are deep"
            " supervision and not followed"
        )
    return blob.name, why


def _branches_before(
    graph: LayerGraph, candidate: BlobVersion, point: BlobVersion, trunk: set[Node]
) -> bool:
    """Whether ``candidate`` branches off the trunk below ``point`` (``trunk`` is its
    ancestors): it is not computed from the point, but from a computed map of the trunk."""
    mine = nx.ancestors(graph.graph, candidate) | {candidate}
    if point in mine:
        return False
    return any(isinstance(v, BlobVersion) and _computed(graph, v) for v in mine & trunk)


def _any_loss(heads: Sequence[Head]) -> bool:
    return any(h.loss_weight > 0 for h in heads)


def _choose(
    net: Net, graph: LayerGraph, shapes: ShapeResult, heads: Sequence[Head], weighted: bool
) -> tuple[BlobVersion, str]:
    candidates = find_candidates(graph, shapes, heads)
    if not candidates:
        raise SurgeryError(
            f"{net.source}: found no spatial feature map feeding a classifier"
            f" (phase {graph.state.phase}){_stop_hint(graph, shapes)}"
        )
    if len(candidates) == 1:
        c = candidates[0]
        if c.rule.startswith(f"'{c.blob.name}' is the output of the block"):
            return c.blob, f"{c.rule} (output '{c.head}')"
        why = (
            f"'{c.blob.name}' is the last spatial feature map feeding the classifier"
            f" '{c.classifier}' of output '{c.head}'"
        )
        return c.blob, why + (f"; {c.rule}" if c.rule else "")
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
    rules = "; ".join(dict.fromkeys(c.rule for c in candidates if c.rule))
    tasks = [h for h in heads if h.loss_weight > 0]
    if weighted and len(tasks) > 1:
        which = "of weight 1 or more" if min(h.loss_weight for h in tasks) >= 1 else "heaviest"
        why = (
            f"'{shared.name}' is the deepest spatial feature map all {len(tasks)} tasks"
            f" share (the losses {which}: {_weights(tasks)}): {listed}"
        )
    else:
        why = f"'{shared.name}' is the deepest spatial feature map shared by every head: {listed}"
    return shared, why + (f"; {rules}" if rules else "")
