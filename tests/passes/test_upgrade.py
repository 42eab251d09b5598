"""Legacy formats: V0/V1 nets upgraded by Caffe's rules, and insertion that keeps V1 as V1."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from google.protobuf import text_format

import scnn_surgery as ss
from scnn_surgery.analysis.params import layer_message
from scnn_surgery.core.document import Document
from scnn_surgery.core.net import V1_TYPE_NAMES, Net
from scnn_surgery.errors import SurgeryError
from scnn_surgery.passes import upgrade as upgrade_pass
from scnn_surgery.passes.upgrade import (
    needs_upgrade,
    net_for_reading,
    upgrade_document,
    upgrade_net,
)
from scnn_surgery.schema import caffe_pb2

from ..conftest import DATA, RunCli, needs_shared, shared_path

LEGACY = [
    "caffe_v0_lenet_train",
    "caffe_v1_flickr_style_train_val",
    "rcnn_v0_caffenet_fc7_deploy",
    "rcnn_v1_pascal_finetune_train",
    "rcnn_v1_vgg16_fc7_deploy",
]
V1_NETS = [name for name in LEGACY if "_v1_" in name]

# V1 fields UpgradeV1LayerParameter rewrites; every other field is copied unchanged.
V1_REWRITTEN = {"type", "param", "blob_share_mode", "blobs_lr", "weight_decay", "layer"}
V1_DATA_PARAMS = {
    "DATA": "data_param",
    "IMAGE_DATA": "image_data_param",
    "WINDOW_DATA": "window_data_param",
}
TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")
LAYER_BLOCK = re.compile(r"^\s*layer\s*[{:<]", re.MULTILINE)
V1_BLOCK = re.compile(r"^\s*layers\s*[{:<]", re.MULTILINE)


def legacy(name: str) -> Path:
    return shared_path("zoo", "legacy", f"{name}.prototxt")


def strict_parse(text: str) -> caffe_pb2.NetParameter:
    """Parse with the real schema; any field it does not know raises."""
    net = caffe_pb2.NetParameter()
    text_format.Parse(text, net)
    return net


def upgraded(name: str) -> caffe_pb2.NetParameter:
    return strict_parse(ss.dumps(upgrade_net(ss.load(legacy(name)))))


def layer(net: caffe_pb2.NetParameter, name: str, index: int = 0) -> caffe_pb2.LayerParameter:
    return [lay for lay in net.layer if lay.name == name][index]


def lr_decay(lay: caffe_pb2.LayerParameter) -> list[tuple[float | None, float | None]]:
    return [
        (
            p.lr_mult if p.HasField("lr_mult") else None,
            p.decay_mult if p.HasField("decay_mult") else None,
        )
        for p in lay.param
    ]


# --- every legacy zoo net ---------------------------------------------------------------


@pytest.mark.parametrize("name", LEGACY)
def test_upgrade_gives_a_clean_v2_net(name: str) -> None:
    net = ss.load(legacy(name))
    assert net.format in ("v0", "v1") and needs_upgrade(net)
    new = upgrade_net(net)
    assert new.format == "v2"
    proto = strict_parse(ss.dumps(new))  # no field unknown to caffe.proto
    assert len(proto.layers) == 0 and len(proto.layer) > 0
    assert not proto.input and not proto.input_dim and not proto.input_shape
    assert not V1_BLOCK.search(ss.dumps(new))
    # a second upgrade changes nothing
    assert not needs_upgrade(new)
    assert upgrade_net(new) is new
    assert upgrade_document(Document.parse(ss.dumps(new))).text == ss.dumps(new)


@pytest.mark.parametrize("name", LEGACY)
def test_layers_keep_names_blobs_and_order(name: str) -> None:
    before = ss.load(legacy(name))
    after = upgraded(name)
    layers = [lay for lay in after.layer if lay.type != "Input"]
    assert [lay.name for lay in layers] == [lay.name for lay in before.layers]
    assert [lay.type for lay in layers] == [lay.type for lay in before.layers]
    assert [tuple(lay.bottom) for lay in layers] == [lay.bottoms for lay in before.layers]
    assert [tuple(lay.top) for lay in layers] == [lay.tops for lay in before.layers]
    assert after.name == (before.name or "")


@pytest.mark.parametrize("name", V1_NETS)
def test_v1_fields_follow_upgrade_v1_layer_parameter(name: str) -> None:
    v1 = strict_parse(legacy(name).read_text())
    v2 = upgraded(name)
    layers = [lay for lay in v2.layer if lay.type != "Input"]
    assert len(layers) == len(v1.layers)
    for old, new in zip(v1.layers, layers, strict=True):
        enum = caffe_pb2.V1LayerParameter.LayerType.Name(old.type)
        assert new.type == V1_TYPE_NAMES[enum]
        assert [p.lr_mult for p in new.param][: len(old.blobs_lr)] == list(old.blobs_lr)
        assert [p.decay_mult for p in new.param][: len(old.weight_decay)] == list(old.weight_decay)
        assert [p.name for p in new.param][: len(old.param)] == list(old.param)
        data_param = V1_DATA_PARAMS.get(enum)
        for descriptor, value in old.ListFields():
            if descriptor.name in V1_REWRITTEN:
                continue
            if descriptor.name in (data_param, "transform_param"):
                continue  # checked below: the transform fields move between the two
            assert getattr(new, descriptor.name) == value, (old.name, descriptor.name)
        if data_param is not None:
            _check_transform_moved(
                getattr(old, data_param),
                old.transform_param,
                getattr(new, data_param),
                new.transform_param,
            )


def _check_transform_moved(
    old_param: caffe_pb2.DataParameter,
    old_transform: caffe_pb2.TransformationParameter,
    new_param: caffe_pb2.DataParameter,
    new_transform: caffe_pb2.TransformationParameter,
) -> None:
    expected_transform = caffe_pb2.TransformationParameter()
    expected_transform.CopyFrom(old_transform)
    expected_param = type(old_param)()
    expected_param.CopyFrom(old_param)
    for field in TRANSFORM_FIELDS:
        if old_param.HasField(field):
            setattr(expected_transform, field, getattr(old_param, field))
            expected_param.ClearField(field)
    assert new_param == expected_param
    assert new_transform == expected_transform


# --- specific facts, by hand --------------------------------------------------------------


def test_v0_lenet() -> None:
    net = upgraded("caffe_v0_lenet_train")
    assert net.name == "LeNet"
    data = layer(net, "mnist")
    assert data.type == "Data"
    assert data.data_param.source == "mnist-train-leveldb"
    assert data.data_param.batch_size == 64
    assert data.transform_param.scale == pytest.approx(0.00390625)
    assert list(data.top) == ["data", "label"]
    conv1 = layer(net, "conv1")
    assert conv1.type == "Convolution"
    assert conv1.convolution_param.num_output == 20
    assert list(conv1.convolution_param.kernel_size) == [5]
    assert list(conv1.convolution_param.stride) == [1]
    assert conv1.convolution_param.weight_filler.type == "xavier"
    assert lr_decay(conv1) == [(1, None), (2, None)]
    pool1 = layer(net, "pool1")
    assert pool1.type == "Pooling"
    assert pool1.pooling_param.pool == caffe_pb2.PoolingParameter.MAX
    assert (pool1.pooling_param.kernel_size, pool1.pooling_param.stride) == (2, 2)
    assert layer(net, "ip1").inner_product_param.num_output == 500
    assert layer(net, "relu1").type == "ReLU"
    loss = layer(net, "loss")
    assert loss.type == "SoftmaxWithLoss"
    assert list(loss.bottom) == ["ip2", "label"]


def test_v0_caffenet_deploy_inputs_become_an_input_layer() -> None:
    net = upgraded("rcnn_v0_caffenet_fc7_deploy")
    first = net.layer[0]
    assert (first.name, first.type, list(first.top)) == ("input", "Input", ["data"])
    assert [list(s.dim) for s in first.input_param.shape] == [[256, 3, 227, 227]]
    conv2 = layer(net, "conv2")
    assert list(conv2.convolution_param.pad) == [2]
    assert list(conv2.convolution_param.kernel_size) == [5]
    assert conv2.convolution_param.group == 2
    assert conv2.convolution_param.bias_filler.value == 1
    assert lr_decay(conv2) == [(1, 1), (2, 0)]
    assert layer(net, "fc7").inner_product_param.weight_filler.std == pytest.approx(0.005)


def test_v1_flickr_style() -> None:
    net = upgraded("caffe_v1_flickr_style_train_val")
    train, test = layer(net, "data", 0), layer(net, "data", 1)
    assert train.type == test.type == "ImageData"
    assert [r.phase for r in train.include] == [caffe_pb2.TRAIN]
    assert [r.phase for r in test.include] == [caffe_pb2.TEST]
    assert (train.transform_param.crop_size, train.transform_param.mirror) == (227, True)
    assert (test.transform_param.crop_size, test.transform_param.mirror) == (227, False)
    assert train.image_data_param.new_height == 256
    conv1 = layer(net, "conv1")
    assert list(conv1.convolution_param.kernel_size) == [11]
    assert lr_decay(conv1) == [(1, 1), (2, 0)]


def test_v1_window_data_transform_fields_move() -> None:
    net = upgraded("rcnn_v1_pascal_finetune_train")
    data = layer(net, "data")
    assert data.type == "WindowData"
    window = data.window_data_param
    for field in ("mean_file", "crop_size", "mirror"):
        assert not window.HasField(field)
    assert data.transform_param.mean_file == "../../data/ilsvrc12/imagenet_mean.binaryproto"
    assert data.transform_param.crop_size == 227
    assert data.transform_param.mirror is True
    assert window.source == "window_file_voc_2007_trainval.txt"
    assert (window.batch_size, window.context_pad, window.crop_mode) == (128, 16, "warp")
    assert window.fg_threshold == pytest.approx(0.5)


def test_v1_vgg16_deploy() -> None:
    net = upgraded("rcnn_v1_vgg16_fc7_deploy")
    assert net.name == "VGG_ILSVRC_16_layers"
    first = net.layer[0]
    assert (first.type, list(first.top)) == ("Input", ["data"])
    assert [list(s.dim) for s in first.input_param.shape] == [[100, 3, 224, 224]]
    conv = layer(net, "conv1_1")
    assert list(conv.convolution_param.pad) == [1]
    assert list(conv.convolution_param.kernel_size) == [3]
    assert len(net.layer) == 38


def test_v1_upgrade_only_touches_what_the_rules_name() -> None:
    original = legacy("rcnn_v1_vgg16_fc7_deploy").read_text()
    text = ss.dumps(upgrade_net(ss.load(legacy("rcnn_v1_vgg16_fc7_deploy"))))
    body = text[text.index("}\n}\n") + 4 :]  # after the new Input layer
    as_v1 = re.sub(r'type: "(\w+)"', lambda m: "type: " + _v1_enum(m.group(1)), body)
    assert as_v1.replace("layer {", "layers {") == original[original.index("layers {") :]


def _v1_enum(v2_type: str) -> str:
    return next(enum for enum, name in V1_TYPE_NAMES.items() if name == v2_type)


# --- rules on small nets ------------------------------------------------------------------

V0_PADDED = """\
name: "padded"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layers { layer { name: "pad1" type: "padding" pad: 2 } bottom: "data" top: "pad1" }
layers {
  layer { name: "conv1" type: "conv" num_output: 4 kernelsize: 5 biasterm: false group: 1 }
  bottom: "pad1" top: "conv1"
}
layers {
  layer { name: "pool1" type: "pool" pool: AVE kernelsize: 2 stride: 2 }
  bottom: "conv1" top: "pool1"
}
layers { layer { name: "drop" type: "dropout" dropout_ratio: 0.25 } bottom: "pool1" top: "pool1" }
"""


def test_v0_padding_layer_folds_into_the_next_conv() -> None:
    net = strict_parse(upgrade_document(Document.parse(V0_PADDED)).text)
    assert [lay.name for lay in net.layer] == ["input", "conv1", "pool1", "drop"]
    conv = layer(net, "conv1")
    assert list(conv.bottom) == ["data"]
    assert list(conv.convolution_param.pad) == [2]
    assert conv.convolution_param.bias_term is False
    assert layer(net, "pool1").pooling_param.pool == caffe_pb2.PoolingParameter.AVE
    assert layer(net, "drop").dropout_param.dropout_ratio == pytest.approx(0.25)


def test_v0_padding_before_a_non_conv_layer_is_refused() -> None:
    text = V0_PADDED.replace(
        'name: "conv1" type: "conv" num_output: 4 kernelsize: 5 biasterm: false group: 1',
        'name: "conv1" type: "relu"',
    )
    with pytest.raises(SurgeryError, match=r"conv1.*padding"):
        upgrade_document(Document.parse(text))


def test_v0_unknown_type_is_refused() -> None:
    text = 'layers { layer { name: "x" type: "warp" } top: "x" }\n'
    with pytest.raises(SurgeryError, match="'warp'"):
        upgrade_document(Document.parse(text))


def test_v0_field_the_schema_does_not_know_is_refused_at_its_name() -> None:
    # The V0 path re-renders the net from its message, which would drop such a field.
    text = V0_PADDED.replace("pool: AVE", "pool: AVE\n    fork_knob: 3")
    with pytest.raises(SurgeryError) as info:
        upgrade_document(Document.parse(text, "v0.prototxt"))
    assert str(info.value) == (
        "v0.prototxt:11:5: cannot upgrade this V0 net:"
        ' Message type "caffe.V0LayerParameter" has no field named "fork_knob".'
    )


V1_SHARED = """\
name: "shared"  # keep me
layers {
  name: "a"
  type: INNER_PRODUCT
  bottom: "x"
  top: "a"
  param: "w"  # the shared weights
  param: "b"
  blob_share_mode: PERMISSIVE
  blobs_lr: 1
  blobs_lr: 2
  weight_decay: 0
  inner_product_param { num_output: 3 }
  my_fork_param { k: 1 }
}
"""


def test_v1_sharing_and_unknown_fields() -> None:
    text = upgrade_document(Document.parse(V1_SHARED)).text
    head = 'name: "shared"  # keep me\nlayer {\n  name: "a"\n  type: "InnerProduct"\n'
    assert text.startswith(head)
    assert '  param {\n    name: "w"  # the shared weights\n    share_mode: PERMISSIVE\n' in text
    assert "  my_fork_param { k: 1 }\n" in text  # unknown to caffe.proto, still kept
    net = strict_parse(text.replace("  my_fork_param { k: 1 }\n", ""))
    params = net.layer[0].param
    assert [(p.name, p.lr_mult) for p in params] == [("w", 1), ("b", 2)]
    assert params[0].share_mode == caffe_pb2.ParamSpec.PERMISSIVE
    assert params[0].decay_mult == 0 and not params[1].HasField("decay_mult")


def test_v1_upgrade_keeps_crlf_and_tabs() -> None:
    text = V1_SHARED.replace("\n  ", "\n\t").replace("\n", "\r\n")
    out = upgrade_document(Document.parse(text)).text
    assert "\n" not in out.replace("\r\n", "")
    assert '\tparam {\r\n\t\tname: "w"  # the shared weights\r\n' in out


def test_v1_data_param_fields_join_an_existing_transform_param() -> None:
    text = """\
