"""The inserted nets run in OpenCV DNN, and the module computes SCNN.

OpenCV's Caffe importer (4.x; 5.x removed it) loads each net with the
caffemodel ``--weights-out`` writes; the module's output is compared with
``tests/reference_scnn.py``, a NumPy SCNN written from the paper's equations,
fed with the blob OpenCV computed for the module's input and with the kernels
stored in the caffemodel. OpenCV ignores param-name sharing, so it only agrees
with the reference because every layer of a direction stores the same blobs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scnn_surgery import ScnnSpec, generate, load, loads
from scnn_surgery.analysis.params import layer_message
from scnn_surgery.analysis.shapes import infer_shapes
from scnn_surgery.core.graph import build_graph
from scnn_surgery.core.net import Layer, Net
from scnn_surgery.schema import caffe_pb2
from scnn_surgery.weights import (
    Caffemodel,
    blob_array,
    initial_weights,
    layer_param_blobs,
    make_blob,
    read_caffemodel,
)

from .conftest import DATA, REPO_ROOT, RunCli, shared_path
from .reference_scnn import ORDER, message, relative_error, scnn_forward

EXAMPLE = REPO_ROOT / "examples" / "scnn_lane_vgg16.prototxt"
TOLERANCE = 1e-5


def kernels(model: Caffemodel, prefix: str = "") -> dict[str, np.ndarray]:
    """Each direction's kernel as stored, checking every layer of the direction holds it."""
    out: dict[str, np.ndarray] = {}
    for entry in model.layers:
        for direction in ORDER:
            if entry.name.startswith(f"{prefix}SCNN_{direction}_") and len(entry.blobs):
                kernel = blob_array(entry.blobs[0])
                if direction in out:
                    assert np.array_equal(out[direction], kernel), entry.name
                else:
                    out[direction] = kernel
    return out


def opencv_name(layer: Layer) -> str:
    """OpenCV registers Convolution layers under their top blob's name."""
    return layer.tops[0] if layer.type == "Convolution" else layer.name


def module_input_layer(net: Net, prefix: str = "") -> Layer:
    slice1 = next(x for x in net.layers if x.name in (f"{prefix}Slice1", f"{prefix}Slice2"))
    return net.layers[net.index_of(slice1) - 1]


# ---------------------------------------------------------------------------
# The reference itself, against the paper's equation written as plain loops


def loop_pass(x: np.ndarray, kernel: np.ndarray, direction: str) -> np.ndarray:
    """X'_i = X_i + relu(sum_{c, t} K[o, c, t] * X'_{i-1}[c, pos + t - pad]), slice by slice."""
    out = x.astype(np.float64).copy()
    n, channels, height, width = x.shape
    vertical = direction in "DU"
    count, length = (height, width) if vertical else (width, height)
    order = range(count) if direction in "DR" else range(count - 1, -1, -1)
    k = kernel.shape[-1]
    pad = (k - 1) // 2
    previous = None
    for i in order:
        if previous is not None:
            for b in range(n):
                for o in range(channels):
                    for pos in range(length):
                        total = 0.0
                        for c in range(channels):
                            for t in range(k):
                                p = pos + t - pad
                                if not 0 <= p < length:
                                    continue
                                at = (b, c, previous, p) if vertical else (b, c, p, previous)
                                total += kernel[o, c, t] * out[at]
                        if vertical:
                            out[b, o, i, pos] += max(total, 0.0)
                        else:
                            out[b, o, pos, i] += max(total, 0.0)
        previous = i
    return out


def test_reference_matches_the_equation_as_loops() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 5))
    blobs = {
        "D": rng.normal(size=(3, 3, 1, 3)), "U": rng.normal(size=(3, 3, 1, 3)),
        "R": rng.normal(size=(3, 3, 3, 1)), "L": rng.normal(size=(3, 3, 3, 1)),
    }
    expected = x
    for direction in "DURL":
        squeezed = blobs[direction][:, :, 0, :] if direction in "DU" else blobs[direction][..., 0]
        expected = loop_pass(expected, squeezed, direction)
    assert relative_error(scnn_forward(x, blobs), expected) < 1e-12
    # the order the caller names the directions in does not matter
    reordered = {d: blobs[d] for d in "LRUD"}
    assert relative_error(scnn_forward(x, reordered), expected) < 1e-12


