"""The SCNN module generator against the published generator's output and Apollo's darkSCNN."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from google.protobuf import text_format
from numpy.lib.stride_tricks import sliding_window_view

from scnn_surgery.errors import SurgeryError
from scnn_surgery.schema import caffe_pb2
from scnn_surgery.schema.dialects import pspnet_pb2
from scnn_surgery.scnn import (
    MAX_MODULE_TEXT_BYTES,
    DetectedModule,
    Enum,
    Fields,
    LayerDef,
    ModuleCost,
    ScnnSpec,
    ScnnSpecError,
    build_module,
    detect_modules,
    estimate_module,
    format_float,
    module_cost,
    module_output,
    render_layers,
)

from .conftest import needs_shared, shared_path

GOLDEN_SPEC = ScnnSpec(46, 46, 128, 9, "conv5_5")
APOLLO_SPEC = ScnnSpec(60, 80, 64, 5, "reduce2_lane", directions="DU")


def parse_net(text: str, schema: Any = caffe_pb2) -> Any:
    net = schema.NetParameter()
    text_format.Parse(text, net)
    return net


def layer_summaries(net: Any) -> list[tuple[str, str, list[str], list[str]]]:
    return [(layer.name, layer.type, list(layer.bottom), list(layer.top)) for layer in net.layer]


def conv_params(net: Any) -> dict[str, tuple[int, int, int]]:
    return {
        layer.name: (
            layer.convolution_param.num_output,
            layer.convolution_param.kernel_h,
            layer.convolution_param.kernel_w,
        )
        for layer in net.layer
        if layer.type == "Convolution"
    }


def rendered(spec: ScnnSpec, **options: Any) -> list[Any]:
    return list(parse_net(render_layers(build_module(spec), **options)).layer)


def golden_net(name: str = "SCNN.prototxt", schema: Any = caffe_pb2) -> Any:
    return parse_net(shared_path("golden", name).read_text(), schema)


def apollo_text() -> str:
    return shared_path("zoo", "lane", "apollo_darkscnn_deploy.prototxt").read_bytes().decode()


def apollo_module_layers(net: Any) -> list[Any]:
    names = [layer.name for layer in net.layer]
    return list(net.layer[names.index("Slice1") : names.index("Concat1") + 1])


def assert_same_layers(ours: Sequence[Any], theirs: Sequence[Any]) -> None:
    assert len(ours) == len(theirs)
    for index, (mine, published) in enumerate(zip(ours, theirs, strict=True)):
        assert mine == published, f"layer {index} ({published.name}) differs"


# --- reproducing the published files ------------------------------------------------------------


@needs_shared
def test_golden_module_is_reproduced_field_for_field() -> None:
    golden = list(golden_net().layer)
    assert len(golden) == 544
    assert_same_layers(rendered(GOLDEN_SPEC), golden)


def test_golden_defaults_are_the_published_generator_arguments() -> None:
    assert build_module(ScnnSpec(46, 46)) == build_module(GOLDEN_SPEC)


@needs_shared
def test_apollo_darkscnn_module_is_reproduced_field_for_field() -> None:
    text = apollo_text()
    assert "\r\n" in text
    apollo = apollo_module_layers(parse_net(text))
    assert len(apollo) == 2 + 2 * 3 * 59
    assert_same_layers(rendered(APOLLO_SPEC), apollo)
    assert_same_layers(rendered(APOLLO_SPEC, newline="\r\n"), apollo)


def test_published_edge_rows() -> None:
    layers = {layer.name: layer for layer in build_module(GOLDEN_SPEC)}
    assert layers["SCNN_D_1"].bottoms == ("slice1_1",)
    assert layers["SCNN_U_46"].bottoms == ("SCNN_D_46",)
    assert layers["SCNN_U_2/sum"].bottoms == ("SCNN_U_2/message", "slice1_1")
    assert layers["Concat1"].bottoms == (*(f"SCNN_U_{i}" for i in range(1, 46)), "SCNN_D_46")
    assert layers["Slice2"].bottoms == ("SCNN_U",)
    assert layers["SCNN_L_2/sum"].bottoms == ("SCNN_L_2/message", "slice2_1")
    assert layers["Concat2"].bottoms == (*(f"SCNN_L_{i}" for i in range(1, 46)), "SCNN_R_46")
    assert layers["Concat2"].tops == ("SCNN",)


def test_layer_type_counts_match_the_published_module() -> None:
    types = [layer.type for layer in build_module(GOLDEN_SPEC)]
    counts = {t: types.count(t) for t in set(types)}
    assert counts == {"Convolution": 180, "ReLU": 180, "Eltwise": 180, "Slice": 2, "Concat": 2}


# --- validity of every shape --------------------------------------------------------------------

SHAPES = [
    ScnnSpec(h, w, 8, 3, "feat", directions=d)
    for h, w in [(1, 1), (1, 4), (4, 1), (2, 2), (5, 3)]
    for d in ["D", "U", "R", "L", "DU", "LR", "DR", "UL", "DUR", "ULR", "DULR"]
]


def sub_message(fields: Fields, key: str) -> Fields:
    value = dict(fields)[key]
    assert isinstance(value, tuple)
    return value


def assert_valid_module(spec: ScnnSpec, layers: Sequence[LayerDef]) -> None:
    available = {spec.bottom}
    produced: set[str] = set()
    for layer in layers:
        for bottom in layer.bottoms:
            assert bottom in available, f"{layer.name} reads {bottom!r} before anything writes it"
        for top in layer.tops:
            if top in layer.bottoms:
                continue  # in place
            assert top not in produced and top != spec.bottom, f"{top!r} written twice"
            produced.add(top)
            available.add(top)
        if layer.type == "Slice":
            points = [v for k, v in sub_message(layer.fields, "slice_param") if k == "slice_point"]
            assert points == list(range(1, len(layer.tops)))
    assert layers[-1].tops == (module_output(spec),)
    consumed = {bottom for layer in layers for bottom in layer.bottoms}
    dangling = produced - consumed - {module_output(spec)}
    assert not dangling, f"blobs nobody reads: {sorted(dangling)}"
    names = [layer.name for layer in layers]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("spec", SHAPES, ids=lambda s: f"{s.height}x{s.width}-{s.directions}")
def test_every_shape_is_a_valid_module(spec: ScnnSpec) -> None:
    layers = build_module(spec)
    assert_valid_module(spec, layers)
    assert module_cost(spec).layers == len(layers)


def test_single_row_keeps_a_one_top_slice_and_a_one_bottom_concat() -> None:
    layers = build_module(ScnnSpec(1, 3, 8, 3, "feat"))
    assert [(layer.name, layer.bottoms, layer.tops) for layer in layers[:2]] == [
        ("Slice1", ("feat",), ("slice1_1",)),
        ("Concat1", ("slice1_1",), ("SCNN_U",)),
    ]
    assert layers[0].fields == (("slice_param", (("axis", 2),)),)
    assert layers[2].name == "Slice2" and layers[2].bottoms == ("SCNN_U",)
    assert module_output(ScnnSpec(1, 3, 8, 3, "feat")) == "SCNN"


def test_single_column_keeps_a_one_top_slice_and_a_one_bottom_concat() -> None:
    layers = build_module(ScnnSpec(3, 1, 8, 3, "feat"))
    assert [(layer.name, layer.bottoms, layer.tops) for layer in layers[-2:]] == [
        ("Slice2", ("SCNN_U",), ("slice2_1",)),
        ("Concat2", ("slice2_1",), ("SCNN",)),
    ]


@pytest.mark.parametrize(
    ("directions", "names", "output"),
    [
        ("D", ["Slice1", "SCNN_D_1", "SCNN_D_1/relu", "SCNN_D_1/sum", "Concat1"], "SCNN_D"),
        ("U", ["Slice1", "SCNN_U_2", "SCNN_U_2/relu", "SCNN_U_2/sum", "Concat1"], "SCNN_U"),
        ("R", ["Slice2", "SCNN_R_1", "SCNN_R_1/relu", "SCNN_R_1/sum", "Concat2"], "SCNN"),
        ("L", ["Slice2", "SCNN_L_2", "SCNN_L_2/relu", "SCNN_L_2/sum", "Concat2"], "SCNN"),
    ],
)
def test_single_direction_naming(directions: str, names: list[str], output: str) -> None:
    spec = ScnnSpec(2, 2, 8, 3, "feat", directions=directions)
    layers = build_module(spec)
    assert [layer.name for layer in layers] == names
    assert layers[-1].tops == (output,) and module_output(spec) == output


def test_up_only_pass_adds_to_the_slices() -> None:
    layers = build_module(ScnnSpec(3, 2, 8, 3, "feat", directions="U"))
    assert [
        (layer.name, layer.bottoms, layer.tops) for layer in layers if layer.type != "ReLU"
    ] == [
        ("Slice1", ("feat",), ("slice1_1", "slice1_2", "slice1_3")),
        ("SCNN_U_3", ("slice1_3",), ("SCNN_U_3/message",)),
        ("SCNN_U_3/sum", ("SCNN_U_3/message", "slice1_2"), ("SCNN_U_2",)),
        ("SCNN_U_2", ("SCNN_U_2",), ("SCNN_U_2/message",)),
        ("SCNN_U_2/sum", ("SCNN_U_2/message", "slice1_1"), ("SCNN_U_1",)),
        ("Concat1", ("SCNN_U_1", "SCNN_U_2", "slice1_3"), ("SCNN_U",)),
    ]


def test_horizontal_kernels_are_k_by_1() -> None:
    conv = next(
        layer for layer in build_module(ScnnSpec(2, 2, 8, 5, "f")) if layer.name == "SCNN_R_1"
    )
    geometry = dict(sub_message(conv.fields, "convolution_param"))
    assert (geometry["kernel_h"], geometry["kernel_w"]) == (5, 1)
    assert (geometry["pad_h"], geometry["pad_w"]) == (2, 0)


# --- prefix, top, weights -----------------------------------------------------------------------


def param_names(layers: Sequence[LayerDef]) -> set[str]:
    names = set()
    for layer in layers:
        for key, value in layer.fields:
            if key == "param" and isinstance(value, tuple):
                names |= {v for k, v in value if k == "name" and isinstance(v, str)}
    return names


def test_prefix_reaches_every_layer_blob_and_param_name() -> None:
    spec = ScnnSpec(3, 3, 8, 3, "conv5_5", prefix="lane/")
    layers = build_module(spec)
    assert all(layer.name.startswith("lane/") for layer in layers)
    assert all(top.startswith("lane/") for layer in layers for top in layer.tops)
    bottoms = {b for layer in layers for b in layer.bottoms}
    assert {b for b in bottoms if not b.startswith("lane/")} == {"conv5_5"}
    assert param_names(layers) == {f"lane/SCNN_{d}_w" for d in "DULR"}
    assert module_output(spec) == "lane/SCNN"
    assert_valid_module(spec, layers)


def test_top_renames_only_the_final_blob() -> None:
    spec = ScnnSpec(3, 3, 8, 3, "feat", prefix="p_", top="scnn_out")
    layers = build_module(spec)
    assert layers[-1].tops == ("scnn_out",)
    assert layers[-1].name == "p_Concat2"
    assert module_output(spec) == "scnn_out"
    assert "p_SCNN_U" in {top for layer in layers for top in layer.tops}
    assert_valid_module(spec, layers)


def test_unshared_weights_have_no_param_name() -> None:
    layers = build_module(ScnnSpec(3, 3, 8, 3, "feat", share_weights=False, lr_mult=0.5))
    assert param_names(layers) == set()
    text = render_layers(layers)
    assert "lr_mult: 0.5\n" in text and "decay_mult: 1\n" in text
    assert 'name: "SCNN_D_w"' not in text


def test_weight_std() -> None:
    assert GOLDEN_SPEC.weight_std() == 0.01863
    assert APOLLO_SPEC.weight_std() == 0.03536
    assert ScnnSpec(4, 4, init_std=0.0012345).weight_std() == 0.0012345
    assert "std: 0.0012345\n" in render_layers(build_module(ScnnSpec(2, 2, init_std=0.0012345)))
    # Five decimals would leave one significant digit here; three are kept instead.
    assert ScnnSpec(2, 2, channels=2**30, kernel_width=3).weight_std() == 1.11e-05


# --- refusals -----------------------------------------------------------------------------------


BAD_DIRECTIONS = (
    "directions must be a non-empty set of the letters D, U, L, R, each at most once, got "
)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kernel_width": 8}, "kernel_width must be odd, got 8"),
        ({"kernel_width": 0}, "kernel_width must be a positive integer, got 0"),
        ({"kernel_width": -3}, "kernel_width must be a positive integer, got -3"),
        ({"height": 0}, "height must be a positive integer, got 0"),
        ({"width": -2}, "width must be a positive integer, got -2"),
        ({"channels": 0}, "channels must be a positive integer, got 0"),
        ({"height": 4.0}, "height must be a positive integer, got 4.0"),
        ({"width": True}, "width must be a positive integer, got true"),
        ({"directions": ""}, BAD_DIRECTIONS + "''"),
        ({"directions": "DD"}, BAD_DIRECTIONS + "'DD'"),
        ({"directions": "DUX"}, BAD_DIRECTIONS + "'DUX'"),
        ({"directions": "dulr"}, "directions must be upper-case letters D, U, L, R, got 'dulr'"),
        ({"bottom": ""}, "bottom must be a non-empty name, got ''"),
        ({"top": ""}, "top must be a non-empty name, got ''"),
        ({"prefix": None}, "prefix must be a string, got None"),
        ({"top": "conv5_5"}, "top blob must differ from the bottom blob 'conv5_5'"),
        ({"top": "slice1_3"}, "top blob 'slice1_3' is already a blob inside the module"),
        (
            {"bottom": "SCNN_U"},
            "bottom blob 'SCNN_U' is also a blob the module creates; use a prefix",
        ),
        ({"init_std": 0.0}, "init_std must be a finite number above 0, got 0.0"),
        ({"init_std": math.nan}, "init_std must be a finite number above 0, got nan"),
        ({"lr_mult": -1.0}, "lr_mult must be a finite number of at least 0, got -1.0"),
    ],
)
def test_refusals(changes: dict[str, Any], message: str) -> None:
    spec = replace(ScnnSpec(4, 4), **changes)
    with pytest.raises(ScnnSpecError) as raised:
        spec.validate()
    assert str(raised.value) == message
    with pytest.raises(ScnnSpecError):
        build_module(spec)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, SurgeryError)


def test_direction_letters_may_come_in_any_order() -> None:
    assert build_module(ScnnSpec(3, 3, directions="LR")) == build_module(
        ScnnSpec(3, 3, directions="RL")
    )
    assert build_module(ScnnSpec(3, 3, directions="UD")) == build_module(
        ScnnSpec(3, 3, directions="DU")
    )
    assert build_module(ScnnSpec(3, 3, directions="RLUD")) == build_module(ScnnSpec(3, 3))


def test_a_prefix_resolves_a_bottom_collision() -> None:
    build_module(ScnnSpec(4, 4, bottom="SCNN_U", prefix="scnn2_"))


# --- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.01863, "0.01863"),
        (0.03536, "0.03536"),
        (1.0, "1"),
        (0.0, "0"),
        (-2.0, "-2"),
        (0.5, "0.5"),
        (1e-07, "1e-07"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (math.nan, "nan"),
    ],
)
def test_format_float(value: float, text: str) -> None:
    assert format_float(value) == text


def test_rendered_layout_is_canonical() -> None:
    text = render_layers(build_module(ScnnSpec(2, 2, 8, 3, "feat", directions="D")))
    assert text.startswith('layer {\n  name: "Slice1"\n  type: "Slice"\n  bottom: "feat"\n')
    assert not [line for line in text.splitlines() if line != line.rstrip()]
    conv = text[text.index('  name: "SCNN_D_1"') :]
    assert conv.startswith(
        '  name: "SCNN_D_1"\n'
        '  type: "Convolution"\n'
        '  bottom: "slice1_1"\n'
        '  top: "SCNN_D_1/message"\n'
        "  param {\n"
        '    name: "SCNN_D_w"\n'
        "    lr_mult: 1\n"
        "    decay_mult: 1\n"
        "  }\n"
        "  convolution_param {\n"
        "    num_output: 8\n"
        "    kernel_h: 1\n"
        "    kernel_w: 3\n"
        "    pad_h: 0\n"
        "    pad_w: 1\n"
        "    stride: 1\n"
        "    bias_term: false\n"
        "    weight_filler {\n"
        '      type: "gaussian"\n'
        "      std: 0.1291\n"
        "    }\n"
        "  }\n"
        "}\n"
    )
    assert "    operation: SUM\n" in text


def test_render_indent_and_newline_options() -> None:
    layers = build_module(ScnnSpec(2, 2, 8, 3, "feat"))
    text = render_layers(layers, indent="\t", newline="\r\n")
    assert text.endswith("}\r\n") and "\n" not in text.replace("\r\n", "")
    assert '\r\n\tname: "Slice1"\r\n' in text
    assert list(parse_net(text).layer) == list(parse_net(render_layers(layers)).layer)


def test_render_escapes_strings() -> None:
    layer = LayerDef('we"ird\\name\n', "Custom", ("a\tb\x01",), ("é",))
    text = render_layers([layer])
    assert 'name: "we\\"ird\\\\name\\n"' in text
    assert 'bottom: "a\\tb\\001"' in text and 'top: "é"' in text
    [parsed] = parse_net(text).layer
    assert (parsed.name, tuple(parsed.bottom), tuple(parsed.top)) == (
        layer.name,
        layer.bottoms,
        layer.tops,
    )


def test_render_writes_enums_and_bools_bare() -> None:
    fields: Fields = (("mode", Enum("FAST")), ("on", True), ("off", False))
    text = render_layers([LayerDef("x", "Custom", (), ("y",), fields)])
    assert "  mode: FAST\n  on: true\n  off: false\n" in text


def test_legacy_v1_rendering() -> None:
    spec = ScnnSpec(2, 2, 8, 3, "feat", lr_mult=2.0)
    text = render_layers(build_module(spec), legacy_v1=True)
    assert "layer {" not in text and text.startswith("layers {\n")
    types = re.findall(r"^  type: (\S+)$", text, flags=re.M)
    assert set(types) == {"SLICE", "CONVOLUTION", "RELU", "ELTWISE", "CONCAT"}
    assert '  param: "SCNN_D_w"\n  blobs_lr: 2\n  weight_decay: 1\n  convolution_param {\n' in text
    assert "lr_mult" not in text and "decay_mult" not in text
    assert not re.search(r"^  param \{", text, flags=re.M)
    # axis, not slice_dim/concat_dim: V1 messages have it, and OpenCV ignores the old names
    assert "    axis: 2\n" in text and "    axis: 3\n" in text and "_dim" not in text
    net = parse_net(text)
    assert len(net.layers) == len(build_module(spec)) and not net.layer
    slice1, conv = net.layers[0], net.layers[1]
    assert slice1.type == caffe_pb2.V1LayerParameter.SLICE
    assert slice1.slice_param.axis == 2 and not slice1.slice_param.HasField("slice_dim")
    assert conv.type == caffe_pb2.V1LayerParameter.CONVOLUTION
    assert (list(conv.param), list(conv.blobs_lr), list(conv.weight_decay)) == (
        ["SCNN_D_w"],
        [2],
        [1],
    )
    assert net.layers[-1].concat_param.axis == 3


def test_legacy_v1_without_sharing_has_no_param_names() -> None:
    text = render_layers(
        build_module(ScnnSpec(2, 2, 8, 3, "f", share_weights=False)), legacy_v1=True
    )
    assert "param:" not in text and "  blobs_lr: 1\n  weight_decay: 1\n" in text


def test_legacy_v1_refuses_types_it_cannot_name() -> None:
    with pytest.raises(SurgeryError, match="layer type 'Interp' has no Caffe V1 equivalent"):
        render_layers([LayerDef("i", "Interp", ("a",), ("b",))], legacy_v1=True)


# --- cost ---------------------------------------------------------------------------------------


def test_module_cost_by_hand() -> None:
    # H=3, W=2, C=4, k=3, all four directions.
    # Vertical: rows hold C*W = 8 values; D and U each send 2 messages of 8*4*3 = 96 MACs.
    # Horizontal: columns hold C*H = 12 values; R and L each send 1 message of 12*4*3 = 144 MACs.
    # Activations: Slice1 + Concat1 = 2*24, D and U messages + sums = 2 * 2*2*8,
    #              Slice2 + Concat2 = 2*24, R and L messages + sums = 2 * 2*1*12 -> 208 floats.
    # Layers: 2 + 2*3*2 + 2 + 2*3*1 = 22. Weights: 4*4*3 = 48 per kernel.
    spec = ScnnSpec(3, 2, 4, 3, "feat")
    assert module_cost(spec) == ModuleCost(
        layers=22, parameters=4 * 48, macs=672, activation_bytes=832
    )
    unshared = replace(spec, share_weights=False)
    assert module_cost(unshared).parameters == 6 * 48


def test_module_cost_of_a_single_row_stage() -> None:
    spec = ScnnSpec(1, 2, 4, 3, "feat", directions="DU")
    assert module_cost(spec) == ModuleCost(
        layers=2, parameters=0, macs=0, activation_bytes=2 * 8 * 4
    )


def test_module_cost_of_the_published_module() -> None:
    cost = module_cost(GOLDEN_SPEC)
    assert cost.layers == 544
    assert cost.parameters == 4 * 128 * 128 * 9
    assert cost.macs == 4 * 45 * (128 * 46) * 128 * 9


# --- size estimate ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        GOLDEN_SPEC,
        APOLLO_SPEC,
        ScnnSpec(1, 1, 4, 3, "x"),
        ScnnSpec(9, 10, 8, 3, "x", directions="UR", prefix="p_", top="out"),
        ScnnSpec(120, 7, 8, 5, "x", directions="L", share_weights=False),
        ScnnSpec(3, 1000, 8, 3, "x", prefix="\u00e9t\u00e9/"),  # names of several bytes a character
    ],
)
def test_estimate_bounds_the_text_closely_in_both_formats(spec: ScnnSpec) -> None:
    layers = build_module(spec)
    estimate = estimate_module(spec)
    assert estimate.layers == len(layers) == module_cost(spec).layers
    assert estimate.convolutions == sum(layer.type == "Convolution" for layer in layers)
    for legacy in (False, True):
        actual = len(render_layers(layers, legacy_v1=legacy).encode())
        assert actual <= estimate.text_bytes <= 1.05 * actual + 100


def test_estimate_counts_every_convolutions_own_copy_of_the_kernel() -> None:
    # As Net::ToProto writes them: each of the 4 * 45 convolutions stores 128*128*9 floats.
    assert estimate_module(GOLDEN_SPEC).weight_bytes == 4 * 45 * 128 * 128 * 9 * 4


def test_a_module_too_large_to_write_is_refused_before_it_is_built() -> None:
    spec = ScnnSpec(99_999_999_999, 5, 128, 9, "x")
    with pytest.raises(ScnnSpecError) as refused:
        build_module(spec)  # building it would take terabytes
    message = str(refused.value)
    assert message.startswith("a 99999999999x5 module would be 600,000,000,016 layers and about")
    assert message.endswith(" TiB of prototxt, over the 64 MiB scnn-surgery writes; published"
                            " modules are under 1 MiB")  # fmt: skip
    largest = ScnnSpec(40_000, 1, 128, 9, "x", directions="DU")
    assert estimate_module(largest).text_bytes <= MAX_MODULE_TEXT_BYTES
    largest.validate()


@pytest.mark.parametrize(
    ("field", "value", "caffe_field"),
    [("channels", 2**32, "num_output"), ("kernel_width", 2**32 + 1, "kernel_w")],
)
def test_sizes_beyond_caffes_uint32_fields_are_refused(
    field: str, value: int, caffe_field: str
) -> None:
    spec = replace(ScnnSpec(4, 4, 8, 3, "x"), **{field: value})
    with pytest.raises(ScnnSpecError, match=f"Caffe's {caffe_field} is a uint32"):
        spec.validate()


# --- detection ----------------------------------------------------------------------------------


def summaries(
    layers: Sequence[LayerDef],
) -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    return [(layer.name, layer.type, layer.bottoms, layer.tops) for layer in layers]


@needs_shared
def test_detects_the_golden_module() -> None:
    net = golden_net()
    [found] = detect_modules(layer_summaries(net), conv_params(net))
    assert found == DetectedModule(
        prefix="",
        directions="DULR",
        height=46,
        width=46,
        channels=128,
        kernel=9,
        first_index=0,
        last_index=543,
        bottom="conv5_5",
        output="SCNN",
        layer_names=tuple(layer.name for layer in build_module(GOLDEN_SPEC)),
    )


@needs_shared
def test_detects_the_apollo_module() -> None:
    net = parse_net(apollo_text())
    summary = layer_summaries(net)
    [found] = detect_modules(summary, conv_params(net))
    names = [name for name, _, _, _ in summary]
    assert (found.prefix, found.directions, found.height, found.width) == ("", "DU", 60, None)
    assert (found.channels, found.kernel) == (64, 5)
    assert (found.first_index, found.last_index) == (names.index("Slice1"), names.index("Concat1"))
    assert (found.bottom, found.output) == ("reduce2_lane", "SCNN_U")


def test_detection_without_conv_params_leaves_channels_and_kernel_unknown() -> None:
    [found] = detect_modules(summaries(build_module(ScnnSpec(3, 3, 8, 3, "f"))))
    assert (found.channels, found.kernel) == (None, None)


def test_detects_prefixed_and_renamed_modules_among_other_layers() -> None:
    head = [("conv", "Convolution", ["data"], ["feat"]), ("relu", "ReLU", ["feat"], ["feat"])]
    first = ScnnSpec(5, 4, 8, 3, "feat", prefix="a/", directions="DR", top="mid")
    second = ScnnSpec(2, 3, 8, 3, "mid", prefix="b_", directions="UL")
    third = ScnnSpec(1, 1, 8, 3, "mid", prefix="c_")
    tail = [("head", "Convolution", ["b_SCNN"], ["out"])]
    net = [
        *head,
        *summaries(build_module(first)),
        *summaries(build_module(second)),
        *summaries(build_module(third)),
        *tail,
    ]
    found = detect_modules(net)
    assert [(m.prefix, m.directions, m.height, m.width, m.bottom, m.output) for m in found] == [
        ("a/", "DR", 5, 4, "feat", "mid"),
        ("b_", "UL", 2, 3, "mid", "b_SCNN"),
        ("c_", "DULR", 1, 1, "mid", "c_SCNN"),
    ]
    first_len = len(build_module(first))
    assert (found[0].first_index, found[0].last_index) == (2, 2 + first_len - 1)
    assert found[1].first_index == 2 + first_len
    assert found[1].layer_names == tuple(layer.name for layer in build_module(second))


@pytest.mark.parametrize("spec", SHAPES, ids=lambda s: f"{s.height}x{s.width}-{s.directions}")
def test_detection_round_trips_every_shape(spec: ScnnSpec) -> None:
    [found] = detect_modules(summaries(build_module(spec)))
    assert (found.first_index, found.last_index) == (0, len(build_module(spec)) - 1)
    assert found.output == module_output(spec)
    rebuilt = ScnnSpec(
        found.height or 1,
        found.width or 1,
        8,
        3,
        found.bottom,
        directions=found.directions,
        prefix=found.prefix,
    )
    assert summaries(build_module(rebuilt)) == summaries(build_module(spec))


def test_detection_ignores_a_broken_module() -> None:
    layers = summaries(build_module(ScnnSpec(3, 3, 8, 3, "f", directions="DU")))
    del layers[4]
    assert detect_modules(layers) == []


def test_no_modules_in_an_ordinary_net() -> None:
    text = shared_path("zoo", "deploy", "bvlc_googlenet_deploy.prototxt").read_text()
    assert detect_modules(layer_summaries(parse_net(text))) == []


@needs_shared
def test_detects_the_module_inside_the_published_resnet101() -> None:
    # The published ResNet-101 uses PSPNet's BN and Interp layers.
    net = golden_net("resnet101_SCNN.prototxt", pspnet_pb2)
    [found] = detect_modules(layer_summaries(net), conv_params(net))
    assert net.layer[found.first_index - 1].name == "conv5_5/relu"
    assert found.last_index - found.first_index + 1 == 544
    assert (found.directions, found.height, found.width, found.channels, found.kernel) == (
        "DULR",
        46,
        46,
        128,
        9,
    )
    assert net.layer[found.last_index + 1].bottom == ["SCNN"]


# --- the module computes SCNN -------------------------------------------------------------------


def line_conv(line: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Same-padded Caffe convolution of one (C, L) row or column with a (C_out, C_in, k) kernel."""
    pad = (kernel.shape[2] - 1) // 2
    windows = sliding_window_view(np.pad(line, ((0, 0), (pad, pad))), kernel.shape[2], axis=1)
    messages: np.ndarray = np.einsum("oct,clt->ol", kernel, windows)
    return messages


