"""Typed access to layer parameters: the parsed BVLC message, fork fields, Caffe's defaults."""

from __future__ import annotations

import pytest

from scnn_surgery.analysis.params import (
    bn_blob_count,
    conv_params,
    data_source,
    definition_message,
    fork_param,
    inner_product_params,
    interp_params,
    layer_message,
    per_axis,
    pool_params,
    prior_box_params,
    raw_bool,
    raw_floats,
    raw_int,
    raw_ints,
    upsample_params,
)
from scnn_surgery.core.document import Document
from scnn_surgery.core.layerdef import LayerDef, Raw
from scnn_surgery.core.net import Layer, Net
from scnn_surgery.errors import SurgeryError
from scnn_surgery.schema import caffe_pb2


def _net(text: str) -> Net:
    return Net.from_document(Document.parse(text, "t.prototxt"))


def _only(text: str) -> tuple[Net, Layer]:
    net = _net(text)
    return net, net.layers[0]


# --- layer_message ------------------------------------------------------------


def test_v2_layer_parses_to_layer_parameter_with_defaults() -> None:
    net = _net('layer { name: "c" type: "Convolution" convolution_param { num_output: 8 } }')
    msg = layer_message(net, net.layers[0])
    assert isinstance(msg, caffe_pb2.LayerParameter)
    assert msg.convolution_param.num_output == 8
    assert msg.convolution_param.bias_term is True  # Caffe's default
    assert msg.convolution_param.group == 1


def test_v1_and_v0_layers_parse_to_their_own_messages() -> None:
    v1 = _net('layers { name: "c" type: CONVOLUTION convolution_param { num_output: 4 } }')
    assert isinstance(layer_message(v1, v1.layers[0]), caffe_pb2.V1LayerParameter)
    v0 = _net('layers { layer { name: "c" type: "conv" kernelsize: 5 num_output: 3 } }')
    msg = layer_message(v0, v0.layers[0])
    assert isinstance(msg, caffe_pb2.V0LayerParameter)
    assert (msg.kernelsize, msg.num_output, msg.biasterm) == (5, 3, True)


def test_layer_message_is_cached_per_document_and_layer() -> None:
    net = _net('layer { name: "a" type: "ReLU" } layer { name: "b" type: "ReLU" }')
    first = layer_message(net, net.layers[0])
    assert layer_message(net, net.layers[0]) is first
    assert layer_message(net, net.layers[1]) is not first
    other = _net('layer { name: "a" type: "ReLU" }')
    assert layer_message(other, other.layers[0]) is not first


def test_fork_fields_are_skipped_by_the_schema_but_readable_raw() -> None:
    text = """layer {
  name: "up"
  type: "Interp"
  interp_param { zoom_factor: 8 }
  pooling_param { pool: AVE ceil_mode: false }
}"""
    net = _net(text)
    layer = net.layers[0]
    msg = layer_message(net, layer)
    assert msg.name == "up"
    assert msg.pooling_param.pool == caffe_pb2.PoolingParameter.AVE
    assert raw_int(fork_param(layer, "interp_param"), "zoom_factor", 1) == 8
    assert raw_bool(fork_param(layer, "pooling_param"), "ceil_mode", True) is False


def test_schema_errors_are_located_in_the_file() -> None:
    text = (
        'name: "n"\nlayer {\n  name: "c"\n  type: "Convolution"\n'
        "  convolution_param { num_output: many }\n}\n"
    )
    net = _net(text)
    # column 35 is where "many" starts on line 5
    with pytest.raises(SurgeryError, match=r"^t\.prototxt:5:35: in layer 'c': Couldn't parse"):
        layer_message(net, net.layers[0])


# --- raw getters --------------------------------------------------------------


def test_raw_getters_take_the_default_when_absent() -> None:
    _, layer = _only(
        'layer { name: "p" type: "PriorBox" prior_box_param { min_size: 30 aspect_ratio: 2'
        " aspect_ratio: 3 step: 8.5 flip: false } }"
    )
    p = fork_param(layer, "prior_box_param")
    assert raw_floats(p, "aspect_ratio") == [2.0, 3.0]
    assert raw_floats(p, "step") == [8.5]
    assert raw_floats(p, "offset") == []
    assert raw_bool(p, "flip", True) is False
    assert raw_ints(p, "order") == []
    assert raw_int(None, "anything", 7) == 7


