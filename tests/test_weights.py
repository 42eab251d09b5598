"""Caffemodel reading, writing, filling and carry-over (``scnn_surgery.weights``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scnn_surgery import (
    InsertOptions,
    ScnnSpec,
    SpliceOptions,
    build_module,
    generate,
    insert,
    loads,
    splice,
)
from scnn_surgery import weights as weights_module
from scnn_surgery.analysis.check import check_net, errors_of
from scnn_surgery.core.net import Net
from scnn_surgery.errors import SurgeryError
from scnn_surgery.files import MAX_CAFFEMODEL_BYTES
from scnn_surgery.schema import caffe_pb2
from scnn_surgery.scnn import estimate_module
from scnn_surgery.weights import (
    Caffemodel,
    blob_array,
    blob_matches,
    blob_shape,
    carry_over,
    check_caffemodel_size,
    fill,
    initial_weights,
    layer_param_blobs,
    length_delimited,
    make_blob,
    param_blob_count,
    parse_caffemodel,
    read_caffemodel,
    upgrade_v1_entry,
)

from .caffe_upgrade import upgrade_v1_layer_parameter
from .conftest import REPO_ROOT, RunCli, needs_shared, shared_path

EXAMPLE = REPO_ROOT / "examples" / "scnn_lane_vgg16.prototxt"


def filler(kind: str, **fields: Any) -> Any:
    message = caffe_pb2.FillerParameter(type=kind)
    for key, value in fields.items():
        setattr(message, key, value)
    return message


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------
# Fillers


def test_constant_and_uniform_fillers() -> None:
    assert np.all(fill(filler("constant", value=0.25), (3, 4), rng()) == np.float32(0.25))
    assert np.all(fill(caffe_pb2.FillerParameter(), (2,), rng()) == 0)  # Caffe's default
    values = fill(filler("uniform", min=-2.0, max=3.0), (1000,), rng())
    assert values.dtype == np.float32
    assert values.min() >= -2.0 and values.max() <= 3.0
    assert values.max() - values.min() > 4.5


def test_gaussian_filler_moments_and_sparsity() -> None:
    values = fill(filler("gaussian", mean=1.0, std=0.5), (200, 100), rng())
    assert abs(values.mean() - 1.0) < 0.01 and abs(values.std() - 0.5) < 0.01
    # sparse: each weight kept with probability sparse / shape[0]
    sparse = fill(filler("gaussian", std=1.0, sparse=20), (100, 500), rng())
    assert abs(np.count_nonzero(sparse) / sparse.size - 0.2) < 0.01


@pytest.mark.parametrize(
    ("norm", "n"),
    [
        (caffe_pb2.FillerParameter.FAN_IN, 16 * 9),
        (caffe_pb2.FillerParameter.FAN_OUT, 64 * 9),
        (caffe_pb2.FillerParameter.AVERAGE, (16 * 9 + 64 * 9) / 2),
    ],
)
def test_xavier_and_msra_follow_variance_norm(norm: int, n: float) -> None:
    shape = (64, 16, 3, 3)  # fan_in = 16*3*3, fan_out = 64*3*3, as filler.hpp counts them
    xavier = fill(filler("xavier", variance_norm=norm), shape, rng())
    bound = np.sqrt(3.0 / n)
    assert np.abs(xavier).max() <= bound * (1 + 1e-6)
    assert np.abs(xavier).max() > 0.99 * bound
    msra = fill(filler("msra", variance_norm=norm), shape, rng())
    assert abs(msra.std() / np.sqrt(2.0 / n) - 1) < 0.03


def test_bilinear_filler_matches_caffes_formula() -> None:
    four = fill(filler("bilinear"), (2, 1, 4, 4), rng())
    line = np.array([0.25, 0.75, 0.75, 0.25], dtype=np.float32)
    assert np.allclose(four[1, 0], np.outer(line, line))
    three = fill(filler("bilinear"), (1, 1, 3, 3), rng())
    assert np.allclose(three[0, 0], np.outer([0.5, 1, 0.5], [0.5, 1, 0.5]))


def test_positive_unitball_rows_sum_to_one() -> None:
    values = fill(filler("positive_unitball"), (5, 3, 2), rng())
    assert np.allclose(values.reshape(5, -1).sum(axis=1), 1.0)
    assert values.min() >= 0


@pytest.mark.parametrize(
    ("param", "shape", "message"),
    [
        (filler("nope"), (2,), "unknown filler type 'nope'"),
        (filler("bilinear"), (1, 1, 3, 4), "square"),
        (filler("bilinear"), (3, 3), "4-D"),
        (filler("gaussian", std=0.0), (2,), "std must be above 0"),
        (filler("uniform", min=1.0, max=0.0), (2,), "above max"),
        (filler("xavier", sparse=3), (2, 2), "sparse"),
    ],
)
def test_filler_errors(param: Any, shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(SurgeryError, match=message):
        fill(param, shape, rng())


# ---------------------------------------------------------------------------
# Blobs


def test_blob_shapes_follow_caffes_shape_equals() -> None:
    legacy = caffe_pb2.BlobProto(num=1, channels=1, height=10, width=20)
    assert blob_shape(legacy) == (1, 1, 10, 20)
    assert blob_matches(legacy, (10, 20))  # an old InnerProduct weight
    assert blob_matches(legacy, (1, 10, 20))
    assert not blob_matches(legacy, (20, 10))
    modern = caffe_pb2.BlobProto()
    modern.shape.dim.extend([10, 20])
    assert blob_matches(modern, (10, 20)) and not blob_matches(modern, (1, 10, 20))


@pytest.mark.parametrize("legacy", [False, True])
def test_make_blob_round_trips(legacy: bool) -> None:
    values = rng().normal(size=(3, 2, 1, 5)).astype(np.float32)
    blob = caffe_pb2.BlobProto.FromString(make_blob(values, legacy=legacy).SerializeToString())
    assert blob.HasField("num") == legacy
    assert np.array_equal(blob_array(blob), values)


# ---------------------------------------------------------------------------
# Which blobs a layer has

PARAM_NET = """
layer { name: "in" type: "Input" top: "x" top: "ids"
        input_param { shape { dim: 2 dim: 6 dim: 5 dim: 7 } shape { dim: 2 dim: 3 } } }