def test_message_is_a_same_padded_correlation() -> None:
    row = np.array([[[1.0, 2.0, 3.0]]])
    kernel = np.array([[[0.0, 0.0, 1.0]]])  # picks the right neighbour
    assert np.array_equal(message(row, kernel), [[[2.0, 3.0, 0.0]]])
    assert np.array_equal(message(-row, np.array([[[0.0, 1.0, 0.0]]])), [[[0.0, 0.0, 0.0]]])


# ---------------------------------------------------------------------------
# The module alone


def module_prototxt(spec: ScnnSpec, batch: int) -> str:
    dims = f"dim: {batch} dim: {spec.channels} dim: {spec.height} dim: {spec.width}"
    return (
        'name: "module"\n'
        f'layer {{ name: "input" type: "Input" top: "{spec.bottom}"'
        f" input_param {{ shape {{ {dims} }} }} }}\n" + generate(spec)
    )


MODULES = [
    (5, 7, 4, 3, "DULR"),
    (9, 4, 8, 5, "DU"),
    (3, 11, 6, 9, "LR"),
    (6, 6, 3, 3, "DR"),
    (4, 5, 2, 1, "UL"),
    (1, 5, 3, 3, "DULR"),
    (7, 1, 4, 3, "D"),
    (8, 3, 16, 7, "UR"),
]


@pytest.mark.parametrize(("height", "width", "channels", "k", "directions"), MODULES)
def test_module_matches_the_reference(
    cv2: Any, height: int, width: int, channels: int, k: int, directions: str
) -> None:
    spec = ScnnSpec(height=height, width=width, channels=channels, kernel_width=k,
                    bottom="features", directions=directions)
    text = module_prototxt(spec, batch=2)
    made = initial_weights(loads(text), seed=height * 100 + width, spec=spec)
    net = cv2.dnn.readNetFromCaffe(bytearray(text.encode()), bytearray(made.model.to_bytes()))
    x = np.random.default_rng(1).normal(size=(2, channels, height, width)).astype(np.float32)
    net.setInput(x)
    output = net.forward(loads(text).layers[-1].name)
    stored = kernels(made.model)
    assert set(stored) == {d for d in directions if (d in "DU" and height > 1)
                           or (d in "LR" and width > 1)}
    assert output.shape == x.shape
    assert relative_error(output, scnn_forward(x, stored)) <= TOLERANCE


# ---------------------------------------------------------------------------
# Whole nets, through the command line


def input_dims(net: Net) -> tuple[int, ...]:
    if net.inputs and net.inputs[0].dims is not None:
        return net.inputs[0].dims
    layer = next(x for x in net.layers if x.type == "Input")
    return tuple(int(d) for d in layer_message(net, layer).input_param.shape[0].dim)


def run_module(cv2: Any, prototxt: Path, weights: Path, batch: int, seed: int) -> float:
    """Forward ``prototxt`` in OpenCV; the module's relative error against the reference."""
    net = load(prototxt)
    engine = cv2.dnn.readNetFromCaffe(str(prototxt), str(weights))
    dims = input_dims(net)
    x = np.random.default_rng(seed).uniform(-1, 1, size=(batch, *dims[1:])).astype(np.float32)
    engine.setInput(x)
    feed = opencv_name(module_input_layer(net))
    final = next(x for x in reversed(net.layers) if x.name in ("Concat1", "Concat2"))
    outputs = list(engine.getUnconnectedOutLayersNames())
    blobs = engine.forward([feed, final.name, *outputs])
    module_in, module_out = blobs[0], blobs[1]
    assert module_in.shape[0] == batch and all(np.isfinite(b).all() for b in blobs)
    assert float(np.abs(module_in).max()) > 0, "a zero input would prove nothing"
    return relative_error(module_out, scnn_forward(module_in, kernels(read_caffemodel(weights))))


def test_example_runs_end_to_end(cv2: Any, tmp_path: Path, run_cli: RunCli) -> None:
    out, weights = tmp_path / "scnn.prototxt", tmp_path / "scnn.caffemodel"
    code, _, err = run_cli(
        "insert", str(EXAMPLE), "--after", "fc7", "--height", "36", "--width", "100",
        "--channel", "128", "-o", str(out), "--weights-out", str(weights),
    )  # fmt: skip
    assert code == 0, err
    assert run_module(cv2, out, weights, batch=1, seed=0) <= TOLERANCE


