"""Shape inference: Caffe's formulas on hand-computed cases, then the real zoo.

Every expected number below is worked out by hand in a comment, from the
formulas of Caffe's layer sources (BVLC and the forks the layers come from).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from scnn_surgery.analysis.shapes import (
    RULES,
    Shape,
    ShapeResult,
    c_int_div,
    format_shape,
    infer_shapes,
    pool_output_size,
)
from scnn_surgery.core.document import Document
from scnn_surgery.core.graph import NetState, build_graph
from scnn_surgery.core.net import Layer, Net, load_net
from scnn_surgery.errors import SurgeryError
from tests.conftest import RunCli, shared_path, zoo_files, zoo_ids

from ..conftest import needs_shared


def _result(
    text: str, phase: str = "TEST", overrides: Mapping[str, Sequence[int | None]] | None = None
) -> ShapeResult:
    net = Net.from_document(Document.parse(text, "t.prototxt"))
    return infer_shapes(net, build_graph(net, NetState(phase)), overrides)


def _run(
    layers: str,
    inputs: Mapping[str, Sequence[int]] | None = None,
    overrides: Mapping[str, Sequence[int | None]] | None = None,
) -> ShapeResult:
    """Top-level inputs (input + input_shape) followed by the given layer blocks."""
    head = "".join(
        f'input: "{name}"\ninput_shape {{ {" ".join(f"dim: {d}" for d in dims)} }}\n'
        for name, dims in (inputs or {}).items()
    )
    return _result(head + layers, overrides=overrides)


def _layer(kind: str, name: str, bottoms: Sequence[str], body: str = "", tops: int = 1) -> str:
    tops_text = "".join(f' top: "{name}{"" if i == 0 else f"_{i}"}"' for i in range(tops))
    bottoms_text = "".join(f' bottom: "{b}"' for b in bottoms)
    return f'layer {{ name: "{name}" type: "{kind}"{bottoms_text}{tops_text} {body} }}\n'


def _conv(name: str, bottom: str, param: str, kind: str = "Convolution") -> str:
    return _layer(kind, name, [bottom], f"convolution_param {{ {param} }}")


def _pool(name: str, bottom: str, param: str, tops: int = 1) -> str:
    return _layer("Pooling", name, [bottom], f"pooling_param {{ {param} }}", tops)


def _find(result: ShapeResult, name: str) -> Layer:
    return next(layer for layer in result.net.layers if layer.name == name)


def _clean(result: ShapeResult) -> ShapeResult:
    assert not result.errors, [e.message for e in result.errors]
    assert not result.stopped, [s.message for s in result.stopped]
    return result


# --- Convolution ----------------------------------------------------------------


def test_convolution_basic_and_costs() -> None:
    r = _clean(
        _run(
            _conv("c", "x", "num_output: 64 kernel_size: 7 stride: 2 pad: 3"),
            {"x": (1, 3, 224, 224)},
        )
    )
    # (224 + 2*3 - 7) // 2 + 1 = 223 // 2 + 1 = 112
    assert r.final("c") == (1, 64, 112, 112)
    # weights 64*3*7*7 = 9408, bias 64
    assert r.params(_find(r, "c")) == 9408 + 64
    # one MAC per weight tap per output value: 64*112*112 outputs * 3*7*7 taps
    assert r.macs(_find(r, "c")) == 64 * 112 * 112 * 147


def test_convolution_dilation() -> None:
    r = _clean(
        _run(
            _conv("d2", "x", "num_output: 8 kernel_size: 3 pad: 2 dilation: 2")
            + _conv("d4", "x", "num_output: 8 kernel_size: 3 dilation: 4"),
            {"x": (1, 8, 32, 32)},
        )
    )
    # extent 2*(3-1)+1 = 5: (32 + 4 - 5) // 1 + 1 = 32
    assert r.final("d2") == (1, 8, 32, 32)
    # extent 4*(3-1)+1 = 9: (32 - 9) + 1 = 24
    assert r.final("d4") == (1, 8, 24, 24)


def test_convolution_groups_count_weights_per_group() -> None:
    r = _clean(
        _run(
            _conv("g", "x", "num_output: 64 group: 4 kernel_size: 3 pad: 1"),
            {"x": (1, 32, 16, 16)},
        )
    )
    assert r.final("g") == (1, 64, 16, 16)
    layer = _find(r, "g")
    # weights (64, 32/4, 3, 3) = 64*8*9 = 4608, + 64 biases
    assert r.params(layer) == 4672
    # 64*16*16 outputs * 8*9 taps = 16384 * 72
    assert r.macs(layer) == 1179648


def test_convolution_group_must_divide_channels() -> None:
    r = _run(
        _conv("g", "x", "num_output: 64 group: 4 kernel_size: 1"),
        {"x": (1, 30, 8, 8)},
    )
    assert r.final("g") is None
    assert "30 input channels do not divide into 4 groups" in r.errors[0].message
    assert "layer 'g'" in r.errors[0].message


@pytest.mark.parametrize("kind", ["Convolution", "Deconvolution", "DepthwiseConvolution"])
def test_group_zero_is_a_located_error_not_a_division(kind: str) -> None:
    # group is a uint32 in caffe.proto; Caffe divides the channels by it (CHECK_EQ(C % g, 0)).
    r = _run(_conv("g0", "x", "num_output: 4 group: 0 kernel_size: 1", kind), {"x": (1, 4, 8, 8)})
    (error,) = r.errors
    assert error.message == (
        f"layer 'g0' (t.prototxt:3:1) ({kind}): group 0: a convolution has at least one group"
        " (Caffe divides by it)"
    )
    layer = _find(r, "g0")
    assert r.final("g0") is None and r.cost(layer).params is None


@pytest.mark.parametrize("kind", ["Convolution", "Deconvolution", "DepthwiseConvolution"])
def test_group_zero_is_one_line_in_every_command(
    kind: str, tmp_path: Path, run_cli: RunCli
) -> None:
    net = tmp_path / "g0.prototxt"
    net.write_text(
        'layer { name: "data" type: "Input" top: "data"\n'
        "  input_param { shape { dim: 1 dim: 4 dim: 8 dim: 8 } } }\n"
        + _conv("g0", "data", "num_output: 4 group: 0 kernel_size: 1", kind)
        + _conv("fc", "g0", "num_output: 2 kernel_size: 1")
    )
    where = f"layer 'g0' ({net}:3:1) ({kind}): group 0: a convolution has at least one group"
    code, _, err = run_cli("insert", str(net), "-o", str(tmp_path / "o.prototxt"),
                           "--weights-out", str(tmp_path / "o.caffemodel"))  # fmt: skip
    assert code == 1 and err == f"scnn-surgery: error: {where} (Caffe divides by it)" \
        " (phase TEST); fix the input net first\n"
    assert not list(tmp_path.glob("o.*"))
    code, out, _ = run_cli("check", str(net))
    assert code == 1 and f"{net}:3: error: layer 'g0': group 0: a convolution" in out
    code, out, _ = run_cli("inspect", str(net))
    assert code == 1 and f"error: {where}" in out
    code, out, err = run_cli("draw", str(net), "-o", "-")
    assert code == 0 and "g0" in out
    code, out, err = run_cli("diff", str(net), str(net))
    assert (code, out, err) == (0, "", "")


def test_a_top_over_int_max_values_is_an_error_as_in_blob_reshape() -> None:
    """Found by the mutation suite (pad: 2147483648 is a valid uint32): Caffe's
    Blob::Reshape stops at a blob of more than INT_MAX values; so does inference, at the
    layer, instead of handing insert a 4294967301-row map."""
    r = _run(_conv("big", "x", "num_output: 4 kernel_size: 3 pad: 2147483648"),
             {"x": (1, 4, 7, 7)})  # fmt: skip
    (error,) = r.errors
    assert error.message == (
        "layer 'big' (t.prototxt:3:1) (Convolution): top 'big' would be"
        " 1x4x4294967301x4294967301, 73,786,976,466,636,898,404 values, more than a Caffe blob"
        " holds (2,147,483,647, INT_MAX)"
    )
    assert r.final("big") is None
    # at the limit itself it is fine: 1 x 2 x 32768 x 32767 = 2,147,418,112
    fits = _run(_conv("ok", "x", "num_output: 2 kernel_size: 1"), {"x": (1, 4, 32768, 32767)})
    assert _clean(fits).final("ok") == (1, 2, 32768, 32767)


def test_a_shape_override_over_int_max_values_is_refused_as_an_override() -> None:
    r = _result('layer { name: "d" type: "Input" top: "d" }\n',
                overrides={"d": (1, 3, 99999, 99999)})  # fmt: skip
    (error,) = r.errors
    assert error.override and error.message == (
        "--shape d=1,3,99999,99999 makes blob 'd' hold 29,999,400,003 values, more than a"
        " Caffe blob holds (2,147,483,647, INT_MAX)"
    )
    assert r.final("d") is None


def test_legacy_layers_without_the_v2_param_field_take_caffes_defaults() -> None:
    """Found by the mutation suite: V1's FLATTEN (V1LayerParameter has no flatten_param)
    and V0's "flatten" stopped check and draw with an AttributeError. Caffe's upgrade
    gives them a default flatten_param: axis 1 to the end."""
    head = 'input: "data"\ninput_dim: 2\ninput_dim: 3\ninput_dim: 4\ninput_dim: 5\n'
    v1 = _result(head + 'layers { name: "f" type: FLATTEN bottom: "data" top: "f" }\n')
    assert _clean(v1).final("f") == (2, 60)
    v0 = _result(head + 'layers { layer { name: "f" type: "flatten" } bottom: "data" top: "f" }\n')
    assert _clean(v0).final("f") == (2, 60)


def test_a_v0_type_caffe_cannot_upgrade_is_an_error_at_its_layer() -> None:
    """A V0 layer of a type UpgradeV0LayerType does not know (here a V2 name) is Caffe's
    error, not a V2 rule run on a V0 message."""
    r = _result('layers { layer { name: "d" type: "Input" } top: "data" }\n')
    (error,) = r.errors
    assert error.message == (
        "layer 'd' (t.prototxt:1:1): V0 type 'Input', which Caffe cannot upgrade"
    )


def test_convolution_zero_kernel_or_stride_and_both_kernel_forms_are_errors() -> None:
    # BaseConvolutionLayer: CHECK_GT(kernel, 0), "kernel_size or kernel_h/w, not both";
    # a zero stride would divide by zero in its output-size formula.
    r = _run(
        _conv("k0", "x", "num_output: 4 kernel_size: 0")
        + _conv("s0", "x", "num_output: 4 kernel_size: 1 stride: 0")
        + _conv("both", "x", "num_output: 4 kernel_size: 3 kernel_h: 1 kernel_w: 3"),
        {"x": (1, 3, 8, 8)},
    )
    messages = [e.message for e in r.errors]
    assert [r.final(name) for name in ("k0", "s0", "both")] == [None, None, None]
    assert "layer 'k0'" in messages[0] and "kernel 0x0 has a zero dimension" in messages[0]
    assert "layer 's0'" in messages[1] and "stride 0x0 has a zero dimension" in messages[1]
    assert "either kernel_size or kernel_h/kernel_w, not both" in messages[2]


def test_convolution_h_w_fields_and_bias_off() -> None:
    r = _clean(
        _run(
            _conv(
                "c",
                "x",
                "num_output: 2 bias_term: false"
                " kernel_h: 3 kernel_w: 5 pad_h: 1 pad_w: 2 stride_h: 1 stride_w: 2",
            ),
            {"x": (1, 1, 10, 20)},
        )
    )
    # H: (10 + 2 - 3) // 1 + 1 = 10;  W: (20 + 4 - 5) // 2 + 1 = 19 // 2 + 1 = 10
    assert r.final("c") == (1, 2, 10, 10)
    assert r.params(_find(r, "c")) == 2 * 1 * 3 * 5


def test_convolution_nd_and_axis() -> None:
    r = _clean(
        _run(
            _conv("c3", "x", "num_output: 4 kernel_size: 3 kernel_size: 1 kernel_size: 3 stride: 2")
            + _conv("ax", "y", "num_output: 4 kernel_size: 3 axis: 2"),
            {"x": (2, 3, 9, 9, 9), "y": (2, 5, 3, 9, 9)},
        )
    )
    # D: (9-3)//2+1 = 4;  H: (9-1)//2+1 = 5;  W: 4
    assert r.final("c3") == (2, 4, 4, 5, 4)
    # channels on axis 2 (3 of them), two spatial axes after it: 9 - 3 + 1 = 7
    assert r.final("ax") == (2, 5, 4, 7, 7)
    assert r.params(_find(r, "ax")) == 4 * 3 * 9 + 4


def test_convolution_kernel_larger_than_input_is_an_error() -> None:
    r = _run(
        _conv("c", "x", "num_output: 2 kernel_size: 7"),
        {"x": (1, 3, 5, 5)},
    )
    # (5 - 7) / 1 + 1 = -1: Blob::Reshape's CHECK_GE(shape[i], 0) aborts
    assert r.errors[0].message == (
        "layer 'c' (t.prototxt:3:1) (Convolution): the output would be 1x2x-1x-1, which Caffe"
        " aborts on: Blob::Reshape checks that every size is at least 0"
    )


@pytest.mark.parametrize(
    ("layer", "kind", "shape"),
    [
        (_conv("c", "x", "num_output: 2 kernel_size: 3"), "Convolution", "1x2x0x0"),  # (2-3)/1+1
        (_pool("c", "x", "pool: MAX kernel_size: 3 stride: 1"), "Pooling", "1x3x0x0"),  # ceil(-1)+1
    ],
)
def test_an_output_size_of_0_is_an_error_that_says_what_caffe_does(
    layer: str, kind: str, shape: str
) -> None:
    # Neither ConvolutionLayer nor PoolingLayer checks its output size, and Blob::Reshape
    # takes a 0 (an empty blob): Caffe sets the net up, and nothing after computes a value.
    r = _run(layer, {"x": (1, 3, 2, 2)})
    assert [e.message for e in r.errors] == [
        f"layer 'c' (t.prototxt:3:1) ({kind}): the output would be {shape}, an empty blob:"
        " Caffe sets it up (Blob::Reshape takes a size of 0) but computes no value in it, nor"
        " in anything computed from it"
    ]


def test_an_interp_output_size_of_0_is_refused_by_the_layer_s_own_check() -> None:
    interp = _layer("Interp", "i", ["x"], "interp_param { height: 0 width: 4 }")
    r = _run(interp, {"x": (1, 3, 2, 2)})
    assert [e.message for e in r.errors] == [
        "layer 'i' (t.prototxt:3:1) (Interp): the output would be 1x3x0x4, which Caffe refuses:"
        " InterpLayer checks that its output height and width are positive"
    ]


def test_convolution_output_truncates_toward_zero_as_cpp_does() -> None:
    """Real Caffe gives (1, 4, 1, 1): (2 - 3) / 2 + 1 is 0 + 1 in C++ int division."""
    r = _clean(_run(_conv("c", "x", "num_output: 4 kernel_size: 3 stride: 2"), {"x": (1, 3, 2, 2)}))
    assert r.final("c") == (1, 4, 1, 1)
    assert c_int_div(-1, 2) == 0 and c_int_div(-3, 2) == -1 and c_int_div(7, 2) == 3


def test_deconvolution_and_fcn_upscore() -> None:
    r = _clean(
        _run(
            _conv(
                "up2",
                "x",
                "num_output: 21 kernel_size: 4 stride: 2 pad: 1 bias_term: false",
                kind="Deconvolution",
            )
            + _conv("up32", "x", "num_output: 21 kernel_size: 64 stride: 32", kind="Deconvolution"),
            {"x": (1, 21, 16, 16)},
        )
    )
    # 2*(16-1) + 4 - 2*1 = 32
    assert r.final("up2") == (1, 21, 32, 32)
    # 32*(16-1) + 64 = 544
    assert r.final("up32") == (1, 21, 544, 544)
    layer = _find(r, "up2")
    # weights (C_in=21, 21/1, 4, 4)
    assert r.params(layer) == 21 * 21 * 16
    # each input value scatters into 21 outputs * 16 taps: 21*16*16 * 21*16
    assert r.macs(layer) == 21 * 16 * 16 * 21 * 16


def test_depthwise_fork_defaults_group_to_channels() -> None:
    r = _clean(
        _run(
            _conv(
                "dw",
                "x",
                "num_output: 32 kernel_size: 3 stride: 2 pad: 1 bias_term: false",
                kind="DepthwiseConvolution",
            ),
            {"x": (1, 32, 112, 112)},
        )
    )
    # (112 + 2 - 3) // 2 + 1 = 56
    assert r.final("dw") == (1, 32, 56, 56)
    assert r.params(_find(r, "dw")) == 32 * 1 * 9


# --- Pooling --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "kernel", "pad", "stride", "ceil", "expected"),
    [
        (55, 3, 0, 2, True, 27),  # ceil(52/2) + 1
        (6, 3, 0, 2, True, 3),  # ceil(3/2) + 1 = 2 + 1
        (6, 3, 0, 2, False, 2),  # floor(3/2) + 1
        # ceil(5/2) + 1 = 4, but window 4 would start at 6 >= 5 + 1: corrected to 3
        (5, 2, 1, 2, True, 3),
        (5, 2, 1, 2, False, 3),  # floor(5/2) + 1 = 3, no correction needed
        (4, 3, 1, 2, True, 3),  # ceil(3/2) + 1 = 3; (3-1)*2 = 4 < 4 + 1, kept
        (4, 3, 1, 2, False, 2),
        (28, 3, 1, 1, True, 28),  # GoogLeNet's same-size 3x3 pooling
        (112, 3, 0, 2, True, 56),  # ResNet pool1: ceil(109/2) + 1 = 55 + 1
    ],
)
def test_pool_output_size(
    size: int, kernel: int, pad: int, stride: int, ceil: bool, expected: int
) -> None:
    assert pool_output_size(size, kernel, pad, stride, ceil) == expected


def test_pooling_rounding_modes_global_and_mask_top() -> None:
    r = _clean(
        _run(
            _pool("ceil", "x", "pool: MAX kernel_size: 3 stride: 2", tops=2)
            + _pool("floor", "x", "kernel_size: 3 stride: 2 round_mode: FLOOR")
            + _pool("dense", "x", "kernel_size: 3 stride: 2 ceil_mode: false")
            + _pool("glob", "x", "pool: AVE global_pooling: true")
            + _pool("rect", "x", "kernel_h: 2 kernel_w: 3 stride_h: 2 stride_w: 3"),
            {"x": (1, 4, 6, 9)},
        )
    )
    # H: ceil((6-3)/2)+1 = 3; W: ceil((9-3)/2)+1 = 4; the argmax mask top is the same
    assert r.final("ceil") == r.final("ceil_1") == (1, 4, 3, 4)
    # H: floor(3/2)+1 = 2; W: floor(6/2)+1 = 4
    assert r.final("floor") == r.final("dense") == (1, 4, 2, 4)
    assert r.final("glob") == (1, 4, 1, 1)
    # H: ceil((6-2)/2)+1 = 3; W: ceil((9-3)/3)+1 = 3
    assert r.final("rect") == (1, 4, 3, 3)


def test_pooling_padding_on_one_axis_corrects_both() -> None:
    # PoolingLayer::Reshape corrects both axes `if (pad_h_ || pad_w_)`. H (pad 0):
    # ceil((7-2)/4)+1 = 3, and window 3 would start at 8 >= 7 + 0: corrected to 2.
    # W (pad 1): ceil((7+2-2)/4)+1 = 3; (3-1)*4 = 8 >= 7 + 1: corrected to 2 as well.
    r = _clean(
        _run(
            _pool("one_pad", "x", "kernel_size: 2 stride: 4 pad_h: 0 pad_w: 1")
            + _pool("no_pad", "x", "kernel_size: 2 stride: 4"),
            {"x": (1, 1, 7, 7)},
        )
    )
    assert r.final("one_pad") == (1, 1, 2, 2)
    assert r.final("no_pad") == (1, 1, 3, 3)  # no padding anywhere: no correction
    assert pool_output_size(7, 2, 0, 4, True, padded=True) == 2


def test_pooling_pad_must_be_smaller_than_kernel() -> None:
    r = _run(
        _pool("p", "x", "kernel_size: 2 pad: 2"),
        {"x": (1, 1, 8, 8)},
    )
    assert "must be smaller than kernel" in r.errors[0].message


@pytest.mark.parametrize(
    ("kind", "param", "says"),
    [
        ("Convolution", "num_output: 4 kernel_size: 3 pad: 1 pad_h: 2 pad_w: 0",
         "either pad or pad_h/pad_w, not both"),
        ("Convolution", "num_output: 4 kernel_size: 3 stride: 2 stride_h: 1 stride_w: 1",
         "either stride or stride_h/stride_w, not both"),
        ("Deconvolution", "num_output: 4 kernel_size: 3 kernel_h: 3 kernel_w: 3",
         "either kernel_size or kernel_h/kernel_w, not both"),
        ("Convolution", "num_output: 4 stride: 2", "no kernel_size"),
        ("Convolution", "num_output: 0 kernel_size: 3", "num_output must be positive"),
    ],
)  # fmt: skip
def test_convolution_parameters_caffe_refuses(kind: str, param: str, says: str) -> None:
    """BaseConvolutionLayer::LayerSetUp's checks, reported whether or not the input's
    shape is known."""
    for inputs in ({"x": (1, 3, 8, 8)}, {}):
        head = "" if inputs else _layer("Python", "x", [])
        r = _run(head + _conv("c", "x", param, kind=kind), inputs)
        assert [e.layer.name for e in r.errors if e.layer] == ["c"]
        assert says in r.errors[0].message


@pytest.mark.parametrize(
    ("param", "says"),
    [
        ("pool: MAX kernel_size: 2 global_pooling: true", "global_pooling takes its kernel"),
        ("global_pooling: true kernel_h: 2 kernel_w: 2", "global_pooling takes its kernel"),
        ("kernel_size: 2 kernel_h: 2 kernel_w: 2", "kernel_size, or as kernel_h and kernel_w"),
        ("kernel_h: 2", "kernel_size, or as kernel_h and kernel_w"),
        ("stride: 2", "kernel_size, or as kernel_h and kernel_w"),
        ("kernel_size: 2 stride: 2 pad_h: 1", "pad, or both pad_h and pad_w"),
        ("kernel_size: 2 pad: 1 pad_h: 1 pad_w: 1", "pad, or both pad_h and pad_w"),
        ("kernel_size: 2 stride_w: 2", "stride, or both stride_h and stride_w"),
        ("kernel_size: 2 stride: 1 stride_h: 2 stride_w: 2", "stride, or both stride_h and"),
        ("kernel_size: 0", "kernel and stride must be positive"),
        ("kernel_h: 2 kernel_w: 2 stride: 0", "kernel and stride must be positive"),
        ("global_pooling: true stride: 2", "only pad 0 and stride 1"),
        ("kernel_size: 2 pad: 2", "must be smaller than kernel"),
        ("pool: STOCHASTIC kernel_size: 3 pad: 1", "padding only for MAX and AVE"),
    ],
)
def test_pooling_parameters_caffe_refuses(param: str, says: str) -> None:
    """PoolingLayer::LayerSetUp's checks, reported whether or not the input's shape is known."""
    for inputs in ({"x": (1, 3, 8, 8)}, {}):
        head = "" if inputs else _layer("Python", "x", [])
        r = _run(head + _pool("p", "x", param), inputs)
        assert [e.layer.name for e in r.errors if e.layer] == ["p"], param
        assert says in r.errors[0].message


def test_pooling_kernel_size_wins_over_a_lone_kernel_h() -> None:
    """Caffe accepts kernel_size with only one of kernel_h/kernel_w, and uses kernel_size."""
    r = _clean(_run(_pool("p", "x", "kernel_size: 3 kernel_h: 2 stride: 3"), {"x": (1, 1, 9, 9)}))
    assert r.final("p") == (1, 1, 3, 3)


# --- InnerProduct, Flatten, Reshape ----------------------------------------------


def test_inner_product_axis() -> None:
    r = _clean(
        _run(
            _layer("InnerProduct", "ip1", ["x"], "inner_product_param { num_output: 10 }")
            + _layer(
                "InnerProduct",
                "ip2",
                ["x"],
                "inner_product_param { num_output: 10 axis: 2 bias_term: false }",
            )
            + _layer(
                "InnerProduct",
                "ip3",
                ["x"],
                "inner_product_param { num_output: 10 axis: -1 transpose: true }",
            ),
            {"x": (2, 3, 4, 5)},
        )
    )
    assert r.final("ip1") == (2, 10)
    assert r.final("ip2") == (2, 3, 10)
    assert r.final("ip3") == (2, 3, 4, 10)
    # fan-in 3*4*5 = 60: 60*10 weights + 10 biases; 2 rows of 60*10 MACs
    assert r.params(_find(r, "ip1")) == 610
    assert r.macs(_find(r, "ip1")) == 1200
    # fan-in 4*5 = 20, no bias; rows 2*3
    assert r.params(_find(r, "ip2")) == 200
    assert r.macs(_find(r, "ip2")) == 6 * 200


def test_flatten() -> None:
    r = _clean(
        _run(
            _layer("Flatten", "f", ["x"])
            + _layer("Flatten", "f2", ["x"], "flatten_param { axis: 2 }")
            + _layer("Flatten", "f3", ["x"], "flatten_param { axis: 1 end_axis: 2 }"),
            {"x": (2, 3, 4, 5)},
        )
    )
    assert r.final("f") == (2, 60)
    assert r.final("f2") == (2, 3, 20)
    assert r.final("f3") == (2, 12, 5)


@pytest.mark.parametrize(
    ("param", "bottom", "expected"),
    [
        ("shape { dim: 0 dim: -1 }", (2, 3, 4, 5), (2, 60)),  # 120 / 2
        ("shape { dim: 0 dim: 0 dim: -1 }", (2, 3, 4, 5), (2, 3, 20)),
        ("shape { dim: 0 dim: -1 dim: 4 }", (2, 3, 4, 5), (2, 15, 4)),  # 120 / (2*4)
        ("shape { dim: 2 dim: 2 dim: 4 }", (2, 8), (2, 2, 4)),
        ("shape { dim: 2 dim: 4 } axis: 1", (2, 8), (2, 2, 4)),
        ("shape { dim: 2 dim: 4 } axis: -2", (2, 8), (2, 2, 4)),  # start = 2 - 2 + 1
        ("shape { dim: 1 } num_axes: 0", (2, 8), (1, 2, 8)),
        ("shape { dim: 1 } axis: 1 num_axes: 0", (2, 8), (2, 1, 8)),
        ("shape { dim: -1 } axis: 1 num_axes: 2", (2, 3, 4, 5), (2, 12, 5)),
    ],
)
def test_reshape(param: str, bottom: tuple[int, ...], expected: tuple[int, ...]) -> None:
    r = _clean(_run(_layer("Reshape", "r", ["x"], f"reshape_param {{ {param} }}"), {"x": bottom}))
    assert r.final("r") == expected


def test_reshape_that_cannot_fit_is_an_error() -> None:
    r = _run(
        _layer("Reshape", "r", ["x"], "reshape_param { shape { dim: 7 dim: -1 } }"),
        {"x": (2, 3, 4, 5)},
    )
    assert "not divisible" in r.errors[0].message


def test_reshape_with_unknown_count_leaves_the_inferred_dim_unknown() -> None:
    text = 'layer { name: "d" type: "Data" top: "data" data_param { batch_size: 4 } }\n' + _layer(
        "Reshape", "r", ["data"], "reshape_param { shape { dim: 0 dim: -1 } }"
    )
    assert _clean(_result(text)).final("r") == (4, None)


# --- Crop, Slice, Concat, Eltwise ----------------------------------------------------


def test_crop_offsets() -> None:
    r = _clean(
        _run(
            _layer("Crop", "c", ["x", "ref"], "crop_param { axis: 2 offset: 5 }")
            + _layer(
                "Crop", "c1", ["y", "yref"], "crop_param { axis: 1 offset: 0 offset: 2 offset: 3 }"
            ),
            {
                "x": (1, 21, 44, 44),
                "ref": (1, 3, 34, 34),
                "y": (1, 5, 10, 10),
                "yref": (1, 3, 6, 6),
            },
        )
    )
    # axes from 2 on come from the reference: 44 >= 34 + 5
    assert r.final("c") == (1, 21, 34, 34)
    # 5 >= 3 + 0, 10 >= 6 + 2, 10 >= 6 + 3
    assert r.final("c1") == (1, 3, 6, 6)


def test_crop_beyond_the_bottom_is_an_error() -> None:
    r = _run(
        _layer("Crop", "c", ["x", "ref"], "crop_param { axis: 2 offset: 13 }"),
        {"x": (1, 21, 44, 44), "ref": (1, 3, 32, 32)},
    )
    # 44 < 32 + 13
    assert "cannot crop axis 2" in r.errors[0].message


def test_slice_points_even_split_and_legacy_slice_dim() -> None:
    r = _clean(
        _run(
            _layer("Slice", "s", ["x"], "slice_param { slice_point: 3 slice_point: 7 }", tops=3)
            + _layer("Slice", "e", ["y"], "slice_param { axis: 1 }", tops=3)
            + _layer("Slice", "h", ["z"], "slice_param { slice_dim: 2 }", tops=4),
            {"x": (1, 10, 4, 4), "y": (1, 12, 4, 4), "z": (1, 3, 8, 5)},
        )
    )
    # 10 channels cut at 3 and 7: 3, 4, 3
    assert [r.final(n) for n in ("s", "s_1", "s_2")] == [(1, 3, 4, 4), (1, 4, 4, 4), (1, 3, 4, 4)]
    assert r.final("e_2") == (1, 4, 4, 4)  # 12 / 3
    assert r.final("h_3") == (1, 3, 2, 5)  # rows 8 / 4


def test_slice_errors() -> None:
    r = _run(
        _layer("Slice", "uneven", ["x"], "", tops=3)
        + _layer("Slice", "points", ["x"], "slice_param { slice_point: 2 }", tops=3)
        + _layer("Slice", "beyond", ["x"], "slice_param { slice_point: 12 }", tops=2),
        {"x": (1, 10, 4, 4)},
    )
    messages = " | ".join(e.message for e in r.errors)
    assert "does not split evenly into 3 tops" in messages
    assert "1 slice_points for 3 tops" in messages
    assert "do not fit axis 1 of size 10" in messages


def test_degenerate_blob_counts_are_errors_not_crashes() -> None:
    r = _run(
        _layer("Slice", "no_tops", ["x"], "", tops=0)
        + _layer("ArgMax", "scalar_arg", ["s"])
        + _layer("SoftmaxWithLoss", "lonely", [], "", tops=2),
        {"x": (1, 10, 4, 4), "s": ()},
    )
    messages = " | ".join(e.message for e in r.errors)
    assert "layer 'no_tops'" in messages and "needs at least one top" in messages
    assert "layer 'scalar_arg'" in messages and "at least one axis" in messages
    assert r.final("lonely") == ()


def test_concat_axis_legacy_and_mismatch() -> None:
    r = _run(
        _layer("Concat", "c", ["a", "b"])
        + _layer("Concat", "h", ["a", "c2"], "concat_param { concat_dim: 2 }")
        + _layer("Concat", "bad", ["a", "odd"]),
        {"a": (1, 64, 28, 28), "b": (1, 32, 28, 28), "c2": (1, 64, 4, 28), "odd": (1, 8, 27, 28)},
    )
    assert r.final("c") == (1, 96, 28, 28)
    assert r.final("h") == (1, 64, 32, 28)
    assert r.final("bad") is None
    (error,) = r.errors
    assert "layer 'bad'" in error.message
    assert "'odd' 1x8x27x28" in error.message and "'a' 1x64x28x28" in error.message


def test_eltwise_mismatch_names_both_blobs() -> None:
    r = _run(
        _layer("Eltwise", "sum", ["a", "b"]) + _layer("Eltwise", "bad", ["a", "c"]),
        {"a": (1, 8, 4, 4), "b": (1, 8, 4, 4), "c": (1, 8, 4, 5)},
    )
    assert r.final("sum") == (1, 8, 4, 4)
    (error,) = r.errors
    assert "layer 'bad'" in error.message
    assert "bottoms differ in shape: 'a' 1x8x4x4, 'c' 1x8x4x5" in error.message


def test_eltwise_fills_unknown_dims_from_the_other_operand() -> None:
    text = (
        'input: "a"\ninput_shape { dim: 1 dim: 8 dim: 4 dim: 4 }\n'
        'layer { name: "d" type: "Data" top: "d" data_param { batch_size: 1 } }\n'
        + _layer("Eltwise", "sum", ["d", "a"])
    )
    assert _clean(_result(text)).final("sum") == (1, 8, 4, 4)


# --- small layers --------------------------------------------------------------------


def test_argmax_accuracy_and_losses() -> None:
    r = _clean(
        _run(
            _layer("ArgMax", "am", ["x"], "argmax_param { top_k: 3 }")
            + _layer("ArgMax", "amv", ["x"], "argmax_param { top_k: 3 out_max_val: true }")
            + _layer("ArgMax", "ama", ["x"], "argmax_param { axis: 1 }")
            + _layer("Accuracy", "acc", ["x", "l"], tops=2)
            + _layer("SoftmaxWithLoss", "loss", ["x", "l"], tops=2)
            + _layer("EuclideanLoss", "eu", ["x", "x"])
            + _layer("SomeForkLoss", "fork", ["x", "l"]),
            {"x": (2, 10, 1, 1), "l": (2,)},
        )
    )
    assert r.final("am") == (2, 1, 3, 1)
    assert r.final("amv") == (2, 2, 3, 1)
    assert r.final("ama") == (2, 1, 1, 1)
    assert r.final("acc") == () and r.final("acc_1") == (10,)  # per-class accuracy
    assert r.final("loss") == () and r.final("loss_1") == (2, 10, 1, 1)
    assert r.final("eu") == r.final("fork") == ()


def test_shape_preserving_layers_and_silence() -> None:
    kinds = ["ReLU", "PReLU", "Sigmoid", "TanH", "ELU", "BNLL", "AbsVal", "Power", "Exp", "Log"]
    kinds += ["Threshold", "Dropout", "BatchNorm", "Scale", "Bias", "LRN", "MVN", "BN"]
    kinds += ["Normalize", "Softmax"]
    layers = "".join(_layer(k, k.lower(), ["x"]) for k in kinds)
    r = _clean(_run(layers + _layer("Silence", "s", ["x"], tops=0), {"x": (2, 3, 4, 5)}))
    assert {r.final(k.lower()) for k in kinds} == {(2, 3, 4, 5)}
    assert r.layer_outputs(_find(r, "s")) == []


def test_per_channel_parameter_counts() -> None:
    r = _clean(
        _run(
            _layer("BatchNorm", "bn", ["x"])
            + _layer("Scale", "sc", ["x"], "scale_param { bias_term: true }")
            + _layer("Scale", "sc2", ["x", "w"])
            + _layer("PReLU", "pr", ["x"])
            + _layer("PReLU", "prs", ["x"], "prelu_param { channel_shared: true }")
            + _layer("BN", "psp", ["x"], "bn_param { frozen: true }")
            + _layer("BN", "seg", ["x"], "bn_param { bn_mode: INFERENCE }")
            + _layer("Normalize", "norm", ["x"], "norm_param { channel_shared: false }"),
            {"x": (2, 16, 4, 4), "w": (16,)},
        )
    )
    counts = {n: r.params(_find(r, n)) for n in ("bn", "sc", "sc2", "pr", "prs", "psp", "seg")}
    # BatchNorm: mean + variance + 1 moving-average factor; Scale: 16 scales + 16 biases
    assert counts == {"bn": 33, "sc": 32, "sc2": 0, "pr": 16, "prs": 1, "psp": 64, "seg": 32}
    assert r.params(_find(r, "norm")) == 16
    assert r.macs(_find(r, "sc")) == 2 * 16 * 4 * 4


# --- fork layers ------------------------------------------------------------------------


def test_interp_order_of_operations() -> None:
    r = _clean(
        _run(
            _layer("Interp", "zoom", ["x"], "interp_param { zoom_factor: 8 }")
            + _layer("Interp", "shrink", ["y"], "interp_param { shrink_factor: 2 }")
            + _layer("Interp", "both", ["y"], "interp_param { shrink_factor: 2 zoom_factor: 2 }")
            + _layer("Interp", "fixed", ["x"], "interp_param { height: 7 width: 9 }")
            + _layer(
                "Interp", "crop", ["z"], "interp_param { zoom_factor: 2 pad_beg: -1 pad_end: -1 }"
            )
            + _layer("Interp", "like", ["x", "y"])
            + _layer(
                "Interp", "zoomwins", ["x"], "interp_param { zoom_factor: 2 height: 5 width: 6 }"
            )
            + _layer(
                "Interp",
                "sizewins",
                ["y"],
                "interp_param { shrink_factor: 2 zoom_factor: 2 height: 5 width: 6 }",
            ),
            {"x": (1, 150, 60, 60), "y": (1, 3, 473, 473), "z": (1, 2, 10, 10)},
        )
    )
    # 60 + (60-1)*(8-1) = 473
    assert r.final("zoom") == (1, 150, 473, 473)
    # (473-1)//2 + 1 = 237
    assert r.final("shrink") == (1, 3, 237, 237)
    # shrink first (237), then zoom: 237 + 236*1 = 473
    assert r.final("both") == (1, 3, 473, 473)
    assert r.final("fixed") == (1, 150, 7, 9)
    # effective 10 - 1 - 1 = 8, then 8 + 7*1 = 15
    assert r.final("crop") == (1, 2, 15, 15)
    assert r.final("like") == (1, 150, 473, 473)
    # a lone factor beats height/width (60 + 59 * 1), which beat shrink-then-zoom
    assert r.final("zoomwins") == (1, 150, 119, 119)
    assert r.final("sizewins") == (1, 3, 5, 6)


def test_upsample_segnet_and_yolo() -> None:
    r = _clean(
        _run(
            _layer("Upsample", "u", ["x", "m"], "upsample_param { scale: 2 }")
            + _layer(
                "Upsample",
                "uhw",
                ["x", "m"],
                "upsample_param { scale: 2 upsample_h: 23 upsample_w: 30 }",
            )
            + _layer("Upsample", "pad", ["x", "m"], "upsample_param { pad_out_h: true }")
            + _layer("Upsample", "yolo", ["y"], "upsample_param { scale: 2 }"),
            {"x": (4, 512, 12, 15), "m": (4, 512, 12, 15), "y": (1, 256, 13, 13)},
        )
    )
    assert r.final("u") == (4, 512, 24, 30)
    assert r.final("uhw") == (4, 512, 23, 30)
    # scale defaults to 2 in SegNet's proto; pad_out_h takes one row off: 12*2 - 1
    assert r.final("pad") == (4, 512, 23, 30)
    assert r.final("yolo") == (1, 256, 26, 26)


def test_upsample_mask_must_match_its_data() -> None:
    r = _run(
        _layer("Upsample", "u", ["x", "m"], "upsample_param { scale: 2 }"),
        {"x": (1, 8, 12, 15), "m": (1, 8, 12, 16)},
    )
    assert "data and mask differ" in r.errors[0].message


def test_permute_prior_box_detection_output() -> None:
    r = _clean(
        _run(
            _layer("Permute", "p", ["x"], "permute_param { order: 0 order: 2 order: 3 order: 1 }")
            + _layer("Permute", "partial", ["x"], "permute_param { order: 0 order: 2 }")
            + _layer(
                "PriorBox",
                "pb",
                ["x", "img"],
                "prior_box_param { min_size: 30"
                " max_size: 60 aspect_ratio: 2 flip: true clip: false }",
            )
            + _layer("DetectionOutput", "det", ["x", "x", "pb"]),
            {"x": (1, 16, 38, 38), "img": (1, 3, 300, 300)},
        )
    )
    assert r.final("p") == (1, 38, 38, 16)
    # the unlisted axes follow in their original order: 0, 2, then 1, 3
    assert r.final("partial") == (1, 38, 16, 38)
    # 4 priors per cell (ratios 1, 2, 1/2, plus the max size): 38*38*4*4 = 23104
    assert r.final("pb") == (1, 2, 23104)
    # the number of kept detections is known only at run time
    assert r.final("det") == (1, 1, None, 7)


def test_tiling_and_roi_pooling() -> None:
    r = _clean(
        _run(
            _layer("Tiling", "t", ["x"], "tiling_param { tile_dim: 4 }")
            + _layer(
                "ROIPooling",
                "roi",
                ["f", "rois"],
                "roi_pooling_param { pooled_w: 7 pooled_h: 7 spatial_scale: 0.0625 }",
            ),
            {"x": (1, 64, 15, 20), "f": (1, 512, 14, 14), "rois": (300, 5)},
        )
    )
    # 64 / 4^2 = 4 channels, each 4x larger
    assert r.final("t") == (1, 4, 60, 80)
    assert r.final("roi") == (300, 512, 7, 7)


# --- sources, overrides and stops -------------------------------------------------


def test_input_layers_and_top_level_inputs() -> None:
    text = """input: "a"