layer { name: "conv" type: "Convolution" bottom: "x" top: "conv"
        convolution_param { num_output: 4 kernel_h: 1 kernel_w: 3 group: 2 } }
layer { name: "deconv" type: "Deconvolution" bottom: "conv" top: "deconv"
        convolution_param { num_output: 6 kernel_size: 4 group: 2 bias_term: false } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip"
        inner_product_param { num_output: 10 axis: 2 } }
layer { name: "ipt" type: "InnerProduct" bottom: "x" top: "ipt"
        inner_product_param { num_output: 10 transpose: true bias_term: false } }
layer { name: "bn" type: "BatchNorm" bottom: "x" top: "bn" }
layer { name: "scale" type: "Scale" bottom: "bn" top: "scale" scale_param { bias_term: true } }
layer { name: "scale2" type: "Scale" bottom: "x" bottom: "ip" top: "scale2"
        scale_param { axis: 0 bias_term: true } }
layer { name: "bias" type: "Bias" bottom: "x" top: "bias" bias_param { axis: 1 num_axes: 2 } }
layer { name: "prelu" type: "PReLU" bottom: "x" top: "prelu" }
layer { name: "prelu1" type: "PReLU" bottom: "x" top: "prelu1"
        prelu_param { channel_shared: true } }
layer { name: "embed" type: "Embed" bottom: "ids" top: "embed"
        embed_param { num_output: 8 input_dim: 30 } }