layers {
  name: "d"
  type: DATA
  top: "x"
  data_param {
    source: "db"
    scale: 0.5  # to [0, 1/2]
    crop_size: 9
  }
  transform_param {
    crop_size: 7
  }
}
"""
    out = upgrade_document(Document.parse(text)).text
    assert (
        out
        == """\
layer {
  name: "d"
  type: "Data"
  top: "x"
  data_param {
    source: "db"
  }
  transform_param {
    crop_size: 9
    scale: 0.5  # to [0, 1/2]
  }
}
"""
    )


@needs_shared
def test_v2_inputs_become_an_input_layer_leaving_the_rest_alone() -> None:
    path = shared_path("zoo", "deploy", "densenet121_deploy.prototxt")
    original = path.read_text()
    net = ss.load(path)
    assert net.format == "v2" and needs_upgrade(net)
    text = ss.dumps(upgrade_net(net))
    first_layer = original.index("layer {")
    assert text.endswith(original[first_layer:])  # ceil_mode (a fork's field) included
    proto = caffe_pb2.NetParameter()
    text_format.Parse(text, proto, allow_unknown_field=True)
    assert [list(s.dim) for s in proto.layer[0].input_param.shape] == [[1, 3, 224, 224]]
    assert not proto.input


def test_several_inputs_with_input_shape() -> None:
    text = (
        'input: "a"\ninput_shape { dim: 1 dim: 2 }\ninput: "b"\ninput_shape { dim: 3 }\n'
        'layer { name: "s" type: "Silence" bottom: "a" bottom: "b" }\n'
    )
    proto = strict_parse(upgrade_document(Document.parse(text)).text)
    assert list(proto.layer[0].top) == ["a", "b"]
    assert [list(s.dim) for s in proto.layer[0].input_param.shape] == [[1, 2], [3]]


def test_inputs_without_a_shape_are_dropped_as_caffe_drops_them() -> None:
    text = 'input: "a"\nlayer { name: "r" type: "ReLU" bottom: "a" top: "b" }\n'
    net = ss.loads(text)
    assert needs_upgrade(net)
    assert (
        ss.dumps(upgrade_net(net)) == 'layer { name: "r" type: "ReLU" bottom: "a" top: "b" }\n'
    )


@pytest.mark.parametrize(
    "inputs",
    [
        'input: "a"\ninput: "b"\ninput_shape { dim: 1 }\n',
        'input: "a"\ninput_dim: 1\ninput_dim: 2\n',
    ],
)
def test_inputs_with_too_few_shapes_are_refused(inputs: str) -> None:
    net = ss.loads(inputs + 'layer { name: "r" type: "ReLU" bottom: "a" top: "b" }\n', "n.prototxt")
    with pytest.raises(
        SurgeryError, match=r"^n.prototxt:1:8: \d top-level inputs but .*Input layer"
    ):
        upgrade_net(net)


def test_the_input_layer_is_named_input_even_when_a_layer_has_that_name() -> None:
    text = 'input: "a"\ninput_dim: 1\ninput_dim: 1\ninput_dim: 1\ninput_dim: 1\n'
    text += 'layer { name: "input" type: "ReLU" bottom: "a" top: "a" }\n'
    proto = strict_parse(upgrade_document(Document.parse(text)).text)
    assert [(lay.name, lay.type) for lay in proto.layer] == [("input", "Input"), ("input", "ReLU")]


def test_a_v1_entry_in_a_v0_net_is_refused() -> None:
    text = (
        'layers { layer { name: "r" type: "relu" } bottom: "a" top: "a" }\n'
        'layers { name: "s" type: RELU bottom: "a" top: "a" }\n'
    )
    located = r"layer 's' \(n.prototxt:3:1\) is written as V1 in a V0 net"
    with pytest.raises(SurgeryError, match=located):
        upgrade_net(ss.loads('input: "a"\n' + text, "n.prototxt"))


@needs_shared
def test_batch_norm_with_three_params_gets_fixed_statistics() -> None:
    path = shared_path("zoo", "lane", "apollo_darkscnn_deploy.prototxt")
    net = ss.load(path)
    assert needs_upgrade(net)
    new = upgrade_net(net)
    proto = strict_parse(ss.dumps(new))
    norms = [lay for lay in proto.layer if lay.type == "BatchNorm" and len(lay.param) == 3]
    assert norms
    for norm in norms:
        assert lr_decay(norm) == [(0, 0)] * 3
    assert not needs_upgrade(new)


def test_batch_norm_keeps_param_names_and_ignores_other_counts() -> None:
    text = (
        'layer { name: "bn" type: "BatchNorm" bottom: "x" top: "x"\n'
        '  param { name: "m" } param { lr_mult: 1 } param { lr_mult: 0 decay_mult: 0 } }\n'
        'layer { name: "bn2" type: "BatchNorm" bottom: "x" top: "x" param { lr_mult: 1 } }\n'
    )
    proto = strict_parse(upgrade_document(Document.parse(text)).text)
    assert [p.name for p in proto.layer[0].param] == ["m", "", ""]
    assert lr_decay(proto.layer[0]) == [(0, 0)] * 3
    assert lr_decay(proto.layer[1]) == [(1, None)]


def test_current_nets_are_returned_as_they_are() -> None:
    net = ss.loads('layer { name: "r" type: "ReLU" bottom: "a" top: "a" }\n')
    assert not needs_upgrade(net)
    assert upgrade_net(net) is net
    assert net_for_reading(net) is net


def test_net_for_reading_upgrades_layers_in_memory_and_keeps_inputs() -> None:
    path = legacy("rcnn_v1_vgg16_fc7_deploy")
    net = ss.load(path)
    read = net_for_reading(net)
    assert read.format == "v2"
    assert [i.name for i in read.inputs] == ["data"]
    assert [lay.name for lay in read.layers] == [lay.name for lay in net.layers]
    assert read.source == net.source  # not read again: messages name the file's lines
    assert read.layer_location(read.layers[0]) == f"{path}:{net.layer_line(net.layers[0])}:1"
    assert layer_message(read, read.layers[0]).convolution_param.num_output == 64
    assert net.document.text == path.read_text()


@pytest.mark.parametrize(
    "path",
    [
        legacy("caffe_v1_flickr_style_train_val"),
        legacy("rcnn_v1_pascal_finetune_train"),
        legacy("rcnn_v1_vgg16_fc7_deploy"),
        DATA / "legacy" / "v1_data_layers.prototxt",
        DATA / "v1_small_deploy.prototxt",
    ],
    ids=lambda p: p.stem,
)
def test_v1_layers_read_in_memory_are_the_layers_the_upgrade_writes(path: Path) -> None:
    """Read commands see a V1 net's layers as the V2 layers ``upgrade`` writes, field for
    field, without reading the file again."""
    net = ss.load(path)
    read = net_for_reading(net)
    written = [x for x in strict_parse(ss.dumps(upgrade_net(net))).layer if x.type != "Input"]
    assert [layer_message(read, x) for x in read.layers] == written


def test_net_for_reading_reads_v0_layers() -> None:
    path = legacy("caffe_v0_lenet_train")
    net = ss.load(path)
    read = net_for_reading(net)
    conv1 = next(lay for lay in read.layers if lay.name == "conv1")
    assert list(layer_message(read, conv1).convolution_param.kernel_size) == [5]
    # read once: messages name the V0 layer's own line in the file
    written = next(lay for lay in net.layers if lay.name == "conv1")
    assert read.layer_location(conv1) == net.layer_location(written)
    assert read.source == str(path)


# --- insertion ------------------------------------------------------------------------------

# rcnn_v1_vgg16_fc7_deploy at its 224 x 224 input
VGG_CONV5_3 = ss.InsertOptions(after="conv5_3", height=14, width=14, channels=512, kernel_width=3)
VGG_POOL5 = ss.InsertOptions(after="pool5", height=7, width=7, channels=512, kernel_width=3)
# rcnn_v0_caffenet_fc7_deploy at its 227 x 227 input
CAFFENET_CONV5 = ss.InsertOptions(after="conv5", height=13, width=13, channels=256, kernel_width=3)


def test_insert_into_v1_keeps_v1() -> None:
    net = ss.load(legacy("rcnn_v1_vgg16_fc7_deploy"))
    result = ss.insert(net, VGG_POOL5)
    text = ss.dumps(result.net)
    assert not LAYER_BLOCK.search(text), "a V1 file must not get 'layer' blocks"
    assert result.net.format == "v1"
    proto = strict_parse(text)
    assert len(proto.layer) == 0
    assert len(proto.layers) == len(net.layers) + len(ss.build_module(result.spec))
    by_name = {lay.name: lay for lay in proto.layers}
    message = by_name["SCNN_D_1"]
    assert message.type == caffe_pb2.V1LayerParameter.CONVOLUTION
    assert list(message.param) == ["SCNN_D_w"]
    assert list(message.blobs_lr) == [1]
    assert list(by_name["fc6"].bottom) == ["SCNN"]


def test_insert_into_v1_then_upgrade_equals_upgrade_then_insert() -> None:
    net = ss.load(legacy("rcnn_v1_vgg16_fc7_deploy"))
    written_v1 = ss.loads(ss.dumps(ss.insert(net, VGG_CONV5_3).net), "v1.prototxt")
    kept_v1 = strict_parse(ss.dumps(upgrade_net(written_v1)))
    direct = ss.insert(net, replace(VGG_CONV5_3, upgrade=True)).net
    assert list(strict_parse(ss.dumps(direct)).layer) == list(kept_v1.layer)



def test_insert_into_v1_with_upgrade_writes_v2() -> None:
    net = ss.load(legacy("rcnn_v1_vgg16_fc7_deploy"))
    result = ss.insert(net, replace(VGG_POOL5, upgrade=True))
    assert result.net.format == "v2"
    proto = strict_parse(ss.dumps(result.net))
    assert len(proto.layers) == 0
    assert list(layer(proto, "fc6").bottom) == ["SCNN"]


def test_insert_into_v0_needs_upgrade() -> None:
    net = ss.load(legacy("rcnn_v0_caffenet_fc7_deploy"))
    with pytest.raises(SurgeryError, match="--upgrade"):
        ss.insert(net, CAFFENET_CONV5)
    result = ss.insert(net, replace(CAFFENET_CONV5, upgrade=True))
    assert result.net.format == "v2"
    proto = strict_parse(ss.dumps(result.net))
    assert list(layer(proto, "pool5").bottom) == ["SCNN"]
    assert layer(proto, "Slice1").bottom[0] == "conv5"


def test_cli_upgrade_flag(tmp_path: Path, run_cli: RunCli) -> None:
    source = str(legacy("caffe_v0_lenet_train"))
    size = [
        "--after",
        "conv1",
        "--height",
        "24",
        "--width",
        "24",
        "--channel",
        "20",
        "--kernel-width",
        "3",
    ]
    code, _, err = run_cli("insert", source, *size)
    assert code == 1 and "--upgrade" in err
    target = tmp_path / "out.prototxt"
    code, _, err = run_cli("insert", source, *size, "--upgrade", "-o", str(target))
    assert code == 0, err
    net = Net.from_document(Document.load(target))
    assert net.format == "v2"
    assert next(lay for lay in net.layers if lay.name == "pool1").bottoms == ("SCNN",)


def test_v0_upgrade_keeps_the_files_own_text_around_the_layers() -> None:
    """The V0 pass rebuilds only the layers: the comments and the net fields Caffe keeps
    stay byte for byte, a dropped field is cut, and values keep their spelling."""
    path = DATA / "legacy" / "v0_padding.prototxt"
    original = path.read_text()
    text = ss.dumps(upgrade_net(ss.load(path)))
    head = original[: original.index("input:")]
    assert text.startswith(head + "force_backward: true\nlayer {\n")
    assert "debug_info:" not in text and "layers {" not in text
    assert "lr_mult: 1.\n" in text  # written as the file writes it
    proto = strict_parse(text)
    assert [x.name for x in proto.layer][:2] == ["input", "conv1"]


V0_COMMENTED = """\
name: "c"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
# A: before the first layer
layers { layer { name: "pad" type: "padding" pad: 1 } bottom: "data" top: "pad" }
# B: between layers

