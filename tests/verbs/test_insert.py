"""insert with a --shape that gives an input whose size the file states a new height and
width: the file states the new size (written as retarget writes it), so Caffe sets the
net up at the size the module is made for; what retarget needs a flag for is refused."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

import scnn_surgery as ss
from scnn_surgery.analysis.check import check_net, errors_of
from scnn_surgery.errors import SurgeryError
from scnn_surgery.verbs.retarget import stated_sizes
from scnn_surgery.weights import read_caffemodel

from ..conftest import RunCli
from ..onnx_reference import random_weights
from ..test_engine_opencv import kernels, run_module

X = "\u00d7"  # the multiplication sign messages put between dimensions
BODY = """layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 stride: 2 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "score" type: "Convolution" bottom: "conv1" top: "score"
  convolution_param { num_output: 2 kernel_size: 1 } }
"""
INPUT_LAYER = (
    'name: "net"\n# the size it was trained at\n'
    'layer { name: "data" type: "Input" top: "data"\n'
    "  input_param { shape { dim: 1 dim: 3 dim: 48 dim: 64 } } }\n" + BODY
)
# at most 32, a placeholder: the case insert only warned about, the file keeping 4 x 4
PLACEHOLDER = INPUT_LAYER.replace("dim: 48 dim: 64", "dim: 4 dim: 4")
INPUT_SHAPE = 'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 48 dim: 64 }\n' + BODY
V1 = """name: "v1"\r
input: "data"\r
input_dim: 1\r
input_dim: 3\r
input_dim: 16\r
input_dim: 16\r
input: "aux"\r
input_dim: 1\r
input_dim: 1\r
input_dim: 16\r
input_dim: 16\r
layers { bottom: "data" top: "conv1" name: "conv1" type: CONVOLUTION\r
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }\r
layers { bottom: "conv1" top: "conv1" name: "relu1" type: RELU }\r
layers { bottom: "aux" top: "auxc" name: "auxc" type: CONVOLUTION\r
  convolution_param { num_output: 4 kernel_size: 1 } }\r
layers { bottom: "conv1" bottom: "auxc" top: "sum" name: "sum" type: ELTWISE }\r
layers { bottom: "sum" top: "score" name: "score" type: CONVOLUTION\r
  convolution_param { num_output: 2 kernel_size: 1 } }\r
"""
V1_RESTATED = V1.replace("input_dim: 16\r\ninput_dim: 16", "input_dim: 24\r\ninput_dim: 20")


@pytest.mark.parametrize(
    ("text", "shapes", "restated", "said"),
    [
        (INPUT_LAYER, {"data": (1, 3, 40, 80)},
         INPUT_LAYER.replace("dim: 48 dim: 64", "dim: 40 dim: 80"),
         f"data 1{X}3{X}48{X}64 -> 1{X}3{X}40{X}80"),
        (PLACEHOLDER, {"data": (1, 3, 40, 40)},
         PLACEHOLDER.replace("dim: 4 dim: 4", "dim: 40 dim: 40"),
         f"data 1{X}3{X}4{X}4 -> 1{X}3{X}40{X}40"),
        (INPUT_SHAPE, {"data": (None, None, 64, None)},
         INPUT_SHAPE.replace("dim: 48", "dim: 64"), f"data 1{X}3{X}48{X}64 -> 1{X}3{X}64{X}64"),
        (V1, {"data": (1, 3, 24, 20), "aux": (None, None, 24, 20)}, V1_RESTATED,
         f"data 1{X}3{X}16{X}16 -> 1{X}3{X}24{X}20; aux 1{X}1{X}16{X}16 -> 1{X}1{X}24{X}20"),
    ],
    ids=["Input layer", "placeholder", "input_shape", "V1 input_dim, two inputs, CRLF"],
)  # fmt: skip
@pytest.mark.parametrize("upgrade", [False, True], ids=["", "upgrade"])
def test_a_new_size_for_a_stated_input_is_written_into_the_file(
    text: str, shapes: dict[str, tuple[int | None, ...]], restated: str, said: str,
    upgrade: bool,
) -> None:
    """The result is what inserting into the file with the new size typed in gives, byte
    for byte: the dimensions that change are the only other bytes that do."""
    options = ss.InsertOptions(after="relu1", kernel_width=3, shapes=shapes, upgrade=upgrade)
    result = ss.insert(ss.loads(text, "net.prototxt"), options)
    by_hand = ss.insert(ss.loads(restated, "net.prototxt"), options)
    written = ss.dumps(result.net)
    assert written == ss.dumps(by_hand.net) != restated
    assert result.notes[0] == (
        f"retargeted {said} for --shape, so the written file states the size the module is"
        " made for"
    )
    assert not [n for n in result.notes if n.startswith("warning")]
    net = ss.loads(written)
    for blob, dims in shapes.items():
        (stated,) = stated_sizes(net)[blob]
        assert all(d is None or d == s for d, s in zip(dims, stated.dims, strict=True))
    assert not errors_of(check_net(net))  # as Caffe sets it up: no --shape needed


V0 = """name: "v0"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 16
input_dim: 16
layers { layer { name: "conv1" type: "conv" num_output: 4 kernelsize: 3 pad: 1 }
  bottom: "data" top: "conv1" }