layer { name: "relu" type: "ReLU" bottom: "x" top: "relu" }
layer { name: "odd" type: "MyForkLayer" bottom: "x" top: "odd" }
"""

EXPECTED_SHAPES = {
    "conv": [(4, 3, 1, 3), (4,)],
    "deconv": [(4, 3, 4, 4)],
    "ip": [(10, 35), (10,)],
    "ipt": [(210, 10)],
    "bn": [(6,), (6,), (1,)],
    "scale": [(6,), (6,)],
    "scale2": [(2, 6, 5)],
    "bias": [(6, 5)],
    "prelu": [(6,)],
    "prelu1": [()],
    "embed": [(30, 8), (8,)],
    "relu": [],
}


def test_param_blob_shapes_per_layer_type() -> None:
    net = loads(PARAM_NET)
    from scnn_surgery.analysis.shapes import infer_shapes
    from scnn_surgery.core.graph import build_graph

    shapes = infer_shapes(net, build_graph(net))
    for layer in net.layers[1:]:
        blobs = layer_param_blobs(net, layer, shapes.layer_inputs(layer))
        if layer.name == "odd":
            assert blobs is None and param_blob_count(net, layer) is None
            continue
        assert blobs is not None, layer.name
        assert [b.shape for b in blobs] == EXPECTED_SHAPES[layer.name], layer.name


def test_default_fillers_are_caffes() -> None:
    net = loads(PARAM_NET)
    model = initial_weights(net, seed=3).model
    by_name = {entry.name: entry for entry in model.layers}
    assert np.all(blob_array(by_name["scale"].blobs[0]) == 1)  # Scale: constant 1
    assert np.all(blob_array(by_name["scale"].blobs[1]) == 0)
    assert np.all(blob_array(by_name["prelu"].blobs[0]) == np.float32(0.25))
    assert all(np.all(blob_array(b) == 0) for b in by_name["bn"].blobs)
    assert np.all(blob_array(by_name["conv"].blobs[0]) == 0)  # FillerParameter: constant 0
    assert "odd" not in by_name  # unknown parameters: left for Caffe to fill


# ---------------------------------------------------------------------------
# Weights for a net with a module


def module_net(spec: ScnnSpec, batch: int = 1) -> Net:
    dims = f"dim: {batch} dim: {spec.channels} dim: {spec.height} dim: {spec.width}"
    head = (
        f'layer {{ name: "data" type: "Input" top: "{spec.bottom}"'
        f" input_param {{ shape {{ {dims} }} }} }}\n"
    )
    return loads(head + generate(spec))


def layers_of(model: Caffemodel, prefix: str) -> list[Any]:
    return [entry for entry in model.layers if entry.name.startswith(prefix)]


def test_every_layer_of_a_direction_holds_the_same_blobs() -> None:
    spec = ScnnSpec(height=5, width=4, channels=3, kernel_width=3, bottom="x")
    model = initial_weights(module_net(spec), seed=7, spec=spec).model
    kernels = {}
    for direction, shape in (("D", (3, 3, 1, 3)), ("U", (3, 3, 1, 3)), ("R", (3, 3, 3, 1))):
        convs = [e for e in layers_of(model, f"SCNN_{direction}_") if e.type == "Convolution"]
        assert len(convs) == (4 if direction in "DU" else 3)
        first = blob_array(convs[0].blobs[0])
        assert first.shape == shape
        assert all(np.array_equal(blob_array(c.blobs[0]), first) for c in convs)
        kernels[direction] = first
    assert not np.array_equal(kernels["D"], kernels["U"])
    assert abs(float(np.std(kernels["D"])) - spec.weight_std()) < spec.weight_std() * 0.5


def test_unshared_weights_differ_per_layer() -> None:
    spec = ScnnSpec(height=3, width=1, channels=2, kernel_width=3, bottom="x", directions="D",
                    share_weights=False)
    model = initial_weights(module_net(spec), seed=7, spec=spec).model
    convs = [e for e in layers_of(model, "SCNN_D_") if e.type == "Convolution"]
    assert not np.array_equal(blob_array(convs[0].blobs[0]), blob_array(convs[1].blobs[0]))


def test_initial_weights_are_reproducible_and_pass_check() -> None:
    spec = ScnnSpec(height=4, width=3, channels=2, kernel_width=3, bottom="x")
    net = module_net(spec)
    first = initial_weights(net, seed=11, spec=spec).model
    assert first.to_bytes() == initial_weights(net, seed=11, spec=spec).model.to_bytes()
    assert first.to_bytes() != initial_weights(net, seed=12, spec=spec).model.to_bytes()
    assert not errors_of(check_net(net, weights=first))


def test_a_negative_seed_is_refused_in_one_line(tmp_path: Path, run_cli: RunCli) -> None:
    spec = ScnnSpec(height=2, width=2, channels=2, kernel_width=3, bottom="x")
    with pytest.raises(SurgeryError, match=r"^seed -1: a seed is a whole number, 0 or more$"):
        initial_weights(module_net(spec), seed=-1, spec=spec)
    net = tmp_path / "net.prototxt"
    net.write_text(
        'layer { name: "x" type: "Input" top: "x"'
        " input_param { shape { dim: 1 dim: 2 dim: 2 dim: 2 } } }\n"
    )
    out = tmp_path / "out.caffemodel"
    code, _, err = run_cli("insert", str(net), "--after", "x", "--kernel-width", "3",
                           "--weights-out", str(out), "--seed", "-1", "-o", "-")  # fmt: skip
    assert code == 2 and not out.exists()
    assert err == (
        "scnn-surgery: error: Invalid value for '--seed': -1 is not in the range x>=0;"
        " see 'scnn-surgery insert --help'\n"
    )
    code, _, err = run_cli("insert", str(net), "--after", "x", "--kernel-width", "3",
                           "--weights-out", str(out), "--seed", str(2**80), "-o", "-")  # fmt: skip
    assert code == 0 and out.exists(), err  # any size of seed numpy takes


def _unknown_field(number: int, payload: bytes) -> bytes:
    """A length-delimited field the schema does not define."""
    return bytes([(number << 3) | 2]) + bytes([len(payload)]) + payload


def _source_for(net: Net, seed: int = 5) -> Caffemodel:
    """A trained-looking caffemodel for ``net`` carrying fields no schema knows."""
    model = initial_weights(net, seed=seed).model.message
    model.MergeFromString(_unknown_field(15, b"net-level extra"))
    model.layer[1].MergeFromString(_unknown_field(14, b"layer extra"))  # 14 is free in V2
    model.layer[1].blobs[0].MergeFromString(_unknown_field(15, b"blob extra"))
    return parse_caffemodel(model.SerializeToString(), "in.caffemodel")


SMALL_NET = """name: "small"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 6 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1
                            weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "score" type: "Convolution" bottom: "conv1" top: "score"
        convolution_param { num_output: 2 kernel_size: 1 weight_filler { type: "msra" } } }