def scnn_reference(x: np.ndarray, directions: str, kernels: dict[str, np.ndarray]) -> np.ndarray:
    """SCNN: each row (column) in turn adds ReLU(conv(its updated neighbour)); D, U, R, L."""
    out: np.ndarray = x[0].copy()
    height, width = out.shape[1:]
    steps = {
        "D": [(i - 1, i) for i in range(1, height)],
        "U": [(i + 1, i) for i in range(height - 2, -1, -1)],
        "R": [(j - 1, j) for j in range(1, width)],
        "L": [(j + 1, j) for j in range(width - 2, -1, -1)],
    }
    for direction in (d for d in "DURL" if d in directions):
        for source, target in steps[direction]:
            if direction in "DU":
                message = line_conv(out[:, source], kernels[direction][:, :, 0, :])
                out[:, target] += np.maximum(message, 0)
            else:
                message = line_conv(out[:, :, source], kernels[direction][:, :, :, 0])
                out[:, :, target] += np.maximum(message, 0)
    return out.reshape(x.shape)


def caffemodel(spec: ScnnSpec, kernels: dict[str, np.ndarray]) -> bytes:
    """Trained weights as Caffe stores them: every convolution holds its (shared) kernel."""
    net = caffe_pb2.NetParameter()
    for layer in build_module(spec):
        if layer.type == "Convolution":
            direction = layer.name[len(spec.prefix) + len("SCNN_")]
            stored = net.layer.add(name=layer.name, type=layer.type)
            blob = stored.blobs.add()
            blob.shape.dim.extend(kernels[direction].shape)
            blob.data.extend(kernels[direction].ravel().tolist())
    return bytes(net.SerializeToString())