layers { layer { name: "relu1" type: "relu" } bottom: "conv1" top: "conv1" }
layers { layer { name: "score" type: "conv" num_output: 2 kernelsize: 1 }
  bottom: "conv1" top: "score" }
"""


def test_a_v0_net_is_restated_as_it_is_upgraded() -> None:
    """V0 is rebuilt as V2 text before anything else: the size is restated in that."""
    options = ss.InsertOptions(
        after="relu1", kernel_width=3, shapes={"data": (1, 3, 24, 20)}, upgrade=True
    )
    result = ss.insert(ss.loads(V0, "v0.prototxt"), options)
    restated = V0.replace("input_dim: 16\ninput_dim: 16", "input_dim: 24\ninput_dim: 20")
    by_hand = ss.insert(ss.loads(restated, "v0.prototxt"), options)
    assert ss.dumps(result.net) == ss.dumps(by_hand.net)
    assert "dim: 24\n      dim: 20" in ss.dumps(result.net)


def test_the_restated_net_runs_in_opencv_at_its_new_size(
    cv2: ModuleType, tmp_path: Path, run_cli: RunCli
) -> None:
    """--in-place included: the file itself states the size, and its module computes SCNN
    (every blob random)."""
    model, weights = tmp_path / "net.prototxt", tmp_path / "net.caffemodel"
    model.write_text(INPUT_LAYER)
    (tmp_path / "before.prototxt").write_text(INPUT_LAYER)
    code, _, err = run_cli(
        "insert", str(model), "--after", "relu1", "--kernel-width", "3", "--shape",
        "data=1,3,40,80", "--in-place",
    )  # fmt: skip
    assert code == 0, err
    assert f"retargeted data 1{X}3{X}48{X}64 -> 1{X}3{X}40{X}80 for --shape" in err
    assert "dim: 1 dim: 3 dim: 40 dim: 80" in model.read_text()
    code, shown, _ = run_cli("diff", str(tmp_path / "before.prototxt"), str(model))
    assert "input_param.shape.dim: [1, 3, 48, 64] \u2192 [1, 3, 40, 80]" in shown
    assert "1 module added, 1 layer changed, 1 bottom rewired" in shown
    weights.write_bytes(random_weights(ss.load(model), seed=3))
    assert run_module(cv2, model, weights, batch=1, seed=4) <= 1e-5  # at the file's size


@pytest.mark.parametrize(
    ("layer", "flag"),
    [
        ('layer { name: "fc" type: "InnerProduct" bottom: "score" top: "fc"'
         " inner_product_param { num_output: 3 } }\n", "--reshape-weights"),
        ('layer { name: "up" type: "Interp" bottom: "score" top: "up"'
         " interp_param { height: 48 width: 64 } }\n", "--rescale"),
    ],
    ids=["weights change shape", "explicit Interp size"],
)  # fmt: skip
def test_what_retarget_needs_a_flag_for_is_refused_pointing_at_retarget(
    layer: str, flag: str
) -> None:
    net = ss.loads(INPUT_LAYER + layer, "net.prototxt")
    options = ss.InsertOptions(after="relu1", kernel_width=3, shapes={"data": (1, 3, 40, 80)})
    with pytest.raises(SurgeryError) as caught:
        ss.insert(net, options)
    message = str(caught.value)
    name = layer.split('"')[1]
    assert message.startswith(f"layer '{name}' (net.prototxt:10:1")
    assert message.endswith(
        "; insert's --shape changes the stated input size alone: to change this too, run"
        f" 'scnn-surgery retarget net.prototxt --input data=1,3,40,80 {flag}' first and insert"
        " into its output"
    )


def test_a_size_the_net_cannot_run_at_is_refused_naming_the_shape() -> None:
    """aux stays 16 x 16 where data becomes 24 x 20: the Eltwise would refuse them."""
    options = ss.InsertOptions(after="relu1", kernel_width=3, shapes={"data": (1, 3, 24, 20)})
    with pytest.raises(SurgeryError) as caught:
        ss.insert(ss.loads(V1, "v1.prototxt"), options)
    message = str(caught.value)
    assert message.startswith("--shape data=1,3,24,20: the result would be invalid:")
    assert "layer 'sum': bottoms differ in shape" in message


def test_one_shape_for_several_tops_asks_for_a_shape_for_each() -> None:
    text = (
        'layer { name: "data" type: "Input" top: "a" top: "b"\n'
        "  input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n"
        'layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" top: "s" }\n'
    )
    options = ss.InsertOptions(after="sum", kernel_width=3, shapes={"a": (1, 3, 9, 9)})
    with pytest.raises(SurgeryError, match="states one shape for a, b; give --shape for each"):
        ss.insert(ss.loads(text, "two.prototxt"), options)


def test_a_module_the_net_has_is_made_again_with_its_trained_kernels(
    tmp_path: Path, run_cli: RunCli
) -> None:
    model, trained = tmp_path / "scnn.prototxt", tmp_path / "trained.caffemodel"
    (tmp_path / "net.prototxt").write_text(INPUT_LAYER)
    code, _, err = run_cli(
        "insert", str(tmp_path / "net.prototxt"), "--after", "relu1", "--kernel-width", "3",
        "-o", str(model), "--weights-out", str(trained), "--seed", "5",
    )  # fmt: skip
    assert code == 0, err
    out, weights = tmp_path / "two.prototxt", tmp_path / "two.caffemodel"
    code, _, err = run_cli(
        "insert", str(model), "--after", "score", "--kernel-width", "3", "--prefix", "B_",
        "--shape", "data=?,?,40,80", "-o", str(out), "--weights", str(trained),
        "--weights-out", str(weights),
    )  # fmt: skip
    assert code == 0, err
    assert f"regenerated the SCNN module 'SCNN' for a 20{X}40 map (was 24{X}32)" in err
    old, new = kernels(read_caffemodel(trained)), kernels(read_caffemodel(weights))
    assert old.keys() == new.keys() == set("DULR")
    assert all((old[d] == new[d]).all() for d in "DULR")


def test_a_reduction_a_grouped_reader_cannot_take_is_refused_with_the_value_that_fits() -> None:
    grouped = INPUT_LAYER.replace(
        "num_output: 2 kernel_size: 1", "num_output: 4 kernel_size: 1 group: 4"
    )
    net = ss.loads(grouped.replace("num_output: 4 kernel_size: 3", "num_output: 16 kernel_size: 3"))
    with pytest.raises(SurgeryError) as refused:
        ss.insert(net, ss.InsertOptions(after="conv1", reduce_channels=6, kernel_width=3))
    assert str(refused.value).startswith("--reduce-channels 6: layer 'score' (")
    assert "in 4 groups, so the module's channels must be a multiple of 4;" in str(refused.value)
    assert "the nearest that fits is --reduce-channels 8" in str(refused.value)
    fits = ss.insert(net, ss.InsertOptions(after="conv1", reduce_channels=8, kernel_width=3))
    assert fits.spec.channels == 8
    depthwise = ss.loads(grouped)  # the group is the map's own 4 channels: nothing fits below
    with pytest.raises(SurgeryError, match="none below the map's 4 does, so leave out"):
        ss.insert(depthwise, ss.InsertOptions(after="conv1", reduce_channels=2, kernel_width=3))


def test_the_many_channels_warning_advises_only_a_reduction_that_fits() -> None:
    wide = INPUT_LAYER.replace("dim: 48 dim: 64", "dim: 8 dim: 8").replace(
        "num_output: 4 kernel_size: 3", "num_output: 512 kernel_size: 3"
    )
    score = "num_output: 2 kernel_size: 1"
    depthwise = wide.replace(score, "num_output: 512 kernel_size: 1 group: 512")
    (warning,) = [x for x in ss.insert(ss.loads(depthwise), ss.InsertOptions(
        after="conv1", kernel_width=3)).afterwords() if x.startswith("warning")]  # fmt: skip
    assert "(no --reduce-channels fits here: a grouped convolution reads the map in 512" in warning
    grouped = wide.replace("num_output: 512 kernel_size: 3", "num_output: 384 kernel_size: 3")
    grouped = grouped.replace(score, "num_output: 96 kernel_size: 1 group: 96")
    (warning,) = [x for x in ss.insert(ss.loads(grouped), ss.InsertOptions(
        after="conv1", kernel_width=3)).afterwords() if x.startswith("warning")]  # fmt: skip
    assert "(insert --reduce-channels 192 maps the blob to 192 channels first" in warning
