"""Fork dialect schemas, dialect guessing, and run-time loading of fork .proto files."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, text_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

import scnn_surgery as ss
from scnn_surgery import schema
from scnn_surgery.schema import (
    CUSTOM_LAYER_TYPES,
    DIALECTS,
    ProtoParseError,
    caffe_pb2,
    guess_dialect,
    layer_message_class,
    load_user_proto,
    net_message_class,
)
from scnn_surgery.schema.select import dialect_of

from .conftest import DATA, REPO_ROOT, SHARED, shared_path

PROTO = REPO_ROOT / "proto"
ZOO = SHARED / "zoo"

FORKS = [
    "deeplab",
    "pspnet",
    "segnet",
    "enet",
    "ssd",
    "fast_rcnn",
    "mobilenet_yolo",
    "densenet",
    "vpgnet",
]


def layer(dialect: str, text: str) -> Message:
    return text_format.Parse(text, layer_message_class(dialect)())


def number(dialect: str, field: str) -> int:
    return int(layer_message_class(dialect).DESCRIPTOR.fields_by_name[field].number)


def param_message(dialect: str, field: str) -> Descriptor:
    desc = layer_message_class(dialect).DESCRIPTOR.fields_by_name[field].message_type
    assert desc is not None
    return desc  # type: ignore[return-value]


def test_registry() -> None:
    assert set(DIALECTS) == {"bvlc", *FORKS}
    assert DIALECTS["bvlc"] is caffe_pb2
    assert layer_message_class("bvlc") is caffe_pb2.LayerParameter
    assert net_message_class("bvlc") is caffe_pb2.NetParameter
    assert set(CUSTOM_LAYER_TYPES) == set(DIALECTS)
    with pytest.raises(KeyError, match="unknown Caffe dialect"):
        layer_message_class("caffe2")


@pytest.mark.parametrize("dialect", FORKS)
def test_each_fork_has_its_own_package(dialect: str) -> None:
    net = net_message_class(dialect)
    lp = layer_message_class(dialect)
    assert lp.DESCRIPTOR.full_name == f"scnn_surgery.dialect.{dialect}.LayerParameter"
    assert net.DESCRIPTOR.fields_by_name["layer"].number == 100
    assert net.DESCRIPTOR.fields_by_name["layer"].message_type is lp.DESCRIPTOR
    assert net.DESCRIPTOR.fields_by_name["layers"].message_type is (
        caffe_pb2.V1LayerParameter.DESCRIPTOR
    )
    for name in ("name", "input", "input_shape", "input_dim", "force_backward", "state"):
        want = caffe_pb2.NetParameter.DESCRIPTOR.fields_by_name[name].number
        assert net.DESCRIPTOR.fields_by_name[name].number == want
    assert descriptor_pool.Default().FindMessageTypeByName(lp.DESCRIPTOR.full_name) is lp.DESCRIPTOR


# BVLC LayerParameter fields each fork lacks because it numbered its own fields there.
DROPPED = {
    "deeplab": {
        "input_param",
        "crop_param",
        "parameter_param",
        "recurrent_param",
        "swish_param",
        "clip_param",
    },
    "pspnet": {
        "input_param",
        "crop_param",
        "parameter_param",
        "recurrent_param",
        "swish_param",
        "clip_param",
    },
    "segnet": {"embed_param", "tile_param"},
    "enet": {"swish_param"},
}


@pytest.mark.parametrize("dialect", FORKS)
def test_fork_keeps_bvlc_fields_at_bvlc_numbers(dialect: str) -> None:
    fork = layer_message_class(dialect).DESCRIPTOR.fields_by_name
    missing = set()
    for fd in caffe_pb2.LayerParameter.DESCRIPTOR.fields:
        if fd.name not in fork:
            missing.add(fd.name)
        else:
            assert fork[fd.name].number == fd.number, fd.name
    assert missing == DROPPED.get(dialect, set())


def test_pspnet() -> None:
    lp = layer(
        "pspnet",
        """
        name: "conv1_1_3x3_s2/bn" type: "BN"
        param { lr_mult: 1 decay_mult: 0 }
        bn_param { slope_filler { type: "constant" value: 1 }
                   bias_filler { type: "constant" value: 0 }
                   frozen: true momentum: 0.95 }
        interp_param { zoom_factor: 8 height: 473 width: 473 }
        """,
    )
    bn = lp.bn_param  # type: ignore[attr-defined]
    assert bn.frozen and bn.momentum == pytest.approx(0.95) and bn.eps == pytest.approx(1e-5)
    assert lp.interp_param.zoom_factor == 8  # type: ignore[attr-defined]
    assert number("pspnet", "bn_param") == 152
    assert number("pspnet", "interp_param") == 143
    assert number("pspnet", "batch_norm_param") == 139


def test_deeplab() -> None:
    lp = layer(
        "deeplab",
        """
        name: "data" type: "ImageSegData" top: "data" top: "label"
        image_data_param { root_folder: "/voc" source: "l.txt" batch_size: 1 label_type: NONE }
        transform_param { mean_value: 104 crop_size: 513 }
        """,
    )
    assert lp.image_data_param.label_type == 0  # type: ignore[attr-defined]
    assert lp.image_data_param.ignore_label == 255  # type: ignore[attr-defined]
    mat = layer("deeplab", 'type: "MatWrite" mat_write_param { prefix: "out/" period: 1 }')
    assert mat.mat_write_param.prefix == "out/"  # type: ignore[attr-defined]
    assert number("deeplab", "mat_write_param") == 145
    assert number("deeplab", "interp_param") == 143
    assert "bn_param" not in layer_message_class("deeplab").DESCRIPTOR.fields_by_name


SEGNET_BN = """
    name: "conv1_1_bn" type: "BN"
    bn_param { bn_mode: INFERENCE scale_filler { type: "constant" value: 1 }
               shift_filler { type: "constant" value: 0.001 } }
