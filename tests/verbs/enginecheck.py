"""Random, non-degenerate weights for a whole net, and its outputs in OpenCV DNN: what the
value-changing verbs (fold-bn, retarget) are compared with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from scnn_surgery import loads
from scnn_surgery.analysis.params import layer_message
from scnn_surgery.analysis.shapes import infer_shapes
from scnn_surgery.core.graph import build_graph
from scnn_surgery.core.net import Net
from scnn_surgery.schema import caffe_pb2
from scnn_surgery.weights import layer_param_blobs, make_blob


def random_weights(net: Net, seed: int) -> bytes:
    """Every blob random: He-scaled kernels, random biases, Scale factors near 1, and
    BatchNorm statistics with positive variances and a random moving-average factor."""
    rng = np.random.default_rng(seed)
    graph = build_graph(net)
    shapes = infer_shapes(net, graph)
    model = caffe_pb2.NetParameter(name=net.name or "")
    for layer in graph.layers:
        blobs = layer_param_blobs(net, layer, shapes.layer_inputs(layer))
        assert blobs is not None, layer.name
        if not blobs:
            continue
        entry = model.layer.add()
        entry.CopyFrom(layer_message(net, layer))
        for i, blob in enumerate(blobs):
            normal = rng.standard_normal(blob.shape, dtype=np.float32)
            if layer.type == "BatchNorm":
                low, high = [(-1.0, 1.0), (0.2, 2.0), (0.5, 2.0)][i]
                values = rng.uniform(low, high, blob.shape).astype(np.float32)
            elif layer.type == "Scale":
                values = normal * 0.2 + (1.0 if i == 0 else 0.0)
            elif i == 0:
                fan_in = max(1, int(np.prod(blob.shape[1:])))
                values = normal * np.float32(np.sqrt(2.0 / fan_in))
            else:
                values = normal * 0.2
            entry.blobs.append(make_blob(values))
    return bytes(model.SerializeToString())


def input_shape(net: Net) -> tuple[int, ...]:
    graph = build_graph(net)
    shapes = infer_shapes(net, graph)
    if net.inputs:
        found = shapes.final(net.inputs[0].name)
    else:
        first = next(x for x in graph.layers if x.type == "Input")
        found = shapes.layer_outputs(first)[0]
    assert found is not None and all(d is not None for d in found)
    return tuple(int(d) for d in found if d is not None)


def outputs(
    cv2: Any, prototxt: bytes, weights: bytes, x: np.ndarray, blobs: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """The net's output blobs (or ``blobs``) by name, a Softmax's input in place of its
    output (random weights saturate a Softmax, which would hide a difference). OpenCV's
    layer fusion is off: OpenCV 4.x folds a BatchNorm into a grouped Deconvolution
    wrongly, and a comparison is of the nets, not of OpenCV's rewrites."""
    net = loads(prototxt.decode())
    graph = build_graph(net)
    blobs = list(blobs) or sorted(v.name for v in graph.outputs())
    softmax_input = {
        layer.tops[0]: layer.bottoms[0] for layer in graph.layers if layer.type == "Softmax"
    }
    blobs = [softmax_input.get(b, b) for b in blobs]
    last_writer = {top: layer.name for layer in graph.layers for top in layer.tops}
    engine = cv2.dnn.readNetFromCaffe(
        np.frombuffer(prototxt, np.uint8), np.frombuffer(weights, np.uint8)
    )
    engine.enableFusion(False)
    engine.setInput(x)
    found = engine.forward([last_writer[b] for b in blobs])
    return dict(zip(blobs, found, strict=True))