def test_raw_int_reports_a_bad_value_with_its_location() -> None:
    _, layer = _only('layer { name: "t" type: "Tiling" tiling_param { tile_dim: four } }')
    with pytest.raises(SurgeryError, match=r"t\.prototxt:1:\d+: 'four' is not a valid int"):
        raw_int(fork_param(layer, "tiling_param"), "tile_dim", 0, layer)


def test_a_bad_fork_value_is_located_in_the_layers_own_file() -> None:
    """A layer spliced in from a fragment keeps its text in the fragment's document."""
    net = _net('layer { name: "data" type: "Input" top: "data" }')
    text = '# one\nlayer { name: "i" type: "Interp"\n  interp_param { height: 2.5 } }'
    fragment = Net.from_document(Document.parse(text, "f.txt"))
    with pytest.raises(SurgeryError, match=r"^f\.txt:3:26: '2\.5' is not a valid int"):
        interp_params(net, fragment.layers[0])


# --- convolution and pooling ----------------------------------------------------


def test_per_axis_broadcasts_one_value_and_checks_counts() -> None:
    assert per_axis([], 2, 1, "stride") == (1, 1)
    assert per_axis([3], 3, 0, "kernel") == (3, 3, 3)
    assert per_axis([3, 5], 2, 0, "kernel") == (3, 5)
    with pytest.raises(ValueError, match="3 values for 2 spatial axes"):
        per_axis([1, 2, 3], 2, 0, "pad")


def test_conv_geometry_prefers_h_w_fields() -> None:
    net, layer = _only(
        'layer { name: "c" type: "Convolution" convolution_param { num_output: 4'
        " kernel_h: 1 kernel_w: 9 pad_h: 0 pad_w: 4 stride: 2 dilation: 3 } }"
    )
    p = conv_params(net, layer)
    assert p.geometry(2) == ((1, 9), (0, 4), (2, 2), (3, 3))
    assert p.group is None and p.bias_term
    with pytest.raises(ValueError, match="exactly 2 spatial axes"):
        p.geometry(3)


def test_conv_params_v0_names() -> None:
    net, layer = _only(
        'layers { layer { name: "c" type: "conv" num_output: 96 kernelsize: 11 stride: 4'
        " group: 2 biasterm: false } }"
    )
    p = conv_params(net, layer)
    assert (p.num_output, p.group, p.bias_term) == (96, 2, False)
    assert p.geometry(2) == ((11, 11), (0, 0), (4, 4), (1, 1))


def test_pool_rounding_round_mode_and_densenet_ceil_mode() -> None:
    base = 'layer {{ name: "p" type: "Pooling" pooling_param {{ kernel_size: 3 {} }} }}'
    assert pool_params(*_only(base.format(""))).ceil
    assert not pool_params(*_only(base.format("round_mode: FLOOR"))).ceil
    assert not pool_params(*_only(base.format("ceil_mode: false"))).ceil
    p = pool_params(*_only(base.format("stride_h: 2 stride_w: 1 pad: 1")))
    assert (p.kernel, p.stride, p.pad, p.method) == ((3, 3), (2, 1), (1, 1), "MAX")


def test_pool_params_resolve_sizes_as_caffe_and_keep_what_was_given() -> None:
    base = 'layer {{ name: "p" type: "Pooling" pooling_param {{ {} }} }}'
    p = pool_params(*_only(base.format("kernel_size: 3 kernel_h: 2 pad: 1 pad_h: 0 pad_w: 2")))
    assert (p.kernel, p.pad) == ((3, 3), (0, 2))  # kernel_size wins, pad_h/pad_w win
    assert p.given == {"kernel_size", "kernel_h", "pad", "pad_h", "pad_w"}
    assert p.refusal() == "give pad, or both pad_h and pad_w, one of the two"
    conv = 'layer {{ name: "c" type: "Convolution" convolution_param {{ {} }} }}'
    c = conv_params(*_only(conv.format("num_output: 2 kernel_size: 3 stride: 1 stride_h: 2")))
    assert c.refusal() == "give either stride or stride_h/stride_w, not both"
    with pytest.raises(ValueError, match="stride or stride_h/stride_w, not both"):
        c.geometry(2)