"""


def test_carry_over_keeps_every_blob_and_unknown_field() -> None:
    net = loads(SMALL_NET)
    source = _source_for(net)
    before = {e.name: [b.SerializeToString() for b in e.blobs] for e in source.layers}
    result = insert(net, InsertOptions(after="conv1", height=6, width=8, channels=4,
                                       kernel_width=3))
    added = result.net.layer_names - net.layer_names
    assert added == {layer.name for layer in build_module(result.spec)}
    made = carry_over(result.net, source, added, result.spec, seed=0)
    data = made.model.to_bytes()
    for extra in (b"net-level extra", b"layer extra", b"blob extra"):
        assert extra in data
    reread = parse_caffemodel(data)
    for entry in reread.layers:
        if entry.name in before:
            assert [b.SerializeToString() for b in entry.blobs] == before[entry.name]
    assert {e.name for e in reread.layers} == net.layer_names | added
    assert not errors_of(check_net(result.net, weights=reread))


def test_read_write_round_trip_keeps_unknown_fields(tmp_path: Path) -> None:
    path = tmp_path / "in.caffemodel"
    source = _source_for(loads(SMALL_NET))
    path.write_bytes(source.to_bytes())
    again = read_caffemodel(path).to_bytes()
    assert again == path.read_bytes()
    assert b"blob extra" in again


def _v1_caffemodel(net: Net) -> bytes:
    """The V1 layout Caffe wrote before 2015: ``layers`` with enum types and 4-D blobs."""
    v2 = initial_weights(net, seed=2).model.message
    v1 = caffe_pb2.NetParameter(name=v2.name)
    for entry in v2.layer:
        if entry.type == "Input":  # V1 nets declared inputs with top-level fields
            continue
        layer = v1.layers.add(name=entry.name)
        layer.type = caffe_pb2.V1LayerParameter.LayerType.Value(  # type: ignore[assignment]
            entry.type.upper()
        )
        layer.bottom.extend(entry.bottom)
        layer.top.extend(entry.top)
        for blob in entry.blobs:
            layer.blobs.append(make_blob(blob_array(blob), legacy=True))
    return v1.SerializeToString()


def test_v1_caffemodel_gets_v1_module_layers() -> None:
    net = loads(SMALL_NET)
    source = parse_caffemodel(_v1_caffemodel(net), "v1.caffemodel")
    assert source.legacy
    result = insert(net, InsertOptions(after="conv1", height=6, width=8, channels=4,
                                       kernel_width=3, directions="DR"))
    added = result.net.layer_names - net.layer_names
    made = carry_over(result.net, source, added, result.spec)
    reread = parse_caffemodel(made.model.to_bytes())
    assert reread.legacy and not len(reread.message.layer)
    d1 = next(e for e in reread.layers if e.name == "SCNN_D_1")
    assert d1.type == caffe_pb2.V1LayerParameter.CONVOLUTION
    assert list(d1.param) == ["SCNN_D_w"]
    assert (d1.blobs[0].num, d1.blobs[0].channels, d1.blobs[0].height) == (4, 4, 1)
    assert not errors_of(check_net(result.net, weights=reread))


def test_source_layer_named_like_the_module_is_refused() -> None:
    net = loads(SMALL_NET)
    model = initial_weights(net).model.message
    stale = model.layer.add(name="SCNN_D_1", type="Convolution")
    stale.blobs.append(make_blob(np.ones((4, 4, 1, 3), np.float32)))
    source = parse_caffemodel(model.SerializeToString(), "old.caffemodel")
    result = insert(net, InsertOptions(after="conv1", height=6, width=8, channels=4,
                                       kernel_width=3))
    with pytest.raises(SurgeryError, match="--prefix"):
        carry_over(result.net, source, result.net.layer_names - net.layer_names, result.spec)


def test_blobless_source_entry_named_like_a_new_layer_gives_way() -> None:
    """Caffe copies an entry into the first layer of its name and stops when the blob
    counts differ; an entry without blobs carries nothing, so the new layer's own entry
    replaces it rather than the insert being refused."""
    net = loads(SMALL_NET)
    model = initial_weights(net).model.message
    model.layer.add(name="SCNN_D_1", type="Convolution")
    source = parse_caffemodel(model.SerializeToString(), "old.caffemodel")
    result = insert(net, InsertOptions(after="conv1", height=6, width=8, channels=4,
                                       kernel_width=3))
    made = carry_over(result.net, source, result.net.layer_names - net.layer_names, result.spec)
    entries = [e for e in made.model.layers if e.name == "SCNN_D_1"]
    assert [len(e.blobs) for e in entries] == [1]
    assert not errors_of(check_net(result.net, weights=made.model))


def test_missing_existing_layer_is_filled_and_noted() -> None:
    net = loads(SMALL_NET)
    model = initial_weights(net).model.message
    del model.layer[3]  # 'score' has no blobs in the source
    source = parse_caffemodel(model.SerializeToString(), "partial.caffemodel")
    result = insert(net, InsertOptions(after="conv1", height=6, width=8, channels=4,
                                       kernel_width=3))
    made = carry_over(result.net, source, result.net.layer_names - net.layer_names, result.spec)
    assert any("'score'" in note and "filled" in note for note in made.notes)
    assert not errors_of(check_net(result.net, weights=made.model))


# ---------------------------------------------------------------------------
# The command line


def write_small(tmp_path: Path) -> Path:
    path = tmp_path / "small.prototxt"
    path.write_text(SMALL_NET)
    return path


INSERT_ARGS = ("--after", "conv1", "--height", "6", "--width", "8", "--channel", "4",
               "--kernel-width", "3")


def test_cli_writes_weights_without_a_source(tmp_path: Path, run_cli: RunCli) -> None:
    src = write_small(tmp_path)
    out, weights = tmp_path / "out.prototxt", tmp_path / "out.caffemodel"
    code, _, err = run_cli("insert", str(src), *INSERT_ARGS, "-o", str(out),
                       "--weights-out", str(weights), "--seed", "3")
    assert code == 0, err
    model = read_caffemodel(weights)
    d = [e for e in model.layers if e.name.startswith("SCNN_D_") and len(e.blobs)]
    assert len(d) == 5 and all(e.blobs[0] == d[0].blobs[0] for e in d)
    assert "wrote weights" in err
    # made from fillers alone: said, as export says it
    assert f"warning: no --weights, so {weights} holds the fillers' values" in err
    assert "no weight filler" not in err  # both convolutions state theirs


def test_cli_carries_weights_over_and_seed_matters(tmp_path: Path, run_cli: RunCli) -> None:
    src = write_small(tmp_path)
    source = tmp_path / "in.caffemodel"
    source.write_bytes(_source_for(loads(SMALL_NET)).to_bytes())
    outputs: list[bytes] = []
    for seed in ("1", "1", "2"):
        weights = tmp_path / f"out{len(outputs)}.caffemodel"
        code, _, err = run_cli("insert", str(src), *INSERT_ARGS, "-o", str(tmp_path / "o.prototxt"),
                           "--weights", str(source), "--weights-out", str(weights),
                           "--seed", seed)
        assert code == 0, err
        outputs.append(weights.read_bytes())
    assert outputs[0] == outputs[1] != outputs[2]
    assert b"layer extra" in outputs[0]


def test_cli_weights_need_weights_out(tmp_path: Path, run_cli: RunCli) -> None:
    src = write_small(tmp_path)
    source = tmp_path / "in.caffemodel"
    source.write_bytes(initial_weights(loads(SMALL_NET)).model.to_bytes())
    out = tmp_path / "out.prototxt"
    code, _, err = run_cli(
        "insert", str(src), *INSERT_ARGS, "-o", str(out), "--weights", str(source)
    )
    assert code == 2 and "--weights-out" in err
    assert not out.exists()


def test_cli_writes_nothing_when_the_weights_would_not_load(
    tmp_path: Path, run_cli: RunCli
) -> None:
    src = write_small(tmp_path)
    other = loads(SMALL_NET.replace("num_output: 4", "num_output: 5"))
    source = tmp_path / "wrong.caffemodel"
    source.write_bytes(initial_weights(other).model.to_bytes())
    out, weights = tmp_path / "out.prototxt", tmp_path / "out.caffemodel"
    code, _, err = run_cli("insert", str(src), *INSERT_ARGS, "-o", str(out),
                       "--weights", str(source), "--weights-out", str(weights))
    assert code == 1
    assert "weights-shape" in err and "conv1" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.prototxt", "wrong.caffemodel"]


def test_cli_refuses_a_prototxt_as_weights(tmp_path: Path, run_cli: RunCli) -> None:
    src = write_small(tmp_path)
    code, _, err = run_cli("insert", str(src), *INSERT_ARGS, "-o", str(tmp_path / "o.prototxt"),
                       "--weights", str(src), "--weights-out", str(tmp_path / "o.caffemodel"))
    assert code == 1 and "not a binary caffemodel" in err
    assert not (tmp_path / "o.prototxt").exists()


def test_example_weights_have_every_layer() -> None:
    net = loads(EXAMPLE.read_text(), str(EXAMPLE))
    result = insert(net, InsertOptions(after="fc7", height=36, width=100, channels=128))
    made = initial_weights(result.net, seed=0, spec=result.spec)
    assert not made.notes
    assert not errors_of(check_net(result.net, weights=made.model))


V1_NET = """name: "v1"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 6
input_dim: 8
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1"
         blobs_lr: 1 blobs_lr: 2
         convolution_param { num_output: 4 kernel_size: 3 pad: 1
                             weight_filler { type: "gaussian" std: 0.1 } } }
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
layers { name: "fc" type: INNER_PRODUCT bottom: "conv1" top: "fc"
         inner_product_param { num_output: 5 weight_filler { type: "xavier" } } }
