"""``check``'s ``unknown-field`` rule: fields the schema does not know, kept verbatim."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import scnn_surgery as ss
from scnn_surgery import InsertOptions, insert, load, loads
from scnn_surgery.analysis.check import Finding, check_net
from scnn_surgery.errors import SurgeryError

from ..conftest import RunCli, needs_shared, shallow_stack, shared_path
from ..forkproto import BVLC_PROTO, MY_PARAM_NET, write_fork_proto

HINT = "it is kept verbatim (give --proto for your fork's caffe.proto)"


def unknown(text: str, **kwargs: Any) -> list[Finding]:
    found = check_net(loads(text, "net.prototxt"), **kwargs)
    return [f for f in found if f.rule == "unknown-field"]


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_a_layer_field_no_schema_knows_is_a_located_warning() -> None:
    (f,) = unknown(MY_PARAM_NET)
    assert f == Finding(
        "warning",
        "unknown-field",
        f"layer 'conv1': field 'my_param' is not in the BVLC schema; {HINT}",
        "conv1",
        line_of(MY_PARAM_NET, "my_param"),
    )


def test_nested_fields_are_checked_against_their_message_type() -> None:
    text = (
        'layer { name: "data" type: "Input" top: "data"\n'
        "  input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n"
        'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"\n'
        "  convolution_param { num_output: 4 kernel_size: 1\n"
        '    weight_filler { type: "msra" fancy_norm: 2 }\n'
        "    fancy_mode: 1 fancy_mode: 2 } }\n"
    )
    found = unknown(text)
    assert [(f.message, f.line) for f in found] == [
        (
            "layer 'conv': field 'convolution_param.weight_filler.fancy_norm' is not in the"
            f" BVLC schema; {HINT}",
            5,
        ),
        # a repeated unknown field is one finding, at its first occurrence
        (
            f"layer 'conv': field 'convolution_param.fancy_mode' is not in the BVLC schema; {HINT}",
            6,
        ),
    ]


def test_inside_an_unknown_field_nothing_more_is_reported() -> None:
    text = 'layer { name: "a" type: "ReLU" bottom: "x" top: "x" my_param { deep { x: 1 } } }\n'
    assert [f.message for f in unknown(text)] == [
        f"layer 'a': field 'my_param' is not in the BVLC schema; {HINT}"
    ]


def test_each_layer_reports_its_own_unknown_fields() -> None:
    text = (
        'layer { name: "a" type: "ReLU" bottom: "x" top: "x" my_flag: true }\n'
        'layer { name: "b" type: "ReLU" bottom: "x" top: "x" my_flag: false }\n'
    )
    assert [(f.layer, f.line) for f in unknown(text)] == [("a", 1), ("b", 2)]


def test_net_level_fields_have_no_layer() -> None:
    text = 'name: "n"\nmy_net_option: 3\nlayer { name: "a" type: "ReLU" bottom: "x" top: "x" }\n'
    assert unknown(text) == [
        Finding(
            "warning",
            "unknown-field",
            f"field 'my_net_option' is not in the BVLC schema; {HINT}",
            None,
            2,
        )
    ]


def test_v1_layers_are_checked_against_v1_layer_parameter() -> None:
    text = (
        'input: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 8\ninput_dim: 8\n'
        'layers { name: "conv" type: CONVOLUTION bottom: "data" top: "conv"\n'
        "  blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0\n"
        "  convolution_param { num_output: 4 kernel_size: 1 }\n"
        "  v1_extra: 3 }\n"
    )
    (f,) = unknown(text)
    assert (f.layer, f.line) == ("conv", 9)
    assert f.message == f"layer 'conv': field 'v1_extra' is not in the BVLC schema; {HINT}"


def test_a_v0_field_the_schema_lacks_is_refused_where_it_is() -> None:
    """A V0 net is checked as Caffe's upgrade makes it, and the upgrade reads the file
    against V0LayerParameter strictly: no fork ever extended V0, so Caffe could not read
    the file at all."""
    text = (
        'input: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 8\ninput_dim: 8\n'
        "layers {\n"
        '  layer { name: "conv" type: "conv" num_output: 4 kernelsize: 1 v0_extra: 1 }\n'
        '  bottom: "data"\n  top: "conv"\n}\n'
    )
    with pytest.raises(SurgeryError, match=r'^net.prototxt:7:65: .*no field named "v0_extra"'):
        check_net(loads(text, "net.prototxt"))


def test_a_fork_schema_can_lack_a_bvlc_field() -> None:
    # PSPNet gave 143, BVLC's input_param, to interp_param: its Caffe cannot read this layer.
    text = (
        'layer { name: "data" type: "Input" top: "data"\n'
        "  input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n"
        'layer { name: "bn" type: "BN" bottom: "data" top: "data"\n'
        '  bn_param { slope_filler { type: "constant" value: 1 } frozen: true } }\n'
    )
    (f,) = unknown(text)
    assert (f.layer, f.line) == ("data", 2)
    assert f.message == (
        f"layer 'data': field 'input_param' is not in the pspnet fork's schema; {HINT}"
    )


def test_a_users_proto_that_knows_the_field_silences_it(tmp_path: Path) -> None:
    proto = str(write_fork_proto(tmp_path))
    assert unknown(MY_PARAM_NET, proto=proto) == []
    text = MY_PARAM_NET.replace("size: 4 }", "size: 4 colour: 1 }")
    (f,) = unknown(text, proto=proto)
    # no hint to give --proto: it was given
    assert f.message == (
        f"layer 'conv1': field 'my_param.colour' is not in the schema of {proto};"
        " it is kept verbatim"
    )


def test_unknown_fields_are_warnings_and_kept_verbatim(tmp_path: Path, run_cli: RunCli) -> None:
    path = tmp_path / "net.prototxt"
    path.write_text(MY_PARAM_NET)
    code, out, _ = run_cli("check", str(path), "--json")
    assert code == 0
    report = json.loads(out)
    assert (report["errors"], report["warnings"]) == (0, 1)
    assert report["findings"][0]["rule"] == "unknown-field"

    inserted = insert(load(path), InsertOptions(kernel_width=3))
    block = "  my_param { value: 2.5 size: 3 size: 4 }\n"
    assert block in MY_PARAM_NET and block in ss.dumps(inserted.net)


# --- the zoo: a fork net read in its guessed dialect warns about nothing ----------

QUIET = [
    ("golden", "resnet101.prototxt"),
    ("golden", "resnet101_SCNN.prototxt"),
    ("zoo", "segmentation", "pspnet50_ade20k_473.prototxt"),
    ("zoo", "segmentation", "segnet_inference.prototxt"),
    ("zoo", "segmentation", "bayesian_segnet_camvid.prototxt"),
    ("zoo", "segmentation", "enet_deploy_final.prototxt"),
    ("zoo", "segmentation", "enet_train_encoder_decoder.prototxt"),
    ("zoo", "detection", "ssd300_vgg16_voc0712_deploy.prototxt"),
    ("zoo", "detection", "mobilenet_ssd_deploy.prototxt"),
    ("zoo", "detection", "faster_rcnn_vgg16_voc_end2end_test.prototxt"),
    ("zoo", "deploy", "densenet121_deploy.prototxt"),
    ("zoo", "lane", "vpgnet_novp_deploy.prototxt"),
    ("zoo", "legacy", "rcnn_v1_vgg16_fc7_deploy.prototxt"),
    ("zoo", "legacy", "caffe_v0_lenet_train.prototxt"),
]


@pytest.mark.parametrize("parts", QUIET, ids=lambda p: p[-1])
def test_fork_nets_in_their_dialect_have_no_unknown_fields(parts: tuple[str, ...]) -> None:
    net = load(shared_path(*parts))
    assert [f for f in check_net(net) if f.rule == "unknown-field"] == []


@needs_shared
def test_apollo_traffic_light_fields_are_reported() -> None:
    path = shared_path("zoo", "detection", "apollo_traffic_light_detection.prototxt")
    found = [f for f in check_net(load(path)) if f.rule == "unknown-field"]
    text = path.read_text()
    assert [(f.layer, f.message.split("'")[3]) for f in found] == [
        ("proposal", "bbox_reg_param"),
        ("proposal", "detection_output_ssd_param"),
        ("psroi_rois", "dfmb_psroi_pooling_param"),
        ("rcnn_proposal", "bbox_reg_param"),
        ("rcnn_proposal", "detection_output_ssd_param"),
    ]
    for f in found:
        assert f.severity == "warning" and f.message.endswith(HINT)
        assert f.line is not None
        assert text.splitlines()[f.line - 1].strip().startswith(f.message.split("'")[3])


@needs_shared
def test_golden_resnet101_is_read_as_pspnet_and_fully_known() -> None:
    net = load(shared_path("golden", "resnet101.prototxt"))
    assert {"BN", "Interp"} <= {layer.type for layer in net.layers}
    assert [f for f in check_net(net) if f.rule == "unknown-field"] == []
    # in the BVLC schema, its BN and Interp parameters are unknown
    found = check_net(net, proto=str(BVLC_PROTO))
    names = {f.message.split("'")[3] for f in found if f.rule == "unknown-field"}
    assert {"bn_param", "interp_param"} <= names


def test_a_proto_nesting_a_message_in_itself_is_walked_without_recursion(
    tmp_path: Path,
) -> None:
    text = BVLC_PROTO.read_text(encoding="utf-8")
    anchor = "message LayerParameter {\n"
    proto = tmp_path / "nested.proto"
    proto.write_text(
        text.replace(anchor, f"{anchor}  optional Nest nest = 999;\n")
        + "message Nest { optional Nest nest = 1; optional int32 v = 2; }\n",
        encoding="utf-8",
    )
    inner = 98  # the layer block and the first nest are two of the 100 levels
    net = MY_PARAM_NET.replace(
        "my_param { value: 2.5 size: 3 size: 4 }",
        "nest { " + "nest { " * inner + "v: 1 stray: 2" + " }" * inner + " }",
    )
    unknown(net, proto=str(proto))  # warm
    with shallow_stack():
        (f,) = unknown(net, proto=str(proto))
    assert f.message.startswith(f"layer 'conv1': field '{'nest.' * 99}stray' is not in ")
    assert f.line == line_of(net, "nest {")