@pytest.mark.parametrize(
    ("height", "width", "directions"),
    [
        (1, 1, "DULR"),
        (1, 4, "DULR"),
        (4, 1, "DULR"),
        (3, 5, "DULR"),
        (3, 5, "U"),
        (2, 3, "L"),
        (4, 3, "DR"),
    ],
)
def test_module_runs_in_opencv_and_computes_scnn(height: int, width: int, directions: str) -> None:
    cv2 = pytest.importorskip("cv2", reason="OpenCV's Caffe importer runs the module")
    spec = ScnnSpec(height, width, 4, 3, "data", directions=directions, prefix="p/")
    rng = np.random.default_rng(7)
    kernels = {
        d: (0.3 * rng.standard_normal((4, 4, 1, 3) if d in "DU" else (4, 4, 3, 1))).astype(
            np.float32
        )
        for d in "DULR"
    }
    deploy = f'input: "data"\ninput_shape {{ dim: 1 dim: 4 dim: {height} dim: {width} }}\n'
    deploy += render_layers(build_module(spec))
    net = cv2.dnn.readNetFromCaffe(
        bufferProto=np.frombuffer(deploy.encode(), np.uint8),
        bufferModel=np.frombuffer(caffemodel(spec, kernels), np.uint8),
    )
    x = rng.standard_normal((1, 4, height, width)).astype(np.float32)
    net.setInput(x)
    output = net.forward(build_module(spec)[-1].name)
    np.testing.assert_allclose(output, scnn_reference(x, directions, kernels), rtol=1e-5, atol=1e-5)