layers { layer { name: "c1" type: "conv" num_output: 2 kernelsize: 3 pad: 7 }
  bottom: "pad" top: "c1" }
# C: between layers
layers { layer { name: "r1" type: "relu" } bottom: "c1" top: "c1" }
# D: at the end
"""


def test_v0_layers_are_rebuilt_in_their_own_places() -> None:
    """Each V0 block is replaced where it is: the comments between blocks stay, a padding
    layer's block goes, and messages name the V0 block's line."""
    net = ss.loads(V0_COMMENTED, "c.prototxt")
    upgraded = upgrade_net(net)
    text = ss.dumps(upgraded)
    assert [line for line in text.splitlines() if line.startswith("#")] == [
        line for line in V0_COMMENTED.splitlines() if line.startswith("#")
    ]
    assert text.index("# B") < text.index('name: "c1"') < text.index("# C")
    assert "padding" not in text and "input_dim" not in text
    conv = next(x for x in upgraded.layers if x.name == "c1")
    assert upgraded.layer_location(conv) == "c.prototxt:8:1"
    assert list(layer(strict_parse(text), "c1").convolution_param.pad) == [1]
    assert upgrade_pass.v0_replaced_pads(net) == [
        "note: layer 'c1' (c.prototxt:8:1): its pad 7 becomes 1, the pad of padding layer"
        " 'pad' it reads, as Caffe's upgrade sets it"
    ]


def test_v0_inputs_are_what_caffe_keeps() -> None:
    """Caffe's V0 upgrade drops input_shape: an input sized only by it is no input."""
    text = 'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n' + (
        'layers { layer { name: "c" type: "conv" num_output: 2 kernelsize: 3 }'
        ' bottom: "data" top: "c" }\n'
    )
    assert net_for_reading(ss.loads(text, "n.prototxt")).inputs == []


def test_cut_input_fields_take_their_emptied_line() -> None:
    text = 'name: "n"\ninput: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n' + (
        'layer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n'
    )
    assert ss.dumps(upgrade_net(ss.loads(text))).startswith('name: "n"\nlayer {\n')