"""
PSPNET_BN = 'type: "BN" bn_param { slope_filler { value: 1 } frozen: true }'


def test_segnet() -> None:
    lp = layer("segnet", SEGNET_BN)
    assert lp.bn_param.bn_mode == 1  # type: ignore[attr-defined]
    up = layer("segnet", 'type: "Upsample" upsample_param { scale: 2 upsample_w: 6 upsample_h: 4 }')
    assert up.upsample_param.upsample_h == 4  # type: ignore[attr-defined]
    data = layer(
        "segnet",
        'type: "DenseImageData" dense_image_data_param { source: "t" batch_size: 4 shuffle: true }',
    )
    assert data.dense_image_data_param.batch_size == 4  # type: ignore[attr-defined]
    drop = layer("segnet", "dropout_param { dropout_ratio: 0.5 sample_weights_test: true }")
    assert drop.dropout_param.sample_weights_test  # type: ignore[attr-defined]
    loss = layer("segnet", "loss_param { weight_by_label_freqs: true class_weighting: 0.2 }")
    assert loss.loss_param.normalize  # type: ignore[attr-defined]
    assert (number("segnet", "bn_param"), number("segnet", "upsample_param")) == (45, 137)
    assert number("segnet", "dense_image_data_param") == 138


def test_enet() -> None:
    lp = layer(
        "enet",
        'type: "DenseImageData" dense_image_data_param { source: "t" label_divide_factor: 8 }',
    )
    assert lp.dense_image_data_param.label_divide_factor == 8  # type: ignore[attr-defined]
    layer("enet", SEGNET_BN)
    assert number("enet", "upsample_param") == 147
    assert number("enet", "dense_image_data_param") == 46
    assert number("enet", "bn_param") == 45
    loss = param_message("enet", "loss_param")
    assert loss.fields_by_name["normalization"].number == 5
    assert loss.fields_by_name["weight_by_label_freqs"].number == 3


def test_bn_param_conflict_between_pspnet_and_segnet() -> None:
    with pytest.raises(text_format.ParseError):
        layer("pspnet", SEGNET_BN)
    with pytest.raises(text_format.ParseError):
        layer("segnet", PSPNET_BN)
    assert (number("segnet", "bn_param"), number("pspnet", "bn_param")) == (45, 152)
    seg, psp = param_message("segnet", "bn_param"), param_message("pspnet", "bn_param")
    assert seg.full_name != psp.full_name
    assert {f.name for f in seg.fields}.isdisjoint({f.name for f in psp.fields})
    # A SegNet binary layer read as PSPNet: field 45 is unknown there, nothing lands in bn_param.
    wire = layer("segnet", SEGNET_BN).SerializeToString()
    as_psp = layer_message_class("pspnet").FromString(wire)
    assert not as_psp.HasField("bn_param")


def test_fork_numbers_misread_by_bvlc() -> None:
    enet_up = layer("enet", "upsample_param { scale: 2 }")
    as_bvlc = caffe_pb2.LayerParameter.FromString(enet_up.SerializeToString())
    # ENet's upsample_param sits on BVLC's swish_param number.
    assert as_bvlc.HasField("swish_param")
    psp = layer("pspnet", "interp_param { zoom_factor: 8 }")
    assert caffe_pb2.LayerParameter.FromString(psp.SerializeToString()).HasField("input_param")


def test_ssd() -> None:
    lp = layer(
        "ssd",
        """
        name: "conv4_3_norm_mbox_priorbox" type: "PriorBox"
        prior_box_param { min_size: 30.0 max_size: 60.0 aspect_ratio: 2 flip: true clip: false
                          variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2
                          step: 8 offset: 0.5 }
        """,
    )
    variance = list(lp.prior_box_param.variance)  # type: ignore[attr-defined]
    assert variance == pytest.approx([0.1, 0.1, 0.2, 0.2])
    out = layer(
        "ssd",
        """
        type: "DetectionOutput"
        detection_output_param { num_classes: 21 share_location: true background_label_id: 0
          nms_param { nms_threshold: 0.45 top_k: 400 }
          save_output_param { output_directory: "out" output_format: "VOC" }
          code_type: CENTER_SIZE keep_top_k: 200 confidence_threshold: 0.01 }
        include { phase: TEST }
        """,
    )
    assert out.detection_output_param.code_type == 2  # type: ignore[attr-defined]
    layer(
        "ssd",
        'type: "Normalize" norm_param { across_spatial: false channel_shared: false '
        'scale_filler { type: "constant" value: 20 } }',
    )
    layer("ssd", 'type: "Permute" permute_param { order: 0 order: 2 order: 3 order: 1 }')
    fields = {
        f: number("ssd", f)
        for f in (
            "annotated_data_param",
            "multibox_loss_param",
            "permute_param",
            "prior_box_param",
            "detection_output_param",
            "detection_evaluate_param",
            "norm_param",
            "video_data_param",
        )
    }
    assert list(fields.values()) == list(range(200, 208))


def test_fast_rcnn() -> None:
    lp = layer(
        "fast_rcnn",
        'type: "ROIPooling" roi_pooling_param { pooled_w: 7 pooled_h: 7 spatial_scale: 0.0625 }',
    )
    assert lp.roi_pooling_param.spatial_scale == pytest.approx(0.0625)  # type: ignore[attr-defined]
    assert number("fast_rcnn", "roi_pooling_param") == 8266711
    assert number("fast_rcnn", "smooth_l1_loss_param") == 8266712
    assert layer("fast_rcnn", "dropout_param { }").dropout_param.scale_train  # type: ignore[attr-defined]
    layer(
        "fast_rcnn",
        'type: "Python" python_param { module: "rpn.proposal_layer" '
        "layer: 'ProposalLayer' param_str: \"'feat_stride': 16\" }",
    )


def test_mobilenet_yolo() -> None:
    lp = layer("mobilenet_yolo", 'type: "Upsample" upsample_param { scale: 2 }')
    assert lp.upsample_param.scale == 2  # type: ignore[attr-defined]
    out = layer(
        "mobilenet_yolo",
        """
        type: "Yolov3DetectionOutput"
        yolov3_detection_output_param { confidence_threshold: 0.01 nms_threshold: 0.45
          num_classes: 80 biases: 10 biases: 13 mask: 0 mask: 1 mask: 2
          anchors_scale: 32 anchors_scale: 16 mask_group_num: 2 }
        """,
    )
    yolo = out.yolov3_detection_output_param  # type: ignore[attr-defined]
    assert list(yolo.anchors_scale) == [32, 16]
    layer("mobilenet_yolo", 'type: "DepthwiseConvolution" convolution_param { group: 32 }')
    assert number("mobilenet_yolo", "upsample_param") == 150
    assert number("mobilenet_yolo", "yolov3_detection_output_param") == 602
    assert number("mobilenet_yolo", "relu6_param") == 211
    assert number("mobilenet_yolo", "prior_box_param") == 203


def test_densenet_ceil_mode() -> None:
    text = "pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 ceil_mode: false }"
    assert not layer("densenet", text).pooling_param.ceil_mode  # type: ignore[attr-defined]
    assert layer("densenet", "pooling_param { }").pooling_param.ceil_mode  # type: ignore[attr-defined]
    with pytest.raises(text_format.ParseError):
        layer("bvlc", text)
    pool = param_message("densenet", "pooling_param")
    assert pool.fields_by_name["ceil_mode"].number == 13
    assert caffe_pb2.PoolingParameter.DESCRIPTOR.fields_by_name["round_mode"].number == 13


def test_vpgnet() -> None:
    lp = layer("vpgnet", 'name: "bb-output-tiled" type: "Tiling" tiling_param { tile_dim: 8 }')
    assert lp.tiling_param.tile_dim == 8  # type: ignore[attr-defined]
    assert (number("vpgnet", "tiling_param"), number("vpgnet", "drive_data_param")) == (500, 501)


@pytest.mark.parametrize(
    ("types", "fields", "want"),
    [
        ({"Convolution", "ReLU"}, {"convolution_param"}, "bvlc"),
        ({"BN", "Interp"}, {"bn_param", "slope_filler", "frozen", "interp_param"}, "pspnet"),
        ({"BN"}, {"bn_param", "slope_filler", "frozen"}, "pspnet"),
        ({"BN"}, {"bn_param", "bn_mode", "scale_filler", "shift_filler"}, "segnet"),
        ({"BN", "DenseImageData"}, {"dense_image_data_param", "label_divide_factor"}, "enet"),
        ({"Interp", "ImageSegData", "MatWrite"}, {"interp_param", "mat_write_param"}, "deeplab"),
        ({"PriorBox", "DetectionOutput"}, {"prior_box_param"}, "ssd"),
        ({"ROIPooling", "Python"}, {"roi_pooling_param"}, "fast_rcnn"),
        ({"Upsample", "Yolov3DetectionOutput"}, {"upsample_param"}, "mobilenet_yolo"),
        ({"DepthwiseConvolution"}, set(), "mobilenet_yolo"),
        ({"Pooling"}, {"pooling_param", "ceil_mode"}, "densenet"),
        ({"Tiling"}, {"tiling_param", "tile_dim"}, "vpgnet"),
    ],
)
def test_guess_dialect(types: set[str], fields: set[str], want: str) -> None:
    assert guess_dialect(types, fields) == want


def test_guess_dialect_without_fields() -> None:
    assert guess_dialect(["ROIPooling"]) == "fast_rcnn"
    assert guess_dialect(["Interp"]) == "deeplab"
    assert guess_dialect(["BN", "Interp"]) == "pspnet"
    assert guess_dialect(["BN", "Upsample"]) == "segnet"
    assert guess_dialect(["Tiling"]) == "vpgnet"
    assert guess_dialect(["Convolution"]) == "bvlc"
    assert guess_dialect(["SomethingNobodyKnows"]) == "bvlc"


def test_dialect_reads_the_tree_not_comments_or_strings() -> None:
    text = """
    # layer { type: "Commented" bn_param { } }
    layer { name: "a" type: "BN" bn_param { slope_filler { type: "msra" } } }
    layer { type: "Convolution" include: { phase: TRAIN } }
    layer { name: "s" type: "Python" python_param { param_str: "fake_field: 1" } }
    """
    net = ss.loads(text)
    assert {x.type for x in net.layers} == {"BN", "Convolution", "Python"}
    assert dialect_of(net) == "pspnet"
    # a field named only inside a string or a comment does not count
    assert dialect_of(ss.loads('layer { name: "c" type: "Python" python_param {'
                               ' param_str: "bn_mode: 1" } }  # interp_param { }')) == "bvlc"


ZOO_DIALECTS = {
    "segmentation/pspnet50_ade20k_473.prototxt": "pspnet",
    "segmentation/deeplabv2_vgg16_test_template.prototxt": "deeplab",
    "segmentation/bayesian_segnet_camvid.prototxt": "segnet",
    "segmentation/segnet_inference.prototxt": "segnet",
    "segmentation/enet_deploy_final.prototxt": "enet",
    "segmentation/enet_train_encoder_decoder.prototxt": "enet",
    "detection/ssd300_vgg16_voc0712_deploy.prototxt": "ssd",
    "detection/mobilenet_ssd_deploy.prototxt": "ssd",
    "detection/faster_rcnn_vgg16_voc_end2end_test.prototxt": "fast_rcnn",
    "detection/yolov3_darknet_caffe.prototxt": "mobilenet_yolo",
    "lane/mobilenet_yolov3_lite_tusimple_lane_deploy.prototxt": "mobilenet_yolo",
    "deploy/densenet121_deploy.prototxt": "densenet",
    "lane/vpgnet_novp_deploy.prototxt": "vpgnet",
}
# ENet's deploy net uses no field that tells caffe-enet from caffe-segnet apart.
GUESS_DIFFERS = {"segmentation/enet_deploy_final.prototxt": "segnet"}


def _zoo_text(rel: str) -> str:
    text = shared_path("zoo", rel).read_text(encoding="utf-8")
    # The DeepLab file is a template with unquoted ${...} placeholders.
    return re.sub(r"\$\{(\w+)\}", lambda m: "21" if m.group(1) == "NUM_LABELS" else "x", text)


@pytest.mark.parametrize(("rel", "dialect"), sorted(ZOO_DIALECTS.items()))
def test_zoo_fork_files_parse_fully_in_their_dialect(rel: str, dialect: str) -> None:
    text = _zoo_text(rel)
    net = text_format.Parse(text, net_message_class(dialect)())
    assert len(net.layer) > 0  # type: ignore[attr-defined]
    assert dialect_of(ss.loads(text)) == GUESS_DIFFERS.get(rel, dialect)


def test_zoo_apollo_traffic_light_is_not_covered() -> None:
    text = _zoo_text("detection/apollo_traffic_light_detection.prototxt")
    with pytest.raises(text_format.ParseError, match=r"dfmb_psroi_pooling_param|bbox_reg_param"):
        text_format.Parse(text, net_message_class("ssd")())
    net = text_format.Parse(text, caffe_pb2.NetParameter(), allow_unknown_field=True)
    assert {"RPNProposalSSD", "RCNNProposal", "DFMBPSROIAlign"} <= {lyr.type for lyr in net.layer}


# --- load_user_proto ---------------------------------------------------------


def _file_proto(desc: object) -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto()
    desc.CopyToProto(fdp)  # type: ignore[attr-defined]
    return fdp


def test_load_user_proto_matches_generated_bvlc() -> None:
    mod = load_user_proto(PROTO / "caffe.proto")
    assert _file_proto(mod.DESCRIPTOR) == _file_proto(caffe_pb2.DESCRIPTOR)
    assert mod.NetParameter is not caffe_pb2.NetParameter
    assert mod.DESCRIPTOR.pool is not descriptor_pool.Default()
    assert mod.TEST == 1 and mod.Phase.Name(0) == "TRAIN"
    assert mod.PoolingParameter.AVE == 1
    assert mod.V1LayerParameter.LayerType.Value("DECONVOLUTION") == 39
    assert mod.ConvolutionParameter().bias_term is True

    text = ZOO / "deploy/bvlc_googlenet_deploy.prototxt"
    if not text.exists():
        text = DATA / "phases_inplace.prototxt"
    body = text.read_text(encoding="utf-8")
    ours = text_format.Parse(body, mod.NetParameter())
    theirs = text_format.Parse(body, caffe_pb2.NetParameter())
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(
        deterministic=True
    )
    assert text_format.MessageToString(ours) == text_format.MessageToString(theirs)


def test_load_user_proto_twice_does_not_clash() -> None:
    first = load_user_proto(PROTO / "caffe.proto")
    second = load_user_proto(PROTO / "caffe.proto")
    assert first.LayerParameter is not second.LayerParameter


@pytest.mark.parametrize("dialect", FORKS)
def test_load_user_proto_with_imports_matches_generated_dialects(dialect: str) -> None:
    mod = load_user_proto(PROTO / "dialects" / f"{dialect}.proto", include_paths=[PROTO])
    assert _file_proto(mod.DESCRIPTOR) == _file_proto(DIALECTS[dialect].DESCRIPTOR)


TRICKY = r"""
// A fork-style file exercising the supported proto2 subset.
syntax = "proto2";
package fork.test;
/* block
   comment */