input: "b"
input_dim: 1
input_dim: 3
input_dim: 8
input_dim: 8
input_dim: 1
input_dim: 6
input_dim: 1
input_dim: 1
layer { name: "in" type: "Input" top: "c" top: "d"
  input_param { shape { dim: 2 dim: 3 } shape { dim: 4 } } }
layer { name: "one" type: "Input" top: "e" top: "f" input_param { shape { dim: 5 } } }
"""
    r = _clean(_result(text))
    assert (r.final("a"), r.final("b")) == ((1, 3, 8, 8), (1, 6, 1, 1))
    assert (r.final("c"), r.final("d")) == ((2, 3), (4,))
    assert r.final("e") == r.final("f") == (5,)


def test_dummy_and_memory_data() -> None:
    text = """layer { name: "dd" type: "DummyData" top: "a" top: "b"
  dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 7 } } }
layer { name: "legacy" type: "DummyData" top: "c"
  dummy_data_param { num: 2 channels: 3 height: 4 width: 5 } }
layer { name: "mem" type: "MemoryData" top: "d" top: "label"
  memory_data_param { batch_size: 8 channels: 1 height: 28 width: 28 } }
"""
    r = _clean(_result(text))
    assert (r.final("a"), r.final("b"), r.final("c")) == ((2, 3), (7,), (2, 3, 4, 5))
    assert (r.final("d"), r.final("label")) == ((8, 1, 28, 28), (8,))


def test_unknown_channels_become_known_at_a_convolution() -> None:
    text = (
        'layer { name: "data" type: "Data" top: "data" top: "label"'
        " transform_param { crop_size: 32 } data_param { batch_size: 16 } }\n"
        + _conv("conv", "data", "num_output: 8 kernel_size: 3")
    )
    r = _clean(_result(text))
    assert r.final("data") == (16, None, 32, 32)
    assert r.final("label") == (16,)
    assert r.final("conv") == (16, 8, 30, 30)
    # the weights need the channels the database hides
    assert r.cost(_find(r, "conv")).params is None
    with pytest.raises(SurgeryError, match="--shape"):
        r.params(_find(r, "conv"))


def test_python_layer_stops_inference_and_an_override_resumes_it() -> None:
    text = (
        'layer { name: "src" type: "Python" top: "data"'
        ' python_param { module: "my_layers" layer: "Reader" } }\n'
        + _conv("conv", "data", "num_output: 8 kernel_size: 3")
        + _layer("ReLU", "relu", ["conv"])
    )
    stopped = _result(text)
    (stop,) = stopped.stopped
    assert stop.layer is not None and stop.layer.name == "src"
    assert "Python (my_layers.Reader)" in stop.message
    assert "--shape data=N,C,H,W" in stop.message
    assert stopped.final("conv") is None and stopped.final("relu") is None
    resumed = _clean(_result(text, overrides={"data": (1, 3, 10, 10)}))
    assert resumed.final("relu") == (1, 8, 8, 8)


def test_unknown_layer_type_stops_but_other_branches_go_on() -> None:
    r = _run(
        _layer("Mystery", "m", ["x"])
        + _layer("ReLU", "after", ["m"])
        + _layer("ReLU", "side", ["x"]),
        {"x": (1, 2, 3, 4)},
    )
    (stop,) = r.stopped
    assert "type Mystery has no shape rule" in stop.message
    assert r.final("after") is None
    assert r.final("side") == (1, 2, 3, 4)


def test_overrides_state_only_what_the_file_leaves_open() -> None:
    # The file says r is 1x2x3x4: a different --shape is a contradiction, never the shape.
    r = _run(_layer("ReLU", "r", ["x"]), {"x": (1, 2, 3, 4)}, overrides={"r": (5, 6), "nope": (1,)})
    assert r.final("r") == (1, 2, 3, 4)
    contradiction, unknown = sorted(r.errors, key=lambda e: e.override, reverse=True)
    assert contradiction.override and "--shape r=5,6 contradicts 1x2x3x4" in contradiction.message
    assert not unknown.override and "'nope'" in unknown.message
    # Agreeing values, and ? for a dimension the file gives, are fine.
    agree = _run(_layer("ReLU", "r", ["x"]), {"x": (1, 2, 3, 4)}, overrides={"r": (None, 2, 3, 4)})
    assert agree.final("r") == (1, 2, 3, 4) and not agree.errors


def test_overrides_fill_what_the_file_leaves_open() -> None:
    text = 'layer { name: "d" type: "Data" top: "data" data_param { batch_size: 8 } }\n'
    r = _result(text, overrides={"data": (None, 3, 32, 32)})
    assert r.final("data") == (8, 3, 32, 32) and not r.errors
    wrong = _result(text, overrides={"data": (1, 3, 32, 32)})
    (error,) = wrong.errors
    assert error.override
    assert "write ? for what the file gives: --shape data=?,3,32,32" in error.message


def test_hdf5_and_unshaped_inputs_ask_for_a_shape() -> None:
    text = 'input: "a"\nlayer { name: "h" type: "HDF5Data" top: "x" top: "y" }\n'
    r = _result(text)
    assert len(r.stopped) == 2
    assert "--shape a=N,C,H,W" in r.stopped[0].message
    assert "HDF5" in r.stopped[1].message and "--shape y=N,C,H,W" in r.stopped[1].message


def test_total_params_counts_a_shared_blob_once() -> None:
    conv = (
        'layers {{ name: "{0}" type: CONVOLUTION bottom: "x" top: "{0}" param: "w" param: "{1}"'
        " convolution_param {{ num_output: 2 kernel_size: 1 }} }}\n"
    )
    text = 'input: "x"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 4\ninput_dim: 4\n'
    r = _clean(_result(text + conv.format("a", "ba") + conv.format("b", "bb")))
    assert [r.params(layer) for layer in r.graph.layers] == [8, 8]  # 2*3 weights + 2 biases
    assert r.total_params() == 8 + 2  # the weights "w" once, two separate biases


def test_format_shape() -> None:
    assert format_shape((1, None, 3)) == "1x?x3"
    assert format_shape(()) == "()"
    assert format_shape(None) == "?"


def test_every_layer_type_named_in_the_brief_has_a_rule() -> None:
    needed = {
        "Convolution", "Deconvolution", "Pooling", "InnerProduct", "Crop", "Slice", "Concat",
        "Eltwise", "Reshape", "Flatten", "Split", "Softmax", "ArgMax", "Accuracy", "ReLU",
        "PReLU", "Sigmoid", "TanH", "ELU", "BNLL", "AbsVal", "Power", "Exp", "Log", "Threshold",
        "Dropout", "BatchNorm", "Scale", "Bias", "LRN", "MVN", "BN", "Normalize", "Silence",
        "Interp", "Upsample", "DepthwiseConvolution", "ConvolutionDepthwise", "Permute",
        "PriorBox", "DetectionOutput", "Tiling", "ROIPooling", "Yolov3DetectionOutput", "Input",
        "DummyData", "MemoryData", "Data", "ImageData", "WindowData", "HDF5Data",
        "DenseImageData", "ImageSegData", "SoftmaxWithLoss",
    }  # fmt: skip
    assert needed <= set(RULES)


# --- the zoo: hand-computed shapes of real published nets ------------------------------


def _zoo(
    rel: str, phase: str = "TEST", overrides: Mapping[str, Sequence[int | None]] | None = None
) -> ShapeResult:
    net = load_net(str(shared_path(*rel.split("/"))))
    return infer_shapes(net, build_graph(net, NetState(phase)), overrides)


def _expect(r: ShapeResult, expected: Mapping[str, Shape]) -> None:
    assert {name: r.final(name) for name in expected} == dict(expected)


def test_zoo_alexnet_deploy() -> None:
    r = _clean(_zoo("zoo/deploy/bvlc_alexnet_deploy.prototxt"))
    _expect(
        r,
        {
            "conv1": (10, 96, 55, 55),  # (227 - 11) // 4 + 1
            "pool1": (10, 96, 27, 27),  # ceil((55 - 3) / 2) + 1
            "conv2": (10, 256, 27, 27),  # pad 2, kernel 5
            "pool2": (10, 256, 13, 13),  # ceil((27 - 3) / 2) + 1
            "conv5": (10, 256, 13, 13),
            "pool5": (10, 256, 6, 6),  # ceil((13 - 3) / 2) + 1; the deploy's batch is 10
            "fc6": (10, 4096),
            "prob": (10, 1000),
        },
    )
    # The well-known 60,965,224: conv1 34,944 + conv2 307,456 (2 groups) + conv3 885,120
    # + conv4 663,936 + conv5 442,624 + fc6 37,752,832 + fc7 16,781,312 + fc8 4,097,000.
    assert sum(r.params(layer) for layer in r.graph.layers) == 60965224
    assert r.total_params() == 60965224
    # conv1: 10*96*55*55 outputs * 3*11*11 taps
    assert r.macs(_find(r, "conv1")) == 10 * 96 * 55 * 55 * 363


def test_zoo_googlenet_deploy() -> None:
    r = _clean(_zoo("zoo/deploy/bvlc_googlenet_deploy.prototxt"))
    _expect(
        r,
        {
            "conv1/7x7_s2": (10, 64, 112, 112),  # (224 + 6 - 7) // 2 + 1
            "pool1/3x3_s2": (10, 64, 56, 56),  # ceil(109 / 2) + 1
            "pool2/3x3_s2": (10, 192, 28, 28),  # ceil(53 / 2) + 1
            "inception_3a/output": (10, 256, 28, 28),  # 64 + 128 + 32 + 32
            "inception_3b/output": (10, 480, 28, 28),  # 128 + 192 + 96 + 64
            "pool3/3x3_s2": (10, 480, 14, 14),  # ceil(25 / 2) + 1
            "inception_4e/output": (10, 832, 14, 14),  # 256 + 320 + 128 + 128
            "pool4/3x3_s2": (10, 832, 7, 7),  # ceil(11 / 2) + 1
            "inception_5b/output": (10, 1024, 7, 7),  # 384 + 384 + 128 + 128
            "pool5/7x7_s1": (10, 1024, 1, 1),
            "prob": (10, 1000),
        },
    )


def test_zoo_mobilenet_v2_deploy() -> None:
    r = _clean(_zoo("zoo/deploy/mobilenet_v2_deploy.prototxt"))
    _expect(
        r,
        {
            "conv1": (1, 32, 112, 112),  # (224 + 2 - 3) // 2 + 1
            "conv2_2/dwise": (1, 96, 56, 56),  # (112 - 1) // 2 + 1
            "conv3_2/dwise": (1, 144, 28, 28),
            "conv4_7/dwise": (1, 384, 14, 14),
            "conv5_3/dwise": (1, 576, 7, 7),
            "conv6_4": (1, 1280, 7, 7),
            "pool6": (1, 1280, 1, 1),  # global
            "prob": (1, 1000, 1, 1),
        },
    )
    # a depthwise 3x3 (group == channels == 96, no bias): 96 * 1 * 9 weights
    assert r.params(_find(r, "conv2_2/dwise")) == 864


def test_zoo_resnet50_deploy() -> None:
    r = _clean(_zoo("zoo/deploy/resnet50_deploy.prototxt"))
    _expect(
        r,
        {
            "conv1": (1, 64, 112, 112),  # (224 + 6 - 7) // 2 + 1
            "pool1": (1, 64, 56, 56),  # ceil(109 / 2) + 1
            "res2c": (1, 256, 56, 56),
            "res3d": (1, 512, 28, 28),  # 1x1 stride 2: (56 - 1) // 2 + 1
            "res4f": (1, 1024, 14, 14),
            "res5c": (1, 2048, 7, 7),
            "pool5": (1, 2048, 1, 1),  # 7x7 AVE
            "prob": (1, 1000),
        },
    )


def test_zoo_squeezenet_v1_1_deploy() -> None:
    r = _clean(_zoo("zoo/deploy/squeezenet_v1_1_deploy.prototxt"))
    _expect(
        r,
        {
            "conv1": (10, 64, 113, 113),  # (227 - 3) // 2 + 1
            "pool1": (10, 64, 56, 56),  # ceil(110 / 2) + 1
            "fire2/concat": (10, 128, 56, 56),  # 64 + 64
            "pool3": (10, 128, 28, 28),  # ceil(53 / 2) + 1
            "pool5": (10, 256, 14, 14),  # ceil(25 / 2) + 1
            "fire9/concat": (10, 512, 14, 14),
            "conv10": (10, 1000, 14, 14),
            "pool10": (10, 1000, 1, 1),
        },
    )


@needs_shared
def test_zoo_yolo_v1_tiny() -> None:
    r = _clean(_zoo("zoo/detection/yolo_v1_tiny_deploy.prototxt"))
    # 448 halves six times with 2x2/2 pools: 224, 112, 56, 28, 14, 7
    assert r.final("pool1") == (1, 16, 224, 224)
    assert r.final("pool6") == (1, 512, 7, 7)
    assert r.final("scale8") == (1, 256, 7, 7)
    assert r.final("result") == (1, 1470)  # 7 * 7 * 30


def test_zoo_fcn8s_restores_its_input() -> None:
    r = _clean(_zoo("zoo/segmentation/fcn8s_voc_deploy.prototxt"))
    _expect(
        r,
        {
            "conv1_1": (1, 64, 698, 698),  # 500 + 2*100 - 3 + 1
            "pool1": (1, 64, 349, 349),  # ceil(696 / 2) + 1
            "pool2": (1, 128, 175, 175),  # ceil(347 / 2) + 1
            "pool3": (1, 256, 88, 88),  # ceil(173 / 2) + 1
            "pool4": (1, 512, 44, 44),  # ceil(86 / 2) + 1
            "pool5": (1, 512, 22, 22),  # ceil(42 / 2) + 1
            "fc6": (1, 4096, 16, 16),  # 22 - 7 + 1
            "upscore2": (1, 21, 34, 34),  # 2 * 15 + 4
            "score_pool4c": (1, 21, 34, 34),  # 44 cropped at 5 to 34
            "upscore_pool4": (1, 21, 70, 70),  # 2 * 33 + 4
            "score_pool3c": (1, 21, 70, 70),  # 88 cropped at 9 to 70
            "upscore8": (1, 21, 568, 568),  # 8 * 69 + 16
            "score": (1, 21, 500, 500),  # 568 cropped at 31 to the data's 500
        },
    )


@needs_shared
def test_zoo_apollo_denseline() -> None:
    r = _clean(_zoo("zoo/lane/apollo_denseline_deploy.prototxt"))
    _expect(
        r,
        {
            "conv1": (1, 32, 320, 768),  # 640 x 1536 input, 3x3/2 pad 1
            "pool1": (1, 48, 160, 384),
            "res3a": (1, 96, 80, 192),  # (160 - 1) // 2 + 1 = 80, (384 - 1) // 2 + 1 = 192
            "res4a": (1, 144, 40, 96),
            "res5a": (1, 216, 20, 48),
            "res6a": (1, 324, 10, 24),
            "res7b": (1, 488, 5, 12),
            "deconv1": (1, 324, 10, 24),  # 2 * (5 - 1) + 2, 2 * (12 - 1) + 2
            "deconv4": (1, 96, 80, 192),
            "conv_out": (1, 9, 80, 192),
        },
    )


@needs_shared
def test_zoo_apollo_darkscnn() -> None:
    r = _clean(_zoo("zoo/lane/apollo_darkscnn_deploy.prototxt"))
    _expect(
        r,
        {
            "pool1": (1, 16, 240, 320),  # 480 x 640 halved
            "pool4": (1, 128, 30, 40),  # halved four times
            "pool5": (1, 256, 30, 40),  # 3x3/1 pad 1: ceil(29 / 1) + 1 = 30
            "concat8": (1, 768, 30, 40),  # 256 + 512
            "deconv1_lane": (1, 64, 60, 80),  # 2 * 29 + 2, 2 * 39 + 2
            "reduce2_lane": (1, 64, 60, 80),
            "slice1_1": (1, 64, 1, 80),  # 60 rows sliced one by one
            "SCNN_U": (1, 64, 60, 80),  # Concat1 restacks the rows
            "deconv_out": (1, 32, 480, 640),  # 8 * 59 + 16 - 2*4 = 480
            "softmax": (1, 13, 480, 640),
            "conv8_2": (1, 256, 15, 20),  # (30 + 2 - 3) // 2 + 1
            "fc_out": (1, 2),
        },
    )


def test_zoo_rcnn_legacy_fc7() -> None:
    v0 = _clean(_zoo("zoo/legacy/rcnn_v0_caffenet_fc7_deploy.prototxt"))
    # CaffeNet on 256 x 3 x 227 x 227: pool5 is 6x6 as in AlexNet
    assert v0.final("pool5") == (256, 256, 6, 6)
    assert v0.final("fc7") == (256, 4096)
    v1 = _clean(_zoo("zoo/legacy/rcnn_v1_vgg16_fc7_deploy.prototxt"))
    # VGG16 on 224: five 2x2/2 pools give 7
    assert v1.final("pool5") == (100, 512, 7, 7)
    assert v1.final("fc7") == (100, 4096)
    train = _clean(_zoo("zoo/legacy/rcnn_v1_pascal_finetune_train.prototxt", "TRAIN"))
    # WINDOW_DATA: batch 128, crop 227, channels from the window file
    assert train.final("data") == (128, None, 227, 227)
    assert train.final("fc7") == (128, 4096)
    assert train.final("fc8_pascal") == (128, 21)


def test_zoo_legacy_data_layers() -> None:
    lenet = _clean(_zoo("zoo/legacy/caffe_v0_lenet_train.prototxt"))
    # V0 "data" from a leveldb: batchsize 64, nothing else stated
    assert lenet.final("data") == (64, None, None, None)
    assert lenet.final("conv1") == (64, 20, None, None)
    assert lenet.final("ip1") == (64, 500)
    flickr = _clean(_zoo("zoo/legacy/caffe_v1_flickr_style_train_val.prototxt", "TRAIN"))
    # IMAGE_DATA reads colour images: 3 channels, cropped to 227
    assert flickr.final("data") == (50, 3, 227, 227)
    assert flickr.params(_find(flickr, "conv1")) == 96 * 3 * 121 + 96


@pytest.mark.parametrize(("phase", "batch"), [("TRAIN", 256), ("TEST", 50)])
def test_zoo_alexnet_train_val_crop(phase: str, batch: int) -> None:
    r = _clean(_zoo("zoo/train_val/bvlc_alexnet_train_val.prototxt", phase))
    # crop_size 227 in both phases; the LMDB hides the channels
    assert r.final("data") == (batch, None, 227, 227)
    assert r.final("label") == (batch,)
    assert r.final("pool5") == (batch, 256, 6, 6)
    assert r.final("loss") == ()


@pytest.mark.parametrize(("phase", "batch"), [("TRAIN", 32), ("TEST", 25)])
def test_zoo_squeezenet_v1_0_train_val_crop(phase: str, batch: int) -> None:
    r = _clean(_zoo("zoo/train_val/squeezenet_v1_0_train_val.prototxt", phase))
    assert r.final("data") == (batch, None, 227, 227)
    assert r.final("conv1") == (batch, 96, 111, 111)  # (227 - 7) // 2 + 1
    assert r.final("pool1") == (batch, 96, 55, 55)  # ceil(108 / 2) + 1
    # v1.0's conv10 has pad 1 on a 1x1 kernel: 13 + 2 = 15, then global pooling
    assert r.final("conv10") == (batch, 1000, 15, 15)
    assert r.final("pool10") == (batch, 1000, 1, 1)


def test_zoo_pspnet_restores_its_input() -> None:
    r = _clean(_zoo("zoo/segmentation/pspnet50_ade20k_473.prototxt"))
    _expect(
        r,
        {
            "conv1_1_3x3_s2": (1, 64, 237, 237),  # (473 + 2 - 3) // 2 + 1
            "pool1_3x3_s2": (1, 128, 119, 119),  # ceil(236 / 2) + 1; 118*2 < 237 + 1
            "conv5_3": (1, 2048, 60, 60),  # (119 - 1) // 2 + 1, then dilated
            "conv5_3_pool1": (1, 2048, 1, 1),  # 60/60
            "conv5_3_pool2": (1, 2048, 2, 2),  # ceil(30 / 30) + 1
            "conv5_3_pool3": (1, 2048, 3, 3),  # ceil(40 / 20) + 1
            "conv5_3_pool6": (1, 2048, 6, 6),  # ceil(50 / 10) + 1
            "conv5_3_pool6_interp": (1, 512, 60, 60),
            "conv5_3_concat": (1, 4096, 60, 60),  # 2048 + 4 * 512
            "conv6": (1, 150, 60, 60),
            "conv6_interp": (1, 150, 473, 473),  # 60 + 59 * 7: the input's 473 x 473
        },
    )


@needs_shared
def test_zoo_bayesian_segnet_decoder_restores_its_input() -> None:
    r = _clean(_zoo("zoo/segmentation/bayesian_segnet_camvid.prototxt"))
    _expect(
        r,
        {
            "pool1": (4, 64, 180, 240),  # 360 x 480 halved
            "pool1_mask": (4, 64, 180, 240),
            "pool3": (4, 256, 45, 60),
            "pool4": (4, 512, 23, 30),  # ceil(43 / 2) + 1 = 23
            "pool5": (4, 512, 12, 15),  # ceil(21 / 2) + 1 = 12
            "pool5_D": (4, 512, 23, 30),  # upsample_h/upsample_w undo the odd size
            "pool4_D": (4, 512, 45, 60),
            "pool1_D": (4, 64, 360, 480),
            "prob": (4, 11, 360, 480),  # the input's H x W
        },
    )


@needs_shared
def test_zoo_enet_decoder_restores_its_input() -> None:
    r = _clean(_zoo("zoo/segmentation/enet_deploy_final.prototxt"))
    _expect(
        r,
        {
            "conv0_1": (1, 13, 256, 512),  # (512 + 2 - 3) // 2 + 1
            "pool0_1": (1, 3, 256, 512),
            "concat0_1": (1, 16, 256, 512),  # 13 + 3
            "conv2_0_0": (1, 32, 64, 128),  # two 2x2/2 stages
            "upsample4_0_4": (1, 64, 128, 256),
            "upsample5_0_4": (1, 16, 256, 512),
            "deconv6_0_0": (1, 19, 512, 1024),  # 2 * 255 + 2: the input's 512 x 1024
        },
    )


def test_zoo_ssd_prior_boxes_and_detections() -> None:
    ssd = _clean(_zoo("zoo/detection/ssd300_vgg16_voc0712_deploy.prototxt"))
    # 38²·4 + 19²·6 + 10²·6 + 5²·6 + 3²·4 + 1²·4 = 8732 priors, 4 coordinates each
    assert ssd.final("conv4_3_norm_mbox_priorbox") == (1, 2, 38 * 38 * 4 * 4)
    assert ssd.final("mbox_priorbox") == (1, 2, 8732 * 4)
    assert ssd.final("mbox_conf_flatten") == (1, 8732 * 21)
    assert ssd.final("detection_out") == (1, 1, None, 7)
    mobile = _clean(_zoo("zoo/detection/mobilenet_ssd_deploy.prototxt"))
    # 19²·3 + 10²·6 + 5²·6 + 3²·6 + 2²·6 + 1²·6 = 1917 priors
    assert mobile.final("mbox_priorbox") == (1, 2, 1917 * 4)
    assert mobile.final("detection_out") == (1, 1, None, 7)


def test_zoo_yolov3_and_vpgnet() -> None:
    yolo = _clean(_zoo("zoo/detection/yolov3_darknet_caffe.prototxt"))
    assert yolo.final("layer86-upsample") == (1, 256, 26, 26)  # 416 / 32 = 13, doubled
    assert yolo.final("layer106-conv") == (1, 255, 52, 52)  # 3 * (80 + 5)
    assert yolo.final("detection_out") == (1, 1, None, 7)
    vpg = _clean(_zoo("zoo/lane/vpgnet_novp_deploy.prototxt"))
    # 480 x 640: conv 11/4 gives 118 x 158 ... pool5 14 x 19, then conv 6 pad 3 gives 15 x 20
    assert vpg.final("pool5") == (1, 384, 14, 19)
    assert vpg.final("binary-mask") == (1, 2, 120, 160)  # 128 channels tiled by 8
    assert vpg.final("multi-label") == (1, 64, 60, 80)  # 1024 channels tiled by 4


def test_zoo_faster_rcnn_stops_at_the_proposal_layer() -> None:
    r = _zoo("zoo/detection/faster_rcnn_vgg16_voc_end2end_test.prototxt")
    (stop,) = r.stopped
    assert "ProposalLayer" in stop.message and "--shape rois=" in stop.message
    # the ROI count is a run-time value; the rest of the head is known
    assert r.final("pool5") == (None, 512, 7, 7)  # roi_pool5's top
    assert r.final("cls_prob") == (None, 21)
    given = _clean(_zoo("zoo/detection/faster_rcnn_vgg16_voc_end2end_test.prototxt",
                        overrides={"rois": (300, 5)}))  # fmt: skip
    assert given.final("bbox_pred") == (300, 84)


def test_zoo_fcn32s_python_data_layer() -> None:
    rel = "zoo/segmentation/fcn32s_voc_train.prototxt"
    r = _zoo(rel, "TRAIN")
    (stop,) = r.stopped
    assert "Python (voc_layers.SBDDSegDataLayer)" in stop.message
    assert "--shape data=N,C,H,W" in stop.message and "--shape label=N,C,H,W" in stop.message
    assert r.final("score") is None
    given = _clean(_zoo(rel, "TRAIN", {"data": (1, 3, 500, 500), "label": (1, 1, 500, 500)}))
    # pool5 22 -> fc6 16 -> upscore 32 * 15 + 64 = 544, cropped at 19 back to 500
    assert given.final("upscore") == (1, 21, 544, 544)
    assert given.final("score") == (1, 21, 500, 500)
    assert given.final("loss") == ()


@needs_shared
def test_golden_resnet101_conv5_5() -> None:
    r = _clean(_zoo("golden/resnet101.prototxt"))
    # 361 -> conv1 (361 + 2 - 3) // 2 + 1 = 181 -> pool1 ceil(180 / 2) + 1 = 91
    # -> conv3_1 stride 2: (91 + 2 - 3) // 2 + 1 = 46, kept by the dilated stages
    assert r.final("conv5_5") == (1, 128, 46, 46)
    assert r.final("conv6_interp") == (1, 19, 361, 361)  # 46 + 45 * 7


@needs_shared
def test_golden_scnn_module_keeps_its_input_shape() -> None:
    fragment = _clean(_zoo("golden/SCNN.prototxt", overrides={"conv5_5": (1, 128, 46, 46)}))
    assert fragment.final("conv5_5") == (1, 128, 46, 46)  # nothing produces it in a fragment
    assert fragment.final("slice1_1") == (1, 128, 1, 46)
    assert fragment.final("SCNN_U") == (1, 128, 46, 46)
    assert fragment.final("slice2_46") == (1, 128, 46, 1)
    assert fragment.final("SCNN") == (1, 128, 46, 46)
    # 180 convolutions of 128 x 128 x (1x9 or 9x1), no bias; the four directions share
    # their weights by name (SCNN_D_w, SCNN_U_w, SCNN_R_w, SCNN_L_w), so 4 blobs are stored
    per_conv = 128 * 128 * 9
    assert sum(fragment.params(layer) for layer in fragment.graph.layers) == 180 * per_conv
    assert fragment.total_params() == 4 * per_conv
    whole = _clean(_zoo("golden/resnet101_SCNN.prototxt"))
    assert whole.final("SCNN") == (1, 128, 46, 46)
    assert whole.final("conv6") == (1, 19, 46, 46)


def _zoo_params() -> list[Path]:
    return [p for p in zoo_files() if "template" not in p.name]


@pytest.mark.parametrize("path", _zoo_params(), ids=zoo_ids(_zoo_params()))
@pytest.mark.parametrize("phase", ["TRAIN", "TEST"])
def test_every_zoo_net_infers_without_errors(path: Path, phase: str) -> None:
    net = load_net(str(path))
    r = infer_shapes(net, build_graph(net, NetState(phase)))
    assert not r.errors, [e.message for e in r.errors]
    for layer in r.graph.layers:
        r.cost(layer)


def test_scale_factors_must_match_the_axes_they_scale() -> None:
    layers = (
        'layer { name: "f" type: "Flatten" bottom: "g" top: "f" }\n'
        'layer { name: "s" type: "Scale" bottom: "x" bottom: "f" top: "y"'
        " scale_param { axis: 0 } }\n"
    )
    good = _run(layers, {"x": (2, 8, 4, 4), "g": (2, 8, 1, 1)})
    assert not good.errors and good.final("y") == (2, 8, 4, 4)
    bad = _run(layers, {"x": (2, 8, 4, 4), "g": (2, 16, 1, 1)})
    (error,) = bad.errors
    assert "bottom 'f' 2x16 must equal bottom 'x' 2x8x4x4 from axis 0 on" in error.message


ANNOTATED = """\
layer { name: "data" type: "AnnotatedData" top: "data" top: "label"
  transform_param { resize_param { prob: 1 resize_mode: WARP height: 300 width: 300 } }
  data_param { source: "x" batch_size: 24 }
}
"""


def test_annotated_data_states_its_batch_and_resize_so_only_channels_may_be_given() -> None:
    """SSD's AnnotatedData: data_param's batch, the resize_param's size; channels come
    from the database, so a --shape may give them and nothing else (issue 19 item 10)."""
    stated = _result(ANNOTATED, overrides={"data": (None, 3, None, None)})
    assert not stated.errors and stated.final("data") == (24, 3, 300, 300)
    contradicted = _result(ANNOTATED, overrides={"data": (24, 3, 200, 200)})
    [problem] = contradicted.errors
    assert problem.override and "contradicts 24x?x300x300" in problem.message
    cropped = _result(ANNOTATED.replace("transform_param {", "transform_param { crop_size: 64"))
    assert cropped.final("data") == (24, None, 64, 64)


@pytest.mark.parametrize(
    ("label", "axis", "error"),
    [
        ("2 dim: 1 dim: 4 dim: 4", "", None),
        ("2 dim: 4 dim: 4", "", None),  # only the count matters
        ("2 dim: 3 dim: 4", "softmax_param { axis: 2 }", None),  # 2x3x4 outside axis 2
        ("2 dim: 1 dim: 3 dim: 4", "",
         "the label 'label' 2x1x3x4 holds 24 labels, but the predictions 2x3x4x4 need 32,"
         " one per position outside softmax axis 1"),
        ("1 dim: 32", "",
         "the predictions 2x3x4x4 and the label 'label' 1x32 differ in their first axis"),
    ],
)
def test_softmax_loss_needs_one_label_per_prediction(
    label: str, axis: str, error: str | None
) -> None:
    """SoftmaxWithLossLayer::Reshape: N*H*W labels for (N, C, H, W) predictions."""
    r = _result(
        'layer { name: "in" type: "Input" top: "x" top: "label" input_param {'
        f" shape {{ dim: 2 dim: 3 dim: 4 dim: 4 }} shape {{ dim: {label} }} }} }}\n"
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "label"'
        f' top: "loss" {axis} }}\n'
    )
    messages = [e.message for e in r.errors]
    if error is None:
        assert not messages
    else:
        assert len(messages) == 1 and "layer 'loss'" in messages[0] and error in messages[0]