def test_pool_params_v0() -> None:
    net, layer = _only(
        'layers { layer { name: "p" type: "pool" pool: AVE kernelsize: 3 stride: 2 } }'
    )
    p = pool_params(net, layer)
    assert (p.method, p.kernel, p.stride, p.pad, p.ceil) == ("AVE", (3, 3), (2, 2), (0, 0), True)


def test_inner_product_params() -> None:
    net, layer = _only(
        'layer { name: "f" type: "InnerProduct" inner_product_param { num_output: 10 axis: 2'
        " bias_term: false transpose: true } }"
    )
    p = inner_product_params(net, layer)
    assert (p.num_output, p.axis, p.bias_term, p.transpose) == (10, 2, False, True)


# --- data layers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'layer { name: "d" type: "Data" top: "data" transform_param { crop_size: 227 }'
            " data_param { batch_size: 50 } }",
            (50, None, 227, 227),
        ),
        (
            'layer { name: "d" type: "Data" top: "data" data_param { batch_size: 64 } }',
            (64, None, None, None),
        ),
        (
            'layer { name: "d" type: "ImageData" top: "data" image_data_param { batch_size: 5'
            " new_height: 256 new_width: 320 } }",
            (5, 3, 256, 320),
        ),
        (
            'layer { name: "d" type: "ImageData" top: "data" image_data_param { batch_size: 5'
            " new_height: 256 new_width: 320 is_color: false }"
            " transform_param { crop_size: 224 } }",
            (5, 1, 224, 224),
        ),
        (
            'layers { name: "d" type: WINDOW_DATA top: "data" window_data_param { batch_size: 128'
            " crop_size: 227 } }",
            (128, None, 227, 227),
        ),
        (
            'layers { layer { name: "d" type: "data" batchsize: 64 cropsize: 28 } top: "data" }',
            (64, None, 28, 28),
        ),
        (
            'layer { name: "d" type: "DenseImageData" top: "data" dense_image_data_param {'
            " batch_size: 3 new_height: 512 new_width: 1024 } }",
            (3, 3, 512, 1024),
        ),
        (
            'layer { name: "d" type: "DenseImageData" top: "data" dense_image_data_param {'
            " new_height: 512 new_width: 1024 crop_height: 360 crop_width: 480 } }",
            (1, 3, 360, 480),
        ),
        (
            'layer { name: "d" type: "MemoryData" top: "data" memory_data_param { batch_size: 2'
            " channels: 3 height: 4 width: 5 } }",
            (2, 3, 4, 5),
        ),
    ],
)
def test_data_source(text: str, expected: tuple[int | None, ...]) -> None:
    net, layer = _only(text)
    src = data_source(net, layer)
    assert (src.batch, src.channels, src.height, src.width) == expected


# --- fork layers ----------------------------------------------------------------


def test_interp_params_mark_absent_fields() -> None:
    net, layer = _only('layer { name: "i" type: "Interp" interp_param { height: 60 width: 60 } }')
    p = interp_params(net, layer)
    assert (p.height, p.width, p.zoom_factor, p.shrink_factor) == (60, 60, None, None)
    assert (p.pad_beg, p.pad_end) == (0, 0)


def test_upsample_params() -> None:
    net, layer = _only(
        'layer { name: "u" type: "Upsample" upsample_param { scale: 2 upsample_h: 23'
        " upsample_w: 30 pad_out_h: true } }"
    )
    p = upsample_params(net, layer)
    assert (p.scale, p.upsample_h, p.upsample_w, p.pad_out_h, p.pad_out_w) == (
        2,
        23,
        30,
        True,
        False,
    )


