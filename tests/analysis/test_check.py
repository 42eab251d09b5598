"""``check``: each of Caffe's static rules, a target's, and the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scnn_surgery import InsertOptions, SurgeryError, insert, load, loads
from scnn_surgery.analysis.check import Finding, check_net, errors_of
from scnn_surgery.core.ops import insert_layers
from scnn_surgery.schema import caffe_pb2
from scnn_surgery.weights import initial_weights, make_blob, parse_caffemodel

from ..conftest import RunCli, ZooInsert, zoo_files, zoo_ids

INPUT = (
    'layer { name: "data" type: "Input" top: "data"\n'
    "        input_param { shape { dim: 1 dim: 4 dim: 6 dim: 8 } } }\n"
)


def findings(text: str, **kwargs: Any) -> list[Finding]:
    return check_net(loads(text, "net.prototxt"), **kwargs)


def only(found: list[Finding], rule: str) -> Finding:
    matching = [f for f in found if f.rule == rule]
    assert len(matching) == 1, found
    return matching[0]


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_a_valid_net_has_no_findings() -> None:
    text = INPUT + 'layer { name: "relu" type: "ReLU" bottom: "data" top: "data" }\n'
    assert findings(text) == []


def test_unknown_bottom_names_the_blob_and_its_late_producer() -> None:
    text = (
        INPUT
        + 'layer { name: "sum" type: "Eltwise" bottom: "data" bottom: "later" top: "sum" }\n'
        + 'layer { name: "make" type: "ReLU" bottom: "data" top: "later" }\n'
    )
    f = only(findings(text), "unknown-bottom")
    assert f.severity == "error" and f.layer == "sum"
    assert "'later'" in f.message and "layer 'make'" in f.message
    assert f.line == line_of(text, 'bottom: "later"')


def test_unknown_bottom_names_the_first_late_producer() -> None:
    text = (
        INPUT
        + 'layer { name: "use" type: "ReLU" bottom: "late" top: "use" }\n'
        + 'layer { name: "first" type: "ReLU" bottom: "data" top: "late" }\n'
        + 'layer { name: "again" type: "ReLU" bottom: "late" top: "late" }\n'
    )
    f = only(findings(text), "unknown-bottom")
    assert f.layer == "use" and "layer 'first'" in f.message


def test_bottom_missing_in_one_phase_says_which() -> None:
    text = (
        INPUT
        + 'layer { name: "aux" type: "ReLU" bottom: "data" top: "aux" include { phase: TRAIN } }\n'
        + 'layer { name: "use" type: "ReLU" bottom: "aux" top: "use" }\n'
    )
    f = only(findings(text), "unknown-bottom")
    assert f.layer == "use" and f.message.endswith("(phase TEST)")


def test_duplicate_top_unless_in_place() -> None:
    text = (
        INPUT
        + 'layer { name: "a" type: "ReLU" bottom: "data" top: "x" }\n'
        + 'layer { name: "b" type: "Sigmoid" bottom: "data" top: "x" }\n'
        + 'layer { name: "c" type: "ReLU" bottom: "x" top: "x" }\n'
    )
    f = only(findings(text), "duplicate-top")
    assert f.layer == "b" and "'x'" in f.message and "layer 'a'" in f.message
    assert f.line == line_of(text, 'top: "x" }\nlayer { name: "c"')


def test_include_and_exclude_together() -> None:
    text = INPUT + (
        'layer { name: "r" type: "ReLU" bottom: "data" top: "r"\n'
        "  include { phase: TEST }\n  exclude { stage: \"x\" } }\n"
    )
    f = only(findings(text), "include-exclude")
    assert f.layer == "r" and f.line == line_of(text, "exclude")


def test_propagate_down_count() -> None:
    text = INPUT + (
        'layer { name: "s" type: "Eltwise" bottom: "data" bottom: "data" top: "s"\n'
        "  propagate_down: true }\n"
    )
    f = only(findings(text), "propagate-down")
    assert f.layer == "s" and "1 times for 2 bottoms" in f.message
    ok = INPUT + (
        'layer { name: "s" type: "Eltwise" bottom: "data" bottom: "data" top: "s"\n'
        "  propagate_down: true propagate_down: false }\n"
    )
    assert findings(ok) == []


@pytest.mark.parametrize(
    ("head", "message"),
    [
        ('input: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 4\n', "3 input_dim values"),
        ('input: "data"\ninput_shape { dim: 1 }\ninput_dim: 1\ninput_dim: 1\ninput_dim: 1\n'
         "input_dim: 1\n", "both given"),
        ('input: "data"\ninput: "b"\ninput_shape { dim: 1 }\n', "1 input_shape blocks for 2"),
    ],
)
def test_input_fields(head: str, message: str) -> None:
    f = only(findings(head), "input-fields")
    assert message in f.message and f.line is not None


def test_too_many_params() -> None:
    text = INPUT + (
        'layer { name: "c" type: "Convolution" bottom: "data" top: "c"\n'
        "  param { lr_mult: 1 } param { lr_mult: 2 }\n"
        "  convolution_param { num_output: 2 kernel_size: 1 bias_term: false } }\n"
    )
    f = only(findings(text), "param-count")
    assert f.layer == "c" and "2 param blocks" in f.message


SHARED_LAYERS = (
    'layer {{ name: "a" type: "Convolution" bottom: "data" top: "a"\n'
    '  param {{ name: "w" {a} }} convolution_param {{ num_output: 4 kernel_size: 3 pad: 1'
    " bias_term: false }} }}\n"
    'layer {{ name: "b" type: "Convolution" bottom: "a" top: "b"\n'
    '  param {{ name: "w" {b} }} convolution_param {{ num_output: 4 kernel_size: {k} pad: 1'
    " bias_term: false }} }}\n"
)


def shared(a: str, b: str, k: int) -> str:
    return INPUT + SHARED_LAYERS.format(a=a, b=b, k=k)


def test_shared_param_shapes_must_agree() -> None:
    f = only(findings(shared("", "", 1)), "param-sharing")
    assert f.layer == "b" and "'w'" in f.message and "layer 'a'" in f.message
    assert "4x4x1x1" in f.message and "4x4x3x3" in f.message
    assert findings(shared("", "", 3)) == []


def test_permissive_sharing_compares_counts() -> None:
    f = only(findings(shared("", "share_mode: PERMISSIVE", 1)), "param-sharing")
    assert "16 values" in f.message and "144" in f.message
    transposed = INPUT + (
        'layer { name: "a" type: "InnerProduct" bottom: "data" top: "a"\n'
        '  param { name: "w" } inner_product_param { num_output: 2 bias_term: false } }\n'
        'layer { name: "b" type: "InnerProduct" bottom: "data" top: "b"\n'
        '  param { name: "w" share_mode: PERMISSIVE }\n'
        "  inner_product_param { num_output: 2 transpose: true bias_term: false } }\n"
    )
    assert findings(transposed) == []  # (2, 192) and (192, 2): same count
    strict = transposed.replace(" share_mode: PERMISSIVE", "")
    assert only(findings(strict), "param-sharing").layer == "b"


@pytest.mark.parametrize("field", ["lr_mult", "decay_mult"])
def test_shared_param_multipliers_must_agree(field: str) -> None:
    f = only(findings(shared(f"{field}: 1", f"{field}: 2", 3)), "param-sharing")
    assert f"mismatched {field}" in f.message and f.layer == "b"
    # only explicit values count: an unset multiplier agrees with anything
    assert findings(shared(f"{field}: 1", "", 3)) == []


def test_eltwise_concat_slice_shapes() -> None:
    text = INPUT + (
        'layer { name: "half" type: "Pooling" bottom: "data" top: "half"\n'
        "  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n"
        'layer { name: "sum" type: "Eltwise" bottom: "data" bottom: "half" top: "sum" }\n'
        'layer { name: "cat" type: "Concat" bottom: "data" bottom: "half" top: "cat" }\n'
        'layer { name: "cut" type: "Slice" bottom: "data" top: "p" top: "q" top: "r"\n'
        "  slice_param { axis: 1 } }\n"
    )
    found = findings(text)
    assert only(found, "eltwise-shapes").layer == "sum"
    assert "'half'" in only(found, "eltwise-shapes").message
    assert only(found, "concat-shapes").layer == "cat"
    assert only(found, "slice-shapes").layer == "cut"
    assert all(f.line == line_of(text, f'name: "{f.layer}"') for f in found)


def test_eltwise_coefficients() -> None:
    text = INPUT + (
        'layer { name: "sum" type: "Eltwise" bottom: "data" bottom: "data" top: "sum"\n'
        "  eltwise_param { coeff: 1 } }\n"
        'layer { name: "prod" type: "Eltwise" bottom: "data" bottom: "data" top: "prod"\n'
        "  eltwise_param { operation: PROD coeff: 1 coeff: 1 } }\n"
    )
    found = [f for f in findings(text) if f.rule == "eltwise-coeff"]
    assert [f.layer for f in found] == ["sum", "prod"]


def test_learned_batchnorm_statistics_warn() -> None:
    text = INPUT + (
        'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "data"\n'
        "  param { lr_mult: 1 } param { lr_mult: 0 } param { lr_mult: 0 } }\n"
    )
    f = only(findings(text), "batchnorm-param")
    assert f.severity == "warning" and f.layer == "bn"


# ---------------------------------------------------------------------------
# Weights

WEIGHTED = INPUT + (
    'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"\n'
    "  convolution_param { num_output: 2 kernel_size: 3 } }\n"
    'layer { name: "fc" type: "InnerProduct" bottom: "conv" top: "fc"\n'
    "  inner_product_param { num_output: 3 } }\n"
)


def weights_for(text: str) -> caffe_pb2.NetParameter:
    model: caffe_pb2.NetParameter = initial_weights(loads(text), seed=1).model.message
    return model


def check_weights(model: caffe_pb2.NetParameter) -> list[Finding]:
    parsed = parse_caffemodel(model.SerializeToString(), "w.caffemodel")
    return findings(WEIGHTED, weights=parsed)


def test_matching_weights_pass() -> None:
    assert check_weights(weights_for(WEIGHTED)) == []


def test_weights_blob_count() -> None:
    model = weights_for(WEIGHTED)
    del model.layer[1].blobs[1]
    f = only(check_weights(model), "weights-count")
    assert f.layer == "conv" and "holds 1 blob for it" in f.message and "has 2" in f.message


def test_weights_blob_shape() -> None:
    model = weights_for(WEIGHTED.replace("num_output: 3", "num_output: 4"))
    weight, bias = [f for f in check_weights(model) if f.rule == "weights-shape"]
    assert weight.layer == bias.layer == "fc"
    assert "param 0" in weight.message and "4x48" in weight.message and "3x48" in weight.message
    assert "param 1" in bias.message


def test_weights_value_count() -> None:
    model = weights_for(WEIGHTED)
    del model.layer[2].blobs[1].data[-1]
    assert only(check_weights(model), "weights-data").layer == "fc"


def test_weights_missing_and_unused_warn() -> None:
    model = weights_for(WEIGHTED)
    model.layer[2].name = "fc_old"
    found = check_weights(model)
    missing, unused = only(found, "weights-missing"), only(found, "weights-unused")
    assert missing.severity == unused.severity == "warning"
    assert missing.layer == "fc" and unused.layer == "fc_old"


# ---------------------------------------------------------------------------
# Targets


def test_opencv_target_flags_unknown_types_and_double_blobs() -> None:
    text = WEIGHTED + 'layer { name: "odd" type: "Bias" bottom: "fc" top: "odd" }\n'
    f = only(findings(text, target="opencv"), "opencv-type")
    assert f.layer == "odd" and "'Bias'" in f.message
    assert not [f for f in findings(WEIGHTED, target="opencv")]
    model = weights_for(WEIGHTED)
    blob = model.layer[1].blobs[0]
    values = list(blob.data)
    del blob.data[:]
    blob.double_data.extend(values)
    parsed = parse_caffemodel(model.SerializeToString(), "w.caffemodel")
    g = only(findings(WEIGHTED, weights=parsed, target="opencv"), "opencv-blob-data")
    assert g.layer == "conv"


def test_vitis_target_warns_about_axes_and_inputs() -> None:
    text = (
        'input: "img"\ninput_shape { dim: 1 dim: 4 dim: 6 dim: 8 }\n'
        'layer { name: "rows" type: "Slice" bottom: "img" top: "r1" top: "r2"\n'
        "  slice_param { axis: 2 } }\n"
        'layer { name: "back" type: "Concat" bottom: "r1" bottom: "r2" top: "back"\n'
        "  concat_param { axis: -2 } }\n"
        'layer { name: "chan" type: "Concat" bottom: "img" bottom: "img" top: "chan" }\n'
    )
    found = findings(text, target="vitis")
    axes = [f for f in found if f.rule == "vitis-axis"]
    assert [f.layer for f in axes] == ["rows", "back"]
    assert all(f.severity == "warning" and "runs on the CPU" in f.message for f in axes)
    assert "Input layer named 'data'" in only(found, "vitis-input").message
    assert not errors_of(found)


# ---------------------------------------------------------------------------
# The command line and insert


def test_cli_exit_status_and_lines(tmp_path: Path, run_cli: RunCli) -> None:
    bad = tmp_path / "bad.prototxt"
    bad.write_text(INPUT + 'layer { name: "r" type: "ReLU" bottom: "nope" top: "r" }\n')
    code, out, err = run_cli("check", str(bad))
    assert code == 1
    assert out.startswith(f"{bad}:3: error: layer 'r': bottom 'nope'")
    assert "[unknown-bottom]" in out and "1 error, 0 warnings" in err
    warn = tmp_path / "warn.prototxt"
    warn.write_text(INPUT + 'layer { name: "s" type: "Slice" bottom: "data" top: "a" top: "b"\n'
                    "  slice_param { axis: 2 } }\n")
    code, out, _ = run_cli("check", str(warn), "--target", "vitis")
    assert code == 0 and "warning" in out
    code, _, err = run_cli("check", "-", input=INPUT.encode())
    assert code == 0 and "no problems found" in err


def test_cli_json_and_weights(tmp_path: Path, run_cli: RunCli) -> None:
    net = tmp_path / "net.prototxt"
    net.write_text(WEIGHTED)
    model = weights_for(WEIGHTED)
    model.layer[1].blobs[0].CopyFrom(make_blob(np.zeros((1, 2, 3), np.float32)))
    weights = tmp_path / "w.caffemodel"
    weights.write_bytes(model.SerializeToString())
    code, out, _ = run_cli("check", str(net), "--weights", str(weights), "--json")
    report = json.loads(out)
    assert code == 1 and report["errors"] == 1
    (finding,) = report["findings"]
    assert finding["rule"] == "weights-shape" and finding["layer"] == "conv"
    assert finding["line"] == 3 and "1x2x3" in finding["message"]


def test_cli_truncated_weights_are_one_line(tmp_path: Path, run_cli: RunCli) -> None:
    net = tmp_path / "net.prototxt"
    net.write_text(WEIGHTED)
    whole = weights_for(WEIGHTED).SerializeToString()
    weights = tmp_path / "w.caffemodel"
    weights.write_bytes(whole[: len(whole) - 5])
    code, out, err = run_cli("check", str(net), "--weights", str(weights))
    assert code == 1 and out == ""
    assert err == (
        f"scnn-surgery: error: {weights}: cannot be decoded"
        " (truncated, or not a binary caffemodel)\n"
    )


def test_cli_phase_option(tmp_path: Path, run_cli: RunCli) -> None:
    net = tmp_path / "net.prototxt"
    net.write_text(
        INPUT
        + 'layer { name: "aux" type: "ReLU" bottom: "data" top: "aux" include { phase: TRAIN } }\n'
        + 'layer { name: "use" type: "ReLU" bottom: "aux" top: "use" }\n'
    )
    assert run_cli("check", str(net), "--phase", "train")[0] == 0
    assert run_cli("check", str(net), "--phase", "TEST")[0] == 1


def test_insert_refuses_a_result_check_rejects(tmp_path: Path, run_cli: RunCli) -> None:
    text = INPUT + (
        'layer { name: "c" type: "Convolution" bottom: "data" top: "c"\n'
        "  include { phase: TEST } exclude { phase: TRAIN }\n"
        "  convolution_param { num_output: 4 kernel_size: 1 } }\n"
    )
    # The input's include-and-exclude is its own; what refuses the result is new: the
    # module reads 'c', which TRAIN does not make.
    with pytest.raises(SurgeryError, match=r"bottom 'c' is not produced .* \(phase TRAIN\)"):
        insert(loads(text), InsertOptions(after="c", height=6, width=8, channels=4))
    src = tmp_path / "in.prototxt"
    src.write_text(text)
    out = tmp_path / "out.prototxt"
    code, _, err = run_cli("insert", str(src), "--after", "c", "-o", str(out))
    assert code == 1 and "the result would be invalid" in err and not out.exists()


_ZOO = zoo_files()

# Nets whose insertion point or input size the file does not give away.
EXPLICIT: dict[str, InsertOptions] = {
    "faster_rcnn_vgg16_voc_end2end_test": InsertOptions(after="conv5_3"),
    "rcnn_v0_caffenet_fc7_deploy": InsertOptions(upgrade=True),
    "caffe_v0_lenet_train": InsertOptions(upgrade=True, after="conv2",
                                          shapes={"data": (64, 1, 28, 28)}),
    # TRAIN reads batches of 64 and TEST of 100: the file gives the batch, --shape the rest
    "lenet_train_test": InsertOptions(after="conv2", shapes={"data": (None, 1, 28, 28)}),  # type: ignore[dict-item]
    "cifar10_full_train_test": InsertOptions(after="conv3", shapes={"data": (100, 3, 32, 32)}),
    "fcn32s_voc_train": InsertOptions(
        after="pool5", shapes={"data": (1, 3, 500, 500), "label": (1, 1, 500, 500)}
    ),
    "fcn16s_siftflow_trainval": InsertOptions(
        after="pool5",
        shapes={"data": (1, 3, 256, 256), "sem": (1, 1, 256, 256), "geo": (1, 1, 256, 256)},
    ),
    "enet_train_encoder_decoder": InsertOptions(after="pool0_1"),
    "apollo_darkscnn_deploy": InsertOptions(prefix="extra_"),  # it has a module already
}


@pytest.mark.parametrize("path", _ZOO, ids=zoo_ids(_ZOO))
def test_every_converted_zoo_net_passes(path: Path, zoo_inserts: dict[str, ZooInsert]) -> None:
    if path.stem == "deeplabv2_vgg16_test_template":  # invalid until substituted
        with pytest.raises(SurgeryError, match=r":381:17: unresolved template placeholder"):
            check_net(load(path))
        return
    # The sweep's conversion where it converts; the options a refusal asks for otherwise.
    done = zoo_inserts[path.stem]
    options = EXPLICIT.get(path.stem, done.options)
    result = done.result if path.stem not in EXPLICIT else insert(load(path), options)
    assert result is not None, done.refusal
    found = check_net(result.net, shapes=options.shapes)
    assert not errors_of(found), [f.format(path.name) for f in errors_of(found)]


def test_opencv_flags_the_v1_axis_names_it_ignores() -> None:
    text = (
        'input: "x"\ninput_dim: 1\ninput_dim: 2\ninput_dim: 4\ninput_dim: 4\n'
        'layers { name: "s" type: SLICE bottom: "x" top: "a" top: "b"'
        " slice_param { slice_dim: 2 } }\n"
        'layers { name: "c" type: CONCAT bottom: "a" bottom: "b" top: "y"'
        " concat_param { concat_dim: 2 } }\n"
        'layers { name: "ok" type: CONCAT bottom: "a" bottom: "b" top: "z"'
        " concat_param { axis: 2 } }\n"
    )
    found = check_net(loads(text, "v1.prototxt"), target="opencv")
    axes = [f for f in found if f.rule == "opencv-axis"]
    assert [(f.layer, f.severity) for f in axes] == [("s", "error"), ("c", "error")]
    assert "slice_dim: 2 is ignored by OpenCV's importer" in axes[0].message
    assert "write axis: 2" in axes[0].message
    assert not [f for f in check_net(loads(text, "v1.prototxt")) if f.rule == "opencv-axis"]


def test_a_finding_about_a_layer_from_another_file_names_that_file_in_one_phase() -> None:
    net = loads(INPUT, "net.prototxt")
    other_text = (
        "# a fragment\n"
        'layer { name: "train_only" type: "ReLU" bottom: "nosuch" top: "t"\n'
        "        include { phase: TRAIN } }\n"
    )
    (stray,) = loads(other_text, "fragment.prototxt").layers
    insert_layers(net, net.layers[-1], [stray])
    (finding,) = errors_of(check_net(net))
    assert finding.source == "fragment.prototxt" and finding.line == 2
    assert finding.format(net.source) == (
        "fragment.prototxt:2: error: layer 'train_only': bottom 'nosuch' is not produced by an"
        " earlier layer (phase TRAIN) [unknown-bottom]"
    )


# --- blob counts and axis ranges of the BVLC types ------------------------------------------

STRUCTURE = INPUT + (
    'layer { name: "prob" type: "Softmax" bottom: "data" top: "prob"\n'
    "        softmax_param {\n"
    "          axis: 9\n"
    "        } }\n"
    'layer { name: "two" type: "Softmax" bottom: "data" bottom: "prob" top: "two" }\n'
    'layer { name: "crop" type: "Crop" bottom: "data" top: "crop" }\n'
    'layer { name: "cat" type: "Concat" bottom: "data" bottom: "data" top: "cat"\n'
    "        concat_param { axis: -5 } }\n"
    'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "data" bottom: "prob" }\n'
)


def test_counts_and_axes_are_located_rules() -> None:
    found = [f for f in findings(STRUCTURE) if f.severity == "error"]
    assert [(f.rule, f.line, f.message) for f in found] == [
        ("axis-range", line_of(STRUCTURE, "axis: 9"),
         "layer 'prob': softmax_param.axis 9 is out of range for the 4-axis bottom 'data'"
         " (Caffe takes -4 to 3)"),
        ("bottom-count", line_of(STRUCTURE, 'bottom: "prob" top: "two"'),
         "layer 'two': a Softmax layer takes 1 bottom, not 2"),
        ("bottom-count", line_of(STRUCTURE, '"crop"'),
         "layer 'crop': a Crop layer takes 2 bottoms, not 1"),
        ("axis-range", line_of(STRUCTURE, "axis: -5"),
         "layer 'cat': concat_param.axis -5 is out of range for the 4-axis bottom 'data'"
         " (Caffe takes -4 to 3)"),
        # a whole map for labels: SoftmaxWithLoss's own Reshape check
        ("shapes", line_of(STRUCTURE, '"loss"'),
         "layer 'loss': the label 'prob' 1x4x6x8 holds 192 labels, but the predictions"
         " 1x4x6x8 need 48, one per position outside softmax axis 1 (Caffe checks the counts"
         " are equal)"),
    ]  # fmt: skip  (the shape rules' own words for crop and cat are not repeated)


@pytest.mark.parametrize(
    ("kind", "dim", "wiring"),
    [
        ("Concat", "concat_dim", 'bottom: "data" bottom: "data" top: "x"'),
        ("Slice", "slice_dim", 'bottom: "data" top: "x" top: "y"'),
    ],
)
def test_axis_and_the_legacy_dim_together_are_an_error_whatever_their_values(
    kind: str, dim: str, wiring: str
) -> None:
    """Concat's and Slice's LayerSetUp check that not both fields are present."""
    param = f"{kind.lower()}_param"
    text = INPUT + (
        f'layer {{ name: "x" type: "{kind}" {wiring}\n'
        f"        {param} {{ {dim}: 1\n          axis: 1 }} }}\n"
    )
    (finding,) = errors_of(findings(text))
    assert (finding.rule, finding.line) == ("axis-both", line_of(text, "axis: 1"))
    assert finding.message == (
        f"layer 'x': {param} gives both axis and {dim}; Caffe stops at it ('Either axis or"
        f" {dim} should be specified; not both'): keep one"
    )
    assert not errors_of(findings(text.replace("axis: 1", "")))


def test_a_v1_layer_is_counted_by_its_v2_type(run_cli: RunCli, tmp_path: Path) -> None:
    text = (
        'input: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 4\ninput_dim: 4\n'
        'layers { name: "relu" type: RELU bottom: "data" bottom: "data" top: "r" }\n'
    )
    net = tmp_path / "v1.prototxt"
    net.write_text(text)
    code, out, _ = run_cli("check", str(net))
    assert code == 1
    assert out == (
        f"{net}:6: error: layer 'relu': a ReLU layer takes 1 bottom, not 2 [bottom-count]\n"
    )


def test_the_published_nets_pass_the_count_and_axis_rules() -> None:
    for path in zoo_files():
        if "template" in path.name:
            continue  # ${...} placeholders make it invalid until substituted
        net = load(str(path))
        rules = {f.rule for f in check_net(net)}
        assert not rules & {"bottom-count", "top-count", "axis-range", "axis-both"}, path


BAD_VALUES = [  # (the field, its bad token, what the parser says)
    ("relu_param { negative_slope: abc }", "abc", "Couldn't parse float: abc"),
    ("relu_param { engine: WARP }", "WARP", "has no value named WARP"),
    ('loss_weight: "x"', '"x"', "Couldn't parse float"),
]


@pytest.mark.parametrize(("field", "token", "says"), BAD_VALUES, ids=["float", "enum", "string"])
def test_a_value_caffe_cannot_parse_is_refused_where_nothing_reads_it(
    field: str, token: str, says: str, run_cli: RunCli, tmp_path: Path
) -> None:
    text = (
        'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3'
        " dim: 8 dim: 8 } } }\n"
        'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"'
        " convolution_param { num_output: 4 kernel_size: 3 } }\n"
        f'layer {{ name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" {field} }}\n'
        'layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"'
        " inner_product_param { num_output: 2 } }\n"
    )
    net = tmp_path / "bad.prototxt"
    net.write_text(text)
    column = text.splitlines()[2].index(token) + 1
    for args in (["check", str(net)], ["insert", str(net), "-o", str(tmp_path / "o")]):
        code, out, err = run_cli(*args)
        assert (code, out) == (1, ""), err
        assert err.startswith(f"scnn-surgery: error: {net}:3:{column}: in layer 'relu1': ")
        assert says in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_conv_and_pooling_parameters_caffe_refuses_are_errors_at_their_layers() -> None:
    """BaseConvolutionLayer's and PoolingLayer's LayerSetUp abort on these."""
    net = loads(
        'layer { name: "data" type: "Input" top: "data"'
        " input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n"
        'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"'
        " convolution_param { num_output: 4 kernel_size: 3 pad: 1 pad_h: 2 pad_w: 0 } }\n"
        'layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"'
        " pooling_param { pool: MAX kernel_size: 2 stride: 2 pad_h: 1 } }\n"
        'layer { name: "pool2" type: "Pooling" bottom: "pool1" top: "pool2"'
        " pooling_param { pool: MAX kernel_size: 2 global_pooling: true } }\n",
        "padboth.prototxt",
    )
    found = errors_of(check_net(net))
    assert [(f.layer, f.line, f.rule) for f in found] == [
        ("conv1", 2, "shapes"), ("pool1", 3, "shapes"), ("pool2", 4, "shapes"),
    ]  # fmt: skip
    assert "pad or pad_h/pad_w, not both" in found[0].message
    assert "pad, or both pad_h and pad_w" in found[1].message
    assert "global_pooling" in found[2].message


@pytest.mark.parametrize(
    "layer",
    [
        'layer { name: "a" bottom: "data" top: "x" }\n',
        'layers { name: "a" bottom: "data" top: "x" }\n',
    ],
)
def test_a_layer_without_a_type_is_an_error(layer: str) -> None:
    # Caffe's LayerRegistry has no type "", so Net::Init stops at such a layer.
    head = INPUT if layer.startswith("layer ") else 'input: "data"\n'
    f = only(findings(head + layer), "layer-type")
    assert f.severity == "error" and f.layer == "a" and "has no type" in f.message
