"""BVLC layer types' blob counts and axis ranges, as their headers state them."""

from __future__ import annotations

import pytest

from scnn_surgery.analysis.layerrules import (
    Counts,
    axis_problems,
    blob_counts,
    count_problems,
    type_label,
)
from scnn_surgery.schema import caffe_pb2


def message(text: str = "") -> caffe_pb2.LayerParameter:
    from google.protobuf import text_format

    return text_format.Parse(text, caffe_pb2.LayerParameter())


@pytest.mark.parametrize(
    ("layer_type", "text", "counts"),
    [
        ("ReLU", "", Counts((1, 1), (1, 1))),
        ("Softmax", "", Counts((1, 1), (1, 1))),
        ("Eltwise", "", Counts((2, None), (1, 1))),
        ("Concat", "", Counts((1, None), (1, 1))),
        ("Pooling", "", Counts((1, 1), (1, 2))),  # MAX by default: a mask top
        ("Pooling", "pooling_param { pool: AVE }", Counts((1, 1), (1, 1))),
        ("SoftmaxWithLoss", "", Counts((2, 2), (1, 2), auto_tops=True)),
        ("LSTM", "", Counts((2, 3), (1, 1))),
        ("LSTM", "recurrent_param { expose_hidden: true }", Counts((4, 5), (3, 3))),
        ("RNN", "recurrent_param { expose_hidden: true }", Counts((3, 4), (2, 2))),
        ("Convolution", "", Counts((1, None), (1, None), equal=True)),
        ("Python", "", None),
        ("Interp", "", None),  # a fork's type: its own counts
    ],
)
def test_counts_follow_the_headers(layer_type: str, text: str, counts: Counts | None) -> None:
    assert blob_counts(layer_type, message(text)) == counts


def problems(layer_type: str, bottoms: int, tops: int, text: str = "") -> list[str]:
    msg = message(text)
    counts = blob_counts(layer_type, msg)
    assert counts is not None
    found = count_problems(type_label(layer_type, msg), counts, bottoms, tops)
    return [f"{p.rule}: {p.message} ({p.extra})" for p in found]


def test_count_problems_say_what_the_type_takes() -> None:
    assert problems("Softmax", 2, 1) == ["bottom-count: a Softmax layer takes 1 bottom, not 2 (1)"]
    assert problems("Eltwise", 1, 1) == [
        "bottom-count: an Eltwise layer takes at least 2 bottoms, not 1 (None)"
    ]
    assert problems("Bias", 3, 1) == ["bottom-count: a Bias layer takes 1 to 2 bottoms, not 3 (2)"]
    assert problems("Silence", 1, 1) == ["top-count: a Silence layer takes no tops, not 1 (0)"]
    assert problems("Pooling", 1, 2, "pooling_param { pool: AVE }") == [
        "top-count: an AVE Pooling layer takes 1 top, not 2 (1)"
    ]
    assert problems("Convolution", 2, 1) == [
        "top-count: a Convolution layer takes one top per bottom: 2 bottoms, 1 top (None)"
    ]
    assert problems("Crop", 1, 2) == [
        "bottom-count: a Crop layer takes 2 bottoms, not 1 (None)",
        "top-count: a Crop layer takes 1 top, not 2 (1)",
    ]


def test_losses_are_given_their_tops_and_mask_pooling_is_fine() -> None:
    assert problems("SoftmaxWithLoss", 2, 0) == []  # AutoTopBlobs
    assert problems("EuclideanLoss", 2, 0) == []
    assert problems("SoftmaxWithLoss", 2, 3) == [
        "top-count: a SoftmaxWithLoss layer takes 1 to 2 tops, not 3 (2)"
    ]
    assert problems("Pooling", 1, 2) == []
    assert problems("Input", 0, 3) == []


@pytest.mark.parametrize(
    ("layer_type", "text", "rank", "expected"),
    [
        ("Softmax", "softmax_param { axis: 9 }", 4,
         "softmax_param.axis 9 is out of range for the 4-axis bottom 'x' (Caffe takes -4 to 3)"),
        ("Softmax", "softmax_param { axis: -4 }", 4, None),
        ("Softmax", "", 1, "softmax_param.axis 1 is out of range for the 1-axis bottom 'x'"
                           " (Caffe takes -1 to 0)"),  # the default axis counts too
        ("Reshape", "reshape_param { axis: 4 }", 4, None),  # N itself: after the last axis
        ("Reshape", "reshape_param { axis: -5 }", 4, None),
        ("Reshape", "reshape_param { axis: -6 }", 4,
         "reshape_param.axis -6 is out of range for the 4-axis bottom 'x' (Caffe takes -5 to 4)"),
        ("Concat", "concat_param { concat_dim: 4 axis: 1 }", 4,
         "concat_param.concat_dim 4 is out of range for the 4-axis bottom 'x' (Caffe takes 0"
         " to 3)"),
        ("Concat", "concat_param { concat_dim: 1 axis: 9 }", 4, None),  # concat_dim wins
        ("ArgMax", "", 1, None),  # no axis given: none read
        ("Flatten", "flatten_param { end_axis: 4 }", 4,
         "flatten_param.end_axis 4 is out of range for the 4-axis bottom 'x' (Caffe takes -4"
         " to 3)"),
        ("InnerProduct", "inner_product_param { axis: 2 }", 2,
         "inner_product_param.axis 2 is out of range for the 2-axis bottom 'x' (Caffe takes -2"
         " to 1)"),
        ("Crop", "", 2, "crop_param.axis 2 is out of range for the 2-axis bottom 'x' (Caffe"
                        " takes -2 to 1)"),
    ],
)  # fmt: skip
def test_axes_as_canonical_axis_index_takes_them(
    layer_type: str, text: str, rank: int, expected: str | None
) -> None:
    found = [p.message for p in axis_problems(layer_type, message(text), rank, "x")]
    assert found == ([] if expected is None else [expected])


def test_fits_agrees_with_the_problems_it_stands_in_for() -> None:
    kinds = ["Softmax", "Eltwise", "Concat", "Bias", "Silence", "SoftmaxWithLoss", "Convolution",
             "Crop", "Data", "Slice", "Input"]  # fmt: skip
    for kind in kinds:
        counts = blob_counts(kind, message())
        assert counts is not None
        for bottoms in range(5):
            for tops in range(5):
                assert counts.fits(bottoms, tops) == (
                    count_problems(kind, counts, bottoms, tops) == []
                ), (kind, bottoms, tops)


def test_each_type_reads_one_parameter_field() -> None:
    """check fills only that field of a layer's message, so a type's axes must all be in it."""
    from scnn_surgery.analysis.layerrules import _AXES, parameter_field, reads_parameters

    for layer_type, fields in _AXES.items():
        assert {f.message for f in fields} == {parameter_field(layer_type)}
    assert parameter_field("Pooling") == "pooling_param"
    assert parameter_field("LSTM") == "recurrent_param"
    assert parameter_field("ReLU") is None and not reads_parameters("ReLU")
