"""Reference engines for the export tests: random non-degenerate caffemodels, onnxruntime,
and the deploy copy of a net OpenCV 4.x can read (``scripts/compare_onnx_zoo.py`` uses
them too)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scnn_surgery.analysis.params import layer_message
from scnn_surgery.analysis.shapes import infer_shapes
from scnn_surgery.core.graph import build_graph
from scnn_surgery.core.net import Layer, Net, param_names
from scnn_surgery.onnx_export.blobs import expected_blob_shapes
from scnn_surgery.onnx_export.layers import is_data, left_out
from scnn_surgery.schema import caffe_pb2
from scnn_surgery.weights import make_blob


def random_weights(
    net: Net,
    seed: int,
    factor: float = 1.0,
    shapes: Mapping[str, Sequence[int | None]] | None = None,
) -> bytes:
    """A caffemodel with every blob random (not the fillers' zeros): BatchNorm variances
    positive and its scale factor ``factor``, fork BN variances positive too."""
    rng = np.random.default_rng(seed)
    shared: dict[str, np.ndarray] = {}  # a shared parameter: one value, stored in each layer
    graph = build_graph(net)
    inferred = infer_shapes(net, graph, shapes)
    model = caffe_pb2.NetParameter(name=net.name or "")
    entries = model.layers if net.format == "v1" else model.layer
    for layer in graph.layers:
        blobs = expected_blob_shapes(net, layer, inferred.layer_inputs(layer), None)
        if not blobs:
            continue
        entry = entries.add()
        entry.CopyFrom(layer_message(net, layer))
        names = param_names(layer)
        for i, shape in enumerate(blobs):
            name = names[i] if i < len(names) else None
            if name and name in shared:
                values = shared[name]
            elif layer.type == "BatchNorm" and i == 2:
                values = np.full(shape, factor)
            elif (layer.type == "BatchNorm" and i == 1) or (layer.type == "BN" and i == 3):
                values = rng.uniform(0.5, 1.5, shape)
            elif i == 0 and len(shape) > 1 and layer.type != "BN":
                # He's scale; a kernel shared along an SCNN pass gets the module's own
                # (a fifth of the variance), or 60 passes in a row grow without bound
                variance = 2.0 / max(1, int(np.prod(shape[1:]))) / (5 if name else 1)
                values = rng.normal(0, np.sqrt(variance), shape)
            else:
                values = rng.normal(0, 0.5, shape)
            if name:
                shared.setdefault(name, values)
            entry.blobs.append(make_blob(np.asarray(values, np.float32), net.format == "v1"))
    return model.SerializeToString()


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    scale = float(np.abs(want).max())
    assert scale > 0, "a zero output would prove nothing"
    return float(np.abs(got.reshape(want.shape) - want).max()) / scale


def run_onnx(model: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs: list[np.ndarray] = session.run(None, feeds)
    return outputs


def _block(layer: Layer) -> tuple[int, int]:
    assert layer.text is not None
    return layer.text.block.start, layer.text.block.end


def opencv_copy(net: Net, inputs: dict[str, tuple[int, ...]]) -> str:
    """The net as OpenCV can read and run it: data layers as top-level inputs of the
    ``inputs`` sizes, losses and the layers the TEST phase leaves out removed (OpenCV
    ignores include/exclude), the forks' BN as the BatchNorm + Scale pair that computes the
    same (slope * (x - mean) / sqrt(var + eps) + bias), concat_dim and slice_dim as axis."""
    text = net.document.text
    edits: list[tuple[int, int, str]] = []
    running = set(build_graph(net).layers)  # OpenCV ignores include/exclude: TEST's only
    for layer in net.layers:
        data = is_data(layer.type) and layer.type != "Input"
        if data or left_out(layer.type) or layer not in running:
            edits.append((*_block(layer), ""))
        elif layer.type == "BN":
            bottom, top = layer.bottoms[0], layer.tops[0]
            pair = (
                f'layer {{ name: "{layer.name}/bnorm" type: "BatchNorm" bottom: "{bottom}"'
                f' top: "{top}" batch_norm_param {{ use_global_stats: true eps: 1e-5 }} }}\n'
                f'layer {{ name: "{layer.name}" type: "Scale" bottom: "{top}" top: "{top}"'
                " scale_param { bias_term: true } }"
            )
            edits.append((*_block(layer), pair))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    # OpenCV reads only `axis` (Caffe: concat_dim and slice_dim are the same axis)
    text = re.sub(r"\b(concat_dim|slice_dim)\s*:", "axis:", text)
    if any(is_data(x.type) and x.type != "Input" for x in running):
        head = "".join(
            f'input: "{name}"\ninput_shape {{ {" ".join(f"dim: {d}" for d in dims)} }}\n'
            for name, dims in inputs.items()
        )
        text = head + text
    return text


def opencv_weights(model: bytes, net: Net) -> bytes:
    """The caffemodel for :func:`opencv_copy`: BN's blobs split into BatchNorm's and Scale's."""
    parsed = caffe_pb2.NetParameter.FromString(model)
    bn = {x.name for x in net.layers if x.type == "BN"}
    out = caffe_pb2.NetParameter(name=parsed.name)
    for entry in parsed.layer:
        if entry.name not in bn:
            out.layer.add().CopyFrom(entry)
            continue
        slope, bias, mean, var = entry.blobs
        norm = out.layer.add(name=f"{entry.name}/bnorm", type="BatchNorm")
        for blob in (mean, var):
            norm.blobs.add(data=blob.data).shape.dim.extend([len(blob.data)])
        norm.blobs.add(data=[1.0]).shape.dim.extend([1])
        scale = out.layer.add(name=entry.name, type="Scale")
        for blob in (slope, bias):
            scale.blobs.add(data=blob.data).shape.dim.extend([len(blob.data)])
    return out.SerializeToString()