enum Top { A = 0; B = 1; C = -2; reserved 5 to 7, 9; reserved "Z"; }
message Outer {
  enum Mode { ON = 1; OFF = 2; }
  message Inner {
    optional Mode mode = 1 [default = OFF];
    optional Outer.Mode mode2 = 2;
    optional .fork.test.Top top = 3 [default = C];
  }
  optional Inner inner = 1;
  repeated Inner inners = 2;
  optional float f = 3 [default = 1e-5];
  optional float g = 4 [default = .999];
  optional double d = 5 [default = -1.5E38];
  optional int32 i = 6 [default = -16];
  optional uint32 u = 7 [default = 0x1F];
  optional string s = 8 [default = "a\"b\n\x41\101 'q'"];
  optional bytes b = 9 [default = "\001\xff'z"];
  optional bool flag = 10 [default = true, deprecated = true];
  repeated int64 packed_ints = 11 [packed = true];
  optional float pinf = 12 [default = inf];
  optional float ninf = 13 [default = -inf];
  optional sint64 big = 14 [default = -9223372036854775808];
  required fixed32 req = 15;
  optional float gamma = 16 [default = 0.69314718055994529];
  optional string single = 18 [default = 'constant'];
  optional double tiny = 19 [default = 1E-300];
  optional int32 octal = 024 [default = 017];
  reserved 100 to 110, 200;
  reserved "old_name";
  extensions 1000 to max;
  optional Top t = 17 [default = B];
}
message Other { optional Outer.Inner x = 1; repeated Top tops = 2; }
"""


def _protoc_descriptor(tmp_path: Path, name: str) -> descriptor_pb2.FileDescriptorProto:
    out = tmp_path / "set.pb"
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{tmp_path}",
        f"--descriptor_set_out={out}",
        name,
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    fdp = fds.file[0]
    for msg in fdp.message_type:
        _strip_json_names(msg)
    return fdp


def _strip_json_names(msg: descriptor_pb2.DescriptorProto) -> None:
    for fd in msg.field:
        fd.ClearField("json_name")
    for nested in msg.nested_type:
        _strip_json_names(nested)


def test_load_user_proto_ignores_options(tmp_path: Path) -> None:
    path = tmp_path / "opts.proto"
    path.write_text(
        'syntax = "proto2"; package p; option optimize_for = SPEED;'
        " message M { option deprecated = true;"
        '  optional int32 x = 1 [(my.opt) = 3, json_name = "X"]; }'
        " enum E { option allow_alias = true; A = 0; B = 0 [deprecated = true]; }",
        encoding="utf-8",
    )
    mod = load_user_proto(path)
    assert mod.M(x=3).x == 3
    assert mod.E.Value("B") == 0


def test_load_user_proto_agrees_with_protoc(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools is not installed")
    (tmp_path / "fork.proto").write_text(TRICKY, encoding="utf-8")
    mod = load_user_proto(tmp_path / "fork.proto")
    expected = _protoc_descriptor(tmp_path, "fork.proto")
    # Straight from the parser, before any pool re-renders default values.
    raw = schema._build_files(tmp_path / "fork.proto", [])
    assert raw == [expected]
    pool = descriptor_pool.DescriptorPool()
    assert _file_proto(mod.DESCRIPTOR) == _file_proto(
        pool.AddSerializedFile(expected.SerializeToString())
    )
    outer = mod.Outer()
    assert outer.s == "a\"b\nAA 'q'"
    assert outer.b == b"\x01\xff'z"
    assert outer.inner.mode == mod.Outer.OFF
    assert outer.inner.top == mod.C == -2
    assert outer.big == -(2**63)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('syntax = "proto3"; message A { int32 x = 1; }', "only proto2"),
        ("message A { oneof o { int32 x = 1; } }", "unsupported statement 'oneof'"),
        ("message A { map<string, int32> m = 1; }", "unsupported statement 'map'"),
        ("message A { optional Missing m = 1; }", "unknown type 'Missing'"),
        ("message A { optional int32 x = 1 [default = 1.5]; }", "integer default"),
        ("message A { optional uint32 x = 1 [default = -1]; }", "out of range"),
        ("enum E { X = 0; } message A { optional E e = 1 [default = Y]; }", "not a value"),
        ("message A { optional int32 x = 0; }", "out of range"),
        ("message A { optional int32 x = 09; }", "expected an integer, found '09'"),
        ("message A { optional int32 x = 1 [default = 08]; }", "integer default"),
        ("message A { optional int32 x = 1; optional int32 y = 1; }", "duplicate field number"),
        ("message A { optional int32 x = 1 }", "expected ';'"),
        ('import "nowhere.proto"; message A { }', "not found"),
        ("message A { optional int32 x = 1; ", "end of file"),
    ],
)
def test_load_user_proto_errors(tmp_path: Path, source: str, message: str) -> None:
    path = tmp_path / "bad.proto"
    path.write_text(source, encoding="utf-8")
    with pytest.raises(ProtoParseError, match=message):
        load_user_proto(path)
