"""Fork dialect schemas, dialect guessing, and run-time loading of fork .proto files."""

from __future__ import annotations

import re

import pytest
from google.protobuf import descriptor_pool, text_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

import scnn_surgery as ss
from scnn_surgery.schema import (
    CUSTOM_LAYER_TYPES,
    DIALECTS,
    caffe_pb2,
    guess_dialect,
    net_message_class,
)
from scnn_surgery.schema.select import dialect_of, dialect_schema

from .conftest import REPO_ROOT, needs_shared, shared_path

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
    "rfcn",
    "shufflenet",
]


def layer_message_class(dialect: str) -> type[Message]:
    """The dialect's LayerParameter, as shape inference and check get it."""
    return dialect_schema(dialect).layer


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


def test_rfcn_and_shufflenet() -> None:
    """daijifeng001/caffe-rfcn's PSROIPooling; farmingyard/ShuffleNet's ShuffleChannel."""
    lp = layer(
        "rfcn",
        'type: "PSROIPooling" psroi_pooling_param { spatial_scale: 0.0625 output_dim: 21'
        " group_size: 7 }",
    )
    assert lp.psroi_pooling_param.output_dim == 21  # type: ignore[attr-defined]
    assert number("rfcn", "psroi_pooling_param") == 10001
    assert number("rfcn", "roi_pooling_param") == 8266711
    assert number("shufflenet", "shuffle_channel_param") == 164
    assert layer("shufflenet", "shuffle_channel_param { }").shuffle_channel_param.group == 1  # type: ignore[attr-defined]
    assert guess_dialect(["PSROIPooling", "ROIPooling"], {"psroi_pooling_param"}) == "rfcn"
    assert guess_dialect(["ShuffleChannel"], {"shuffle_channel_param"}) == "shufflenet"


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


def test_the_guess_skips_comments_and_strings() -> None:
    text = """
    # layer { type: "Commented" bn_param { } }
    layer { name: "a" type: "BN" bn_param { slope_filler { type: "msra" } } }
    layer { type: "Convolution" include: { phase: TRAIN } }
    layer { name: "s" type: "Python" python_param { param_str: "fake_field: 1" } }
    """
    net = ss.loads(text)
    assert {x.type for x in net.layers} == {"BN", "Convolution", "Python"}
    assert dialect_of(net) == "pspnet"
    # Fork words only in a comment or a string do not make a fork.
    plain = """
    # layer { type: "Interp" bn_param { bn_mode: INFERENCE } }
    layer { name: "p" type: "Python" python_param { param_str: "ceil_mode: false" } }
    layer { name: "c" type: "Convolution" convolution_param { num_output: 1 } }
    """
    assert dialect_of(ss.loads(plain)) == "bvlc"
    # ... while the same words as fields do.
    assert dialect_of(ss.loads("layer { pooling_param { ceil_mode: false } }")) == "densenet"


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


@needs_shared
def test_zoo_apollo_traffic_light_is_not_covered() -> None:
    text = _zoo_text("detection/apollo_traffic_light_detection.prototxt")
    with pytest.raises(text_format.ParseError, match=r"dfmb_psroi_pooling_param|bbox_reg_param"):
        text_format.Parse(text, net_message_class("ssd")())
    net = text_format.Parse(text, caffe_pb2.NetParameter(), allow_unknown_field=True)
    assert {"RPNProposalSSD", "RCNNProposal", "DFMBPSROIAlign"} <= {lyr.type for lyr in net.layer}


def test_the_readme_lists_every_dialect() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    listed = readme.split("*dialect*: BVLC, or one of ", 1)[1].split("(under", 1)[0]
    assert sorted(re.findall(r"`(\w+)`", listed)) == sorted(set(DIALECTS) - {"bvlc"})