"""


def test_v1_net_gets_a_v1_caffemodel(tmp_path: Path, run_cli: RunCli) -> None:
    net = loads(V1_NET)
    made = initial_weights(net, seed=0)
    assert made.model.legacy
    by_name = {e.name: e for e in made.model.layers}
    assert blob_shape(by_name["conv1"].blobs[0]) == (4, 3, 3, 3)
    assert blob_shape(by_name["fc"].blobs[0]) == (1, 1, 5, 192)  # legacy 4-D, as V1 stored it
    assert not errors_of(check_net(net, weights=made.model))
    src = tmp_path / "v1.prototxt"
    src.write_text(V1_NET)
    weights = tmp_path / "v1.caffemodel"
    code, _, err = run_cli("insert", str(src), "--after", "conv1", "--height", "6", "--width", "8",
                       "--channel", "4", "--kernel-width", "3", "-o", str(tmp_path / "o.prototxt"),
                       "--weights-out", str(weights))
    assert code == 0, err
    assert read_caffemodel(weights).legacy


V2_FRAGMENT = """layer { name: "f1" type: "Convolution" bottom: "x" top: "y"
  param { name: "fw" lr_mult: 0 } param { lr_mult: 2 }
  convolution_param { num_output: 4 kernel_size: 1 weight_filler { type: "xavier" } } }
"""


def test_a_v2_fragment_spliced_into_a_v1_net_gets_v1_entries() -> None:
    """Its text is V2; the caffemodel entry is the V1 layer the prototxt shows."""
    net = loads(V1_NET)
    spliced = splice(net, loads(V2_FRAGMENT, "frag.prototxt"), SpliceOptions(after="conv1"))
    fresh = initial_weights(spliced.net, seed=0).model
    v1_source = initial_weights(net, seed=0).model
    carried = carry_over(spliced.net, v1_source, ["f1"]).model
    for model in (fresh, carried):
        reread = parse_caffemodel(model.to_bytes())
        f1 = next(e for e in reread.layers if e.name == "f1")
        assert f1.type == caffe_pb2.V1LayerParameter.CONVOLUTION
        assert list(f1.param) == ["fw", ""] and list(f1.blobs_lr) == [0, 2]
        assert blob_shape(f1.blobs[0]) == (4, 4, 1, 1)
        assert not errors_of(check_net(spliced.net, weights=reread))


# ---------------------------------------------------------------------------
# Nets whose data layers do not state their shapes; caffemodels protobuf cannot read

TRAIN_VAL_NET = """name: "tv"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
        transform_param { crop_size: 12 } data_param { source: "train_lmdb" batch_size: 8 } }
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
        transform_param { crop_size: 12 } data_param { source: "val_lmdb" batch_size: 2 } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
        convolution_param { num_output: 6 kernel_size: 3 } }
