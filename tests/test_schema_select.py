"""Choosing the schema a net is read with: ``--proto FILE``, else the guessed dialect."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from scnn_surgery import SurgeryError, loads
from scnn_surgery.core.ops import insert_layers, remove_layers
from scnn_surgery.schema import DIALECTS, caffe_pb2
from scnn_surgery.schema.select import (
    dialect_of,
    dialect_schema,
    field_class,
    schema_for_net,
    user_schema,
)
from scnn_surgery.surgery import SpliceOptions, load, splice

from .conftest import RunCli, needs_shared, shared_path
from .forkproto import MY_PARAM_NET, MY_PARAM_NUMBER, write_fork_proto

# --- guessing ---------------------------------------------------------------

GUESSED = {
    ("golden", "resnet101.prototxt"): "pspnet",
    ("golden", "SCNN.prototxt"): "bvlc",
    ("zoo", "segmentation", "pspnet50_ade20k_473.prototxt"): "pspnet",
    ("zoo", "segmentation", "segnet_inference.prototxt"): "segnet",
    ("zoo", "segmentation", "bayesian_segnet_camvid.prototxt"): "segnet",
    ("zoo", "segmentation", "enet_train_encoder_decoder.prototxt"): "enet",
    ("zoo", "segmentation", "fcn8s_voc_deploy.prototxt"): "bvlc",
    ("zoo", "detection", "ssd300_vgg16_voc0712_deploy.prototxt"): "ssd",
    ("zoo", "detection", "mobilenet_ssd_deploy.prototxt"): "ssd",
    ("zoo", "detection", "faster_rcnn_vgg16_voc_end2end_test.prototxt"): "fast_rcnn",
    ("zoo", "detection", "yolov3_darknet_caffe.prototxt"): "mobilenet_yolo",
    ("zoo", "deploy", "densenet121_deploy.prototxt"): "densenet",
    ("zoo", "deploy", "resnet50_deploy.prototxt"): "bvlc",
    ("zoo", "lane", "vpgnet_novp_deploy.prototxt"): "vpgnet",
    ("zoo", "legacy", "caffe_v1_flickr_style_train_val.prototxt"): "bvlc",
    ("zoo", "legacy", "rcnn_v0_caffenet_fc7_deploy.prototxt"): "bvlc",
}


@pytest.mark.parametrize(("parts", "dialect"), list(GUESSED.items()), ids=lambda v: str(v))
def test_the_dialect_is_guessed_from_the_net(parts: tuple[str, ...], dialect: str) -> None:
    net = load(shared_path(*parts))
    schema = schema_for_net(net)
    assert schema.name == dialect and schema.proto is None
    assert schema.net is DIALECTS[dialect].NetParameter
    assert schema.layer is DIALECTS[dialect].LayerParameter


def test_a_net_without_fork_fields_is_bvlc() -> None:
    schema = schema_for_net(loads('layer { name: "r" type: "ReLU" bottom: "x" top: "x" }'))
    assert schema is dialect_schema("bvlc")
    assert schema.net is caffe_pb2.NetParameter
    assert schema.v1_layer is caffe_pb2.V1LayerParameter
    assert schema.v0_layer is caffe_pb2.V0LayerParameter
    assert schema.description == "the BVLC schema"


def test_schema_classes_by_layer_format() -> None:
    schema = dialect_schema("pspnet")
    assert schema.block_class("v2") is schema.layer
    assert schema.block_class("v1") is schema.block_class("v0") is schema.v1_layer
    assert field_class(schema.layer, "bn_param").DESCRIPTOR.name == "BNParameter"
    assert schema.description == "the pspnet fork's schema"


def test_an_unknown_dialect_is_one_line() -> None:
    with pytest.raises(SurgeryError, match="unknown Caffe dialect 'caffe2'"):
        dialect_schema("caffe2")


PLAIN = (
    'layer { name: "data" type: "Input" top: "data"'
    " input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n"
    'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"'
    " convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }\n"
    'layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }\n'
)
INTERP = (
    'layer { name: "up" type: "Interp" bottom: "x" top: "y" interp_param { zoom_factor: 2 } }\n'
)


def test_the_dialect_follows_the_layers_a_splice_brings_from_another_file() -> None:
    net = loads(PLAIN, "plain.prototxt")
    assert dialect_of(net) == "bvlc"  # cached on the input
    result = splice(net, loads(INTERP, "frag.prototxt"), SpliceOptions(after="conv1"))
    assert dialect_of(result.net) == "deeplab"  # its type and its interp_param
    assert dialect_of(net) == "bvlc"


def test_the_dialect_follows_edits_of_the_net_itself() -> None:
    net = loads(PLAIN + INTERP.replace('"x"', '"conv1"'), "net.prototxt")
    assert dialect_of(net) == "deeplab"
    remove_layers(net, [net.layers[-1]])
    assert dialect_of(net) == "bvlc"  # the removed layer's text no longer counts
    insert_layers(net, net.layers[-1], loads(INTERP, "more.prototxt").layers)
    assert dialect_of(net) == "deeplab"


# --- --proto ----------------------------------------------------------------


@needs_shared
def test_proto_wins_over_the_guess(tmp_path: Path) -> None:
    proto = write_fork_proto(tmp_path)
    net = load(shared_path("golden", "resnet101.prototxt"))
    schema = schema_for_net(net, str(proto))
    assert schema.proto == str(proto) and schema.name == str(proto)
    assert schema.description == f"the schema of {proto}"
    assert schema.net is not caffe_pb2.NetParameter
    field = schema.layer.DESCRIPTOR.fields_by_name["my_param"]
    assert field.number == MY_PARAM_NUMBER
    assert schema.layer().my_param.value == 0.5  # type: ignore[attr-defined]


def test_a_proto_is_compiled_once_per_version(tmp_path: Path) -> None:
    proto = write_fork_proto(tmp_path)
    first = user_schema(proto)
    assert user_schema(str(proto)) is first
    proto.write_text(proto.read_text() + "\nmessage Extra { optional int32 x = 1; }\n")
    stat = proto.stat()
    os.utime(proto, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    again = user_schema(proto)
    assert again is not first
    assert "Extra" in again.net.DESCRIPTOR.file.message_types_by_name


def test_a_missing_proto_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SurgeryError, match=r"nowhere\.proto: no such file"):
        user_schema(tmp_path / "nowhere.proto")


def test_a_proto_without_net_parameter_is_refused(tmp_path: Path) -> None:
    proto = tmp_path / "other.proto"
    proto.write_text('syntax = "proto2";\nmessage Something { optional int32 x = 1; }\n')
    with pytest.raises(SurgeryError, match="no top-level message NetParameter"):
        user_schema(proto)


BROKEN = [
    # (what replaces the anchor, protoc's message, line offset from the anchor)
    ("optional MyParameter my_param = 999\n", 'Expected ";"', 1),
    ("optional NoSuchParameter my_param = 999;\n", '"NoSuchParameter" is not defined', 0),
    # a duplicate is reported where it is defined the second time: BVLC's name = 1, next line
    ("optional MyParameter my_param = 1;\n", "Field number 1 has already been used", 1),
    ("optional MyParameter name = 999;\n", '"name" is already defined in "caffe.Layer', 1),
]


@pytest.mark.parametrize(("field", "message", "line_offset"), BROKEN)
def test_a_malformed_proto_is_one_located_line_and_exit_1(
    tmp_path: Path, field: str, message: str, line_offset: int, run_cli: RunCli
) -> None:
    proto = write_fork_proto(tmp_path)
    text = proto.read_text()
    good = f"  optional MyParameter my_param = {MY_PARAM_NUMBER};\n"
    proto.write_text(text.replace(good, "  " + field))
    line = text[: text.index(good)].count("\n") + 1 + line_offset
    net = tmp_path / "net.prototxt"
    net.write_text(MY_PARAM_NET)
    for command in ("check", "insert"):
        code, out, err = run_cli(command, str(net), "--proto", str(proto))
        assert code == 1, (command, err)
        assert out == ""
        assert err.count("\n") == 1
        assert err.startswith(f"scnn-surgery: error: {proto}:{line}:")
        assert message in err
    with pytest.raises(SurgeryError, match=rf"^{proto}:{line}:\d+: "):
        user_schema(proto)


def test_a_malformed_proto_stops_batch_before_any_work(tmp_path: Path, run_cli: RunCli) -> None:
    proto = tmp_path / "bad.proto"
    proto.write_text('syntax = "proto2";\nmessage NetParameter {\n  optional int32 x = ;\n}\n')
    net = tmp_path / "in" / "net.prototxt"
    net.parent.mkdir()
    net.write_text(MY_PARAM_NET)
    out_dir = tmp_path / "out"
    code, _, err = run_cli("batch", str(net.parent), "-o", str(out_dir), "--proto", str(proto))
    assert code == 1
    assert err == f"scnn-surgery: error: {proto}:3:22: Expected field number\n"
    assert not out_dir.exists()


def test_a_missing_proto_is_a_usage_error(tmp_path: Path, run_cli: RunCli) -> None:
    net = tmp_path / "net.prototxt"
    net.write_text(MY_PARAM_NET)
    code, _, err = run_cli("check", str(net), "--proto", str(tmp_path / "none.proto"))
    assert code == 2 and "--proto" in err


def test_check_with_proto_knows_the_fork_field(tmp_path: Path, run_cli: RunCli) -> None:
    net = tmp_path / "net.prototxt"
    net.write_text(MY_PARAM_NET)
    code, out, err = run_cli("check", str(net))
    assert code == 0
    assert "field 'my_param' is not in the BVLC schema" in out
    assert "[unknown-field]" in out

    proto = write_fork_proto(tmp_path)
    code, out, err = run_cli("check", str(net), "--proto", str(proto))
    assert (code, out) == (0, "")
    assert "no problems found" in err


def test_insert_and_batch_take_proto(tmp_path: Path, run_cli: RunCli) -> None:
    proto = write_fork_proto(tmp_path)
    src = tmp_path / "in" / "net.prototxt"
    src.parent.mkdir()
    src.write_text(MY_PARAM_NET)
    target = tmp_path / "net_SCNN.prototxt"
    code, _, err = run_cli(
        "insert", str(src), "--kernel-width", "3", "--proto", str(proto), "-o", str(target)
    )
    assert code == 0, err
    assert "my_param { value: 2.5 size: 3 size: 4 }" in target.read_text()

    out_dir = tmp_path / "out"
    code, _, err = run_cli(
        "batch", str(src.parent), "-o", str(out_dir), "--kernel-width", "3", "--proto", str(proto)
    )
    assert code == 0, err
    assert (out_dir / "net.prototxt").read_text() == target.read_text()


PARSE_ERRORS = [
    ("message A {\n  optional int32 x = 1; @\n}\n", '2:25: Expected "required", "optional"'),
    ("message A {\n  optional int32 x = 1;\n", "3:1: Reached end of input in message definition"),
    (
        "message A {\n  reserved 5;\n  optional int32 x = 5;\n}\n",
        'Field "x" uses reserved number 5',
    ),
    ("enum E {\n}\n", "1:6: Enums must contain at least one value"),
    ('syntax = "proto2";\nimport "nope.proto";\n', '2:1: Import "nope.proto" was not found'),
    ("message A {\n  optional int32 x = 1 [default = 1.5];\n}\n", "2:35: Expected integer"),
    ('message A { optional string s = 1 [default = "\\q"]; }', "1:48: Invalid escape sequence"),
    ("message A { optional uint32 x = 1 [default = -1]; }", "1:47: Unsigned field can't"),
]


@pytest.mark.parametrize(("source", "located"), PARSE_ERRORS)
def test_proto_errors_name_line_and_column(tmp_path: Path, source: str, located: str) -> None:
    proto = tmp_path / "bad.proto"
    proto.write_text(source)
    with pytest.raises(SurgeryError) as caught:
        user_schema(proto)
    assert re.match(rf"{re.escape(str(proto))}:\d+:\d+: ", str(caught.value))
    assert located in str(caught.value)
    assert "\n" not in str(caught.value)