@pytest.mark.parametrize(
    ("body", "priors"),
    [
        # SSD conv4_3: ratios {1, 2, 1/2} for one min size, plus one for the max size.
        ("min_size: 30 max_size: 60 aspect_ratio: 2 flip: true", 3 + 1),
        # fc7: {1, 2, 1/2, 3, 1/3} + 1.
        ("min_size: 60 max_size: 111 aspect_ratio: 2 aspect_ratio: 3", 5 + 1),
        # flip defaults to true; a repeated ratio (2, and 0.5 = the flip of 2) is dropped.
        ("min_size: 30 aspect_ratio: 2 aspect_ratio: 2 aspect_ratio: 0.5", 3),
        ("min_size: 30 aspect_ratio: 2 flip: false", 2),
        # Two min sizes multiply the ratios; two max sizes add one each.
        ("min_size: 10 min_size: 20 max_size: 15 max_size: 25 aspect_ratio: 2", 2 * 3 + 2),
        # A zero ratio is C++'s 1/0 = inf when flipped: two more priors, no division error.
        ("min_size: 30 aspect_ratio: 0", 3),
    ],
)
def test_prior_box_num_priors(body: str, priors: int) -> None:
    net, layer = _only(f'layer {{ name: "p" type: "PriorBox" prior_box_param {{ {body} }} }}')
    assert prior_box_params(net, layer).num_priors == priors


def test_bn_blob_count_tells_pspnet_from_segnet() -> None:
    psp = _net(
        'layer { name: "b" type: "BN" bn_param { slope_filler { type: "constant" value: 1 }'
        " frozen: true } }"
    )
    segnet = _net('layer { name: "b" type: "BN" bn_param { bn_mode: INFERENCE } }')
    assert bn_blob_count(psp.layers[0]) == 4
    assert bn_blob_count(segnet.layers[0]) == 2




def test_equal_parameter_text_is_read_once_and_shared() -> None:
    from scnn_surgery.analysis.params import part_message
    from scnn_surgery.runtime import clear_content_caches

    clear_content_caches()
    conv = "convolution_param { num_output: %d kernel_size: 3 }"
    net = Net.from_document(Document.parse("".join(
        f'layer {{ name: "c{i}" type: "Convolution" bottom: "x" top: "y{i}" {conv % n} }}\n'
        for i, n in enumerate((8, 8, 16))
    )))  # fmt: skip
    a, b, c = (part_message(net, layer, "convolution_param") for layer in net.layers)
    assert a is b and a is not c
    assert (b.convolution_param.num_output, c.convolution_param.num_output) == (8, 16)
    other, d = _only(f'layer {{ name: "d" type: "Convolution" {conv % 8} }}')
    assert part_message(other, d, "convolution_param") is a  # another net too
    clear_content_caches()
    again, e = _only(f'layer {{ name: "e" type: "Convolution" {conv % 8} }}')
    assert part_message(again, e, "convolution_param") is not a


def test_added_layers_share_readings_only_with_the_same_bottom_count() -> None:
    from scnn_surgery.core.layerdef import LayerDef
    from scnn_surgery.weights import param_blob_count

    fields = (("scale_param", (("bias_term", True),)),)
    one = Layer.from_definition(LayerDef("s1", "Scale", ("x",), ("y",), fields))
    two = Layer.from_definition(LayerDef("s2", "Scale", ("x", "f"), ("z",), fields))
    net = Net.from_document(Document.parse(""))
    assert param_blob_count(net, one) == 2  # a learned factor and a bias
    assert param_blob_count(net, two) == 1  # the factor is the second bottom


def test_a_definitions_words_read_as_protobuf_reads_them() -> None:
    """A value copied as written (a V0 layer upgraded, a spliced fragment) keeps its
    meaning: a leading 0 is octal to protobuf, and an enum may be its number."""
    fields = (
        ("convolution_param", (("num_output", Raw("010")), ("kernel_size", Raw("0x3")))),
        ("pooling_param", (("pool", Raw("1")),)),
    )
    message = definition_message(
        LayerDef("c", "Convolution", ("a",), ("b",), fields), caffe_pb2.LayerParameter
    )
    assert message.convolution_param.num_output == 8
    assert list(message.convolution_param.kernel_size) == [3]
    assert message.pooling_param.pool == caffe_pb2.PoolingParameter.AVE