layer { name: "bn2" type: "BatchNorm" bottom: "conv2" top: "conv2" }
layer { name: "scale2" type: "Scale" bottom: "conv2" top: "conv2" scale_param { bias_term: true } }
layer { name: "fc" type: "InnerProduct" bottom: "conv2" top: "fc"
        inner_product_param { num_output: 3 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
"""


def test_train_val_weights_without_a_source_leave_unsizable_layers_to_caffe(
    tmp_path: Path, run_cli: RunCli
) -> None:
    src = tmp_path / "tv.prototxt"
    src.write_text(TRAIN_VAL_NET)
    out, weights = tmp_path / "o.prototxt", tmp_path / "w.caffemodel"
    code, _, err = run_cli("insert", str(src), "--kernel-width", "3", "-o", str(out),
                       "--weights-out", str(weights))  # fmt: skip
    assert code == 0, err
    assert "<new>" not in err
    assert (
        f"layer 'conv1' ({src}:6:1) is left out of {weights}: the shape of its input 'data' is"
        " 2x?x12x12, so its blobs cannot be sized; Caffe initialises it from its fillers when it"
        " loads it, or give --shape data=N,C,H,W to store it"
    ) in err
    stored = {entry.name: entry for entry in read_caffemodel(weights).layers}
    assert "conv1" not in stored
    assert [blob_shape(b) for b in stored["conv2"].blobs] == [(6, 4, 3, 3), (6,)]
    assert [len(stored[name].blobs) for name in ("bn2", "scale2", "fc")] == [3, 2, 2]
    assert len(stored["data"].blobs) == 0  # as Net::ToProto writes a layer without blobs
    code, found, _ = run_cli("check", str(out), "--weights", str(weights))
    assert code == 0 and "conv1" in found and "weights-missing" in found

    code, _, err = run_cli("insert", str(src), "--kernel-width", "3", "-o", str(out),
                       "--shape", "data=?,3,?,?", "--weights-out", str(weights))  # fmt: skip
    assert code == 0, err
    stored = {entry.name: entry for entry in read_caffemodel(weights).layers}
    assert [blob_shape(b) for b in stored["conv1"].blobs] == [(4, 3, 3, 3), (4,)]


def test_a_published_train_val_net_gets_weights_without_a_source(
    tmp_path: Path, run_cli: RunCli
) -> None:
    src = shared_path("zoo", "train_val", "squeezenet_v1_0_train_val.prototxt")
    weights = tmp_path / "w.caffemodel"
    out = str(tmp_path / "o.prototxt")
    code, _, err = run_cli("insert", str(src), "--channel", "512", "-o", out,
                           "--weights-out", str(weights))  # fmt: skip
    assert code == 0, err
    assert "<new>" not in err and "layer 'conv1'" in err and "--shape data=N,C,H,W" in err
    stored = {entry.name for entry in read_caffemodel(weights).layers}
    assert {"conv10", "fire9/expand3x3", "SCNN_D_1"} <= stored


def test_fork_layers_without_parameters_and_depthwise_convolutions() -> None:
    net = loads("""input: "data" input_shape { dim: 1 dim: 8 dim: 6 dim: 6 }
layer { name: "dw" type: "DepthwiseConvolution" bottom: "data" top: "dw"
        convolution_param { num_output: 8 kernel_size: 3 bias_term: false } }
layer { name: "dw2" type: "ConvolutionDepthwise" bottom: "dw" top: "dw2"
        convolution_param { num_output: 8 kernel_size: 3 group: 8 } }
layer { name: "up" type: "Upsample" bottom: "dw2" top: "up" }
""")
    by_name = {layer.name: layer for layer in net.layers}
    assert param_blob_count(net, by_name["up"]) == 0
    made = initial_weights(net, seed=0)
    stored = {entry.name: entry for entry in made.model.layers}
    assert [blob_shape(b) for b in stored["dw"].blobs] == [(8, 1, 3, 3)]  # group = channels
    assert [blob_shape(b) for b in stored["dw2"].blobs] == [(8, 1, 3, 3), (8,)]
    assert len(stored["up"].blobs) == 0
    (note,) = made.notes  # no layer left out; dw and dw2 state no filler
    assert note.startswith("warning: 2 layers ('dw', 'dw2') state no weight filler")


def test_check_caffemodel_size_names_the_size_and_the_remedy() -> None:
    spec = ScnnSpec(7, 7, 2048, 9, "res5c")
    check_caffemodel_size(MAX_CAFFEMODEL_BYTES, "w.caffemodel", spec)
    with pytest.raises(SurgeryError) as refused:
        check_caffemodel_size(3_623_878_656, "w.caffemodel", spec)
    assert str(refused.value) == (
        "w.caffemodel: the caffemodel would be 3.4 GiB (3,623,878,656 bytes), over the 2 GiB"
        " that protobuf, Caffe and OpenCV can read; the SCNN module's 24 convolutions hold 3.4"
        " GiB of it (a 2048x2048x1x9 kernel each, since every layer stores its own copy); map"
        " the blob to fewer channels first with --reduce-channels 128; nothing was written"
    )


@pytest.mark.parametrize(
    ("extra", "size"), [((), "3.4 GiB"), (("--reduce-channels", "3000"), "7.2 GiB")]
)
def test_a_caffemodel_protobuf_cannot_read_is_refused_before_anything_is_written(
    tmp_path: Path, extra: tuple[str, ...], size: str, run_cli: RunCli
) -> None:
    src = shared_path("zoo", "deploy", "resnet50_deploy.prototxt")
    out, weights = tmp_path / "o.prototxt", tmp_path / "w.caffemodel"
    code, _, err = run_cli(
        "insert", str(src), *extra, "-o", str(out), "--weights-out", str(weights)
    )
    assert code == 1
    [line] = err.splitlines()  # the refusal alone: insert's notes are said once it wrote
    assert line.startswith(f"scnn-surgery: error: {weights}: the caffemodel would be {size}")
    assert "--reduce-channels 128; nothing was written" in line
    assert list(tmp_path.iterdir()) == []


def test_carrying_weights_over_is_refused_past_protobufs_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    src = write_small(tmp_path)
    source = tmp_path / "in.caffemodel"
    source.write_bytes(_source_for(loads(SMALL_NET)).to_bytes())
    monkeypatch.setattr(weights_module, "MAX_CAFFEMODEL_BYTES", source.stat().st_size + 100)
    code, _, err = run_cli("insert", str(src), *INSERT_ARGS, "-o", str(tmp_path / "o.prototxt"),
                       "--weights", str(source), "--weights-out", str(tmp_path / "w.caffemodel"))
    assert code == 1 and "the caffemodel would be" in err and "nothing was written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.caffemodel", "small.prototxt"]


PARAM_TEXTS = [
    'param { name: "w" lr_mult: 1 decay_mult: 0 } param { lr_mult: 2.5e-1 share_mode: PERMISSIVE }',
    'param { lr_mult: 0.1 decay_mult: -3 } param { }',
    'param { lr_mult: 1e39 }',  # beyond float: protobuf's reading, not ours
    'param { lr_mult: 0x10 }',
    'param { lr_mult: 1.0f }',
    'param { lr_mult: inf decay_mult: 01.5 }',
    'param { share_mode: 1 }',
    'param: { name: "a" } param < name: "b" >',
]


@pytest.mark.parametrize("params", PARAM_TEXTS)
def test_plain_param_blocks_read_as_protobuf_reads_them(params: str) -> None:
    from scnn_surgery.weights import param_specs, typed_param_specs

    net = loads(
        'layer { name: "c" type: "Convolution" bottom: "x" top: "y" '
        + params
        + " convolution_param { num_output: 1 kernel_size: 1 } }\n"
    )
    [layer] = net.layers

    def outcome(read: Any) -> object:
        try:
            return read(net, layer)
        except SurgeryError as exc:
            return str(exc)

    assert outcome(param_specs) == outcome(typed_param_specs)


@needs_shared
def test_param_specs_of_the_zoo_and_of_a_module_are_protobufs() -> None:
    """The direct reading of ``param {}`` blocks agrees with the typed message, layer by
    layer, for every net of the zoo and for the layers insert adds."""
    from scnn_surgery.core.net import load_net
    from scnn_surgery.weights import param_specs, typed_param_specs

    from .conftest import zoo_files

    nets = [load_net(path) for path in zoo_files() if "${" not in path.read_text()]
    golden = loads(shared_path("golden", "resnet101.prototxt").read_text())
    nets.append(insert(golden, InsertOptions(lr_mult=0.5)).net)
    compared = 0
    for net in nets:
        if net.format == "v0":
            continue
        for layer in net.layers:
            assert param_specs(net, layer) == typed_param_specs(net, layer), layer.name
            compared += bool(param_specs(net, layer))
    assert compared > 1000


@needs_shared
def test_layers_missing_from_the_caffemodel_are_named_at_the_inputs_lines(
    tmp_path: Path, run_cli: RunCli
) -> None:
    source = shared_path("golden", "resnet101.prototxt")
    lines = source.read_text().splitlines()
    stored = caffe_pb2.NetParameter(name="empty")  # every layer is missing from it
    weights = tmp_path / "empty.caffemodel"
    weights.write_bytes(stored.SerializeToString())
    code, _, err = run_cli(
        "insert", str(source), "--after", "conv5_5", "--weights", str(weights),
        "--weights-out", str(tmp_path / "out.caffemodel"), "-o", str(tmp_path / "out.prototxt"),
    )  # fmt: skip
    assert code == 0, err
    missing = re.findall(rf"layer '([^']+)' \({re.escape(str(source))}:(\d+):1\) has no blobs", err)
    assert len(missing) > 100
    for name, line in missing:  # each at its own block in the input, never the output's line
        assert lines[int(line) - 1] == "layer {" and lines[int(line)] == f'  name: "{name}"'
    assert ("conv6", "6841") in missing  # 14347 in the output, after the module's layers
    assert "out.prototxt:" not in err


def test_a_caffemodel_too_large_from_its_kernel_width_is_told_the_kernel_width() -> None:
    """A 128-channel module with --kernel-width 99999 was told --reduce-channels 128."""
    spec = ScnnSpec(7, 7, 128, 99999, "res5c")
    size = estimate_module(spec).weight_bytes + 1000
    with pytest.raises(SurgeryError) as refused:
        check_caffemodel_size(size, "w.caffemodel", spec)
    message = str(refused.value)
    assert "the kernel width 99999 makes it so large; give --kernel-width 9" in message
    assert "--reduce-channels" not in message


def test_blobs_read_as_packed_bytes_equal_the_floats() -> None:
    """export reads blob data as the bytes Caffe packed it in; floats stored unpacked
    (one fixed32 field each, as some writers do) are read again as floats."""
    import struct

    values = [1.5, -2.0, 3.25, 0.125]
    packed = caffe_pb2.NetParameter()
    layer = packed.layer.add(name="a")
    blob = layer.blobs.add()
    blob.shape.dim.extend([2, 2])
    blob.data.extend(values)
    # the same net with the floats written one field each (tag 5, wire type 5)
    head = caffe_pb2.BlobProto(shape=blob.shape).SerializeToString()
    body = head + b"".join(b"\x2d" + struct.pack("<f", v) for v in values)
    layer_bytes = b"\x0a\x01a" + length_delimited(7, len(body)) + body  # name 1, blobs 7
    unpacked = length_delimited(100, len(layer_bytes)) + layer_bytes  # NetParameter.layer
    assert caffe_pb2.NetParameter.FromString(unpacked).layer[0].blobs[0].data == values
    for data in (packed.SerializeToString(), unpacked):
        read = parse_caffemodel(data, packed_as_bytes=True)
        got = blob_array(read.layers[0].blobs[0])
        assert got.shape == (2, 2) and got.ravel().tolist() == np.float32(values).tolist()


DAMAGED = """name: "d"
input: "data"
input_shape { dim: 1 dim: 3 dim: 6 dim: 6 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" }
"""


def test_a_blob_whose_values_do_not_fill_its_shape_is_refused_by_every_verb(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """Caffe's Blob::FromProto aborts on it; the verbs that read values crashed on it.
    Refused on reading, naming the caffemodel, the layer and the param (Caffe's word);
    check reports it as a finding, as it reports the rest."""
    model = tmp_path / "d.prototxt"
    model.write_text(DAMAGED)
    message = initial_weights(loads(DAMAGED), seed=1).model.message
    del message.layer[0].blobs[0].data[8:]
    weights = tmp_path / "d.caffemodel"
    weights.write_bytes(message.SerializeToString())
    expected = (
        f"scnn-surgery: error: {weights}: layer 'conv' param 0 holds 8 values, but its shape"
        " 4x3x3x3 has 108; the caffemodel is damaged (check --weights lists every such blob)\n"
    )
    out, folded = str(tmp_path / "out"), str(tmp_path / "out.caffemodel")
    for verb in (
        ["export", str(model), "--weights", str(weights), "-o", out],
        ["fold-bn", str(model), "--weights", str(weights), "--weights-out", folded, "-o", out],
        ["rename", str(model), "bn=bn2", "--weights", str(weights), "--weights-out", folded,
         "-o", out],
    ):  # fmt: skip
        code, _, err = run_cli(*verb)
        assert (code, err) == (1, expected), verb[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.caffemodel", "d.prototxt"]
    code, text, _ = run_cli("check", str(model), "--weights", str(weights))
    assert code == 1 and "param 0 in" in text and "[weights-data]" in text


def test_a_v1_entry_upgrades_as_caffe_upgrades_it() -> None:
    """upgrade_v1_entry against the oracle's UpgradeV1LayerParameter: the per-blob lists of
    unequal lengths, share modes, rules, loss weights, blobs; a V0 'layer' inside is dropped."""
    v1 = caffe_pb2.V1LayerParameter(
        name="ip", bottom=["x"], top=["y"], type=caffe_pb2.V1LayerParameter.INNER_PRODUCT,
        param=["w", "b"], blobs_lr=[1.0], weight_decay=[1.0, 0.0], loss_weight=[0.5],
        blob_share_mode=[caffe_pb2.V1LayerParameter.STRICT, caffe_pb2.V1LayerParameter.PERMISSIVE],
    )  # fmt: skip
    v1.include.add(phase=caffe_pb2.TEST)
    v1.inner_product_param.num_output = 3
    v1.blobs.append(make_blob(np.ones((1, 1, 3, 2), np.float32), legacy=True))
    v1.layer.name = "old"
    out = caffe_pb2.LayerParameter()
    upgrade_v1_entry(v1, out)
    assert out == upgrade_v1_layer_parameter(v1)
    assert out.type == "InnerProduct" and len(out.param) == 2


@pytest.mark.parametrize("field", ["name", "top"])
def test_text_that_is_not_utf8_is_refused_when_read(field: str) -> None:
    """Protobuf's parser lets a string's bytes through undecoded (rename's carry then
    failed writing them); the caffemodel is refused as damaged on reading instead."""
    entry = caffe_pb2.LayerParameter(name="conv", type="Convolution", top=["conv"])
    data = caffe_pb2.NetParameter(layer=[entry]).SerializeToString()
    damaged = data.replace(b"conv", b"\xceonv", 2 if field == "top" else 1)
    if field == "top":
        damaged = damaged.replace(b"\xceonv", b"conv", 1)
    for packed in (False, True):
        with pytest.raises(SurgeryError, match=r"^x\.caffemodel: holds text that is not UTF-8"):
            parse_caffemodel(damaged, "x.caffemodel", packed_as_bytes=packed)