def plausible_weights(net: Net, seed: int) -> bytes:
    """Trained-looking weights for a deploy net, which states no useful fillers: He-scaled
    kernels, small biases, BatchNorm statistics of unit variance."""
    rng = np.random.default_rng(seed)
    graph = build_graph(net)
    shapes = infer_shapes(net, graph)
    model = caffe_pb2.NetParameter(name=net.name or "")
    entries = model.layers if net.format == "v1" else model.layer  # a V1 net, a V1 caffemodel
    for layer in graph.layers:
        blobs = layer_param_blobs(net, layer, shapes.layer_inputs(layer))
        assert blobs is not None, layer.name
        entry = entries.add()
        entry.CopyFrom(layer_message(net, layer))
        for i, blob in enumerate(blobs):
            if layer.type == "BatchNorm":
                values = [rng.normal(0, 0.1, blob.shape), rng.uniform(0.5, 1.5, blob.shape),
                          np.ones(blob.shape)][i]
            elif layer.type == "Scale":
                values = rng.normal(1.0 if i == 0 else 0.0, 0.1, blob.shape)
            elif i == 0:
                fan_in = int(np.prod(blob.shape[1:]))
                values = rng.normal(0, np.sqrt(2.0 / fan_in), blob.shape)
            else:
                values = rng.normal(0, 0.1, blob.shape)
            legacy = net.format == "v1"
            entry.blobs.append(make_blob(np.asarray(values, dtype=np.float32), legacy=legacy))
    return model.SerializeToString()


ZOO = [
    ("deploy", "squeezenet_v1_1_deploy", "fire2/squeeze1x1", 56, 56, 16, 9),
    ("deploy", "mobilenet_v2_deploy", "block_4_2", 28, 28, 32, 5),
    ("deploy", "bvlc_googlenet_deploy", "inception_3a/output", 28, 28, 256, 3),
    ("deploy", "resnet50_deploy", "res2a", 56, 56, 256, 3),
]


@pytest.mark.parametrize(
    ("folder", "stem", "after", "height", "width", "channels", "k"), ZOO, ids=[z[1] for z in ZOO]
)
def test_zoo_net_runs_in_opencv(
    cv2: Any, tmp_path: Path, folder: str, stem: str, after: str, height: int, width: int,
    channels: int, k: int, run_cli: RunCli,
) -> None:
    src = shared_path("zoo", folder, f"{stem}.prototxt")
    trained = tmp_path / "trained.caffemodel"
    trained.write_bytes(plausible_weights(load(src), seed=3))
    out, weights = tmp_path / "scnn.prototxt", tmp_path / "scnn.caffemodel"
    code, _, err = run_cli(
        "insert", str(src), "--after", after, "--height", str(height), "--width", str(width),
        "--channel", str(channels), "--kernel-width", str(k), "-o", str(out),
        "--weights", str(trained), "--weights-out", str(weights),
    )  # fmt: skip
    assert code == 0, err
    before = {e.name: list(e.blobs) for e in read_caffemodel(trained).layers}
    after_insert = read_caffemodel(weights)
    for entry in after_insert.layers:
        if entry.name in before:
            assert list(entry.blobs) == before[entry.name], entry.name
    assert run_module(cv2, out, weights, batch=2, seed=4) <= TOLERANCE


def test_a_v1_net_with_its_caffemodel_runs_after_insert(
    cv2: Any, tmp_path: Path, run_cli: RunCli
) -> None:
    """Into a V1 file the module is written as V1 layers, with axis (not slice_dim or
    concat_dim, which OpenCV ignores); the V1 caffemodel stays V1."""
    src = DATA / "v1_small_deploy.prototxt"
    trained = tmp_path / "trained.caffemodel"
    trained.write_bytes(plausible_weights(load(src), seed=5))
    out, weights = tmp_path / "scnn.prototxt", tmp_path / "scnn.caffemodel"
    code, _, err = run_cli(
        "insert", str(src), "--kernel-width", "3", "-o", str(out),
        "--weights", str(trained), "--weights-out", str(weights),
    )  # fmt: skip
    assert code == 0, err
    text = out.read_text()
    assert "\nlayer {" not in text and "type: SLICE" in text
    assert "slice_dim" not in text and "concat_dim" not in text
    assert read_caffemodel(weights).legacy
    code, found, _ = run_cli("check", str(out), "--weights", str(weights), "--target", "opencv")
    assert code == 0, found
    assert run_module(cv2, out, weights, batch=1, seed=6) <= TOLERANCE


def test_a_spliced_se_block_runs_with_its_caffemodel(
    cv2: Any, tmp_path: Path, run_cli: RunCli
) -> None:
    """The fragment's blobs come from its fillers, the net's are carried by name; OpenCV's
    output of the block equals squeeze-and-excitation computed in NumPy from those blobs."""
    src = shared_path("zoo", "deploy", "resnet50_deploy.prototxt")
    trained = tmp_path / "trained.caffemodel"
    trained.write_bytes(plausible_weights(load(src), seed=7))
    out, weights = tmp_path / "se.prototxt", tmp_path / "se.caffemodel"
    code, _, err = run_cli(
        "splice", str(src), str(DATA / "se_block.prototxt"), "--after", "res5c", "-o", str(out),
        "--weights", str(trained), "--weights-out", str(weights),
    )  # fmt: skip
    assert code == 0, err
    stored = {e.name: [blob_array(b) for b in e.blobs] for e in read_caffemodel(weights).layers}
    for entry in read_caffemodel(trained).layers:  # the net's own blobs are carried as they were
        assert all(
            np.array_equal(a, b)
            for a, b in zip(stored[entry.name], map(blob_array, entry.blobs), strict=True)
        )
    engine = cv2.dnn.readNetFromCaffe(str(out), str(weights))
    x = np.random.default_rng(8).uniform(-1, 1, size=(1, 3, 224, 224)).astype(np.float32)
    engine.setInput(x)
    features, excited = engine.forward(["res5c_relu", "se/excite"])  # the ReLU'd map it reads
    squeeze = features.mean(axis=(2, 3))
    w1, b1 = stored["se/reduce"][0][:, :, 0, 0], stored["se/reduce"][1]
    w2, b2 = stored["se/expand"][0][:, :, 0, 0], stored["se/expand"][1]
    logits = np.maximum(squeeze @ w1.T + b1, 0) @ w2.T + b2
    gate = 0.5 * (1 + np.tanh(logits / 2))  # the sigmoid, without overflow
    assert 0 < float(gate.mean()) < 1  # some channels pass, some are gated off
    assert relative_error(excited, features * gate[:, :, None, None]) <= TOLERANCE


def test_a_stripped_net_with_its_caffemodel_computes_what_the_net_did(
    cv2: Any, tmp_path: Path, run_cli: RunCli
) -> None:
    """insert, then strip with the caffemodel carried both ways: the stripped net and its
    weights give OpenCV the original net's output exactly."""
    src = shared_path("zoo", "deploy", "squeezenet_v1_1_deploy.prototxt")
    trained = tmp_path / "trained.caffemodel"
    trained.write_bytes(plausible_weights(load(src), seed=9))
    scnn, scnn_weights = tmp_path / "scnn.prototxt", tmp_path / "scnn.caffemodel"
    code, _, err = run_cli(
        "insert", str(src), "--after", "fire2/squeeze1x1", "--kernel-width", "3",
        "-o", str(scnn), "--weights", str(trained), "--weights-out", str(scnn_weights),
    )  # fmt: skip
    assert code == 0, err
    plain, plain_weights = tmp_path / "plain.prototxt", tmp_path / "plain.caffemodel"
    code, _, err = run_cli(
        "strip", str(scnn), "-o", str(plain),
        "--weights", str(scnn_weights), "--weights-out", str(plain_weights),
    )  # fmt: skip
    assert code == 0, err
    assert plain.read_bytes() == src.read_bytes()
    assert not any(e.name.startswith("SCNN_") for e in read_caffemodel(plain_weights).layers)
    x = np.random.default_rng(10).uniform(-1, 1, size=(1, 3, 227, 227)).astype(np.float32)
    outputs = []
    for prototxt, caffemodel in ((src, trained), (plain, plain_weights)):
        engine = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))
        engine.setInput(x)
        outputs.append(engine.forward())
    assert np.array_equal(outputs[0], outputs[1])
