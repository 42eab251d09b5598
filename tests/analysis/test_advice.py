"""Warnings for requests that run but make little sense: each still converts."""

from __future__ import annotations

from pathlib import Path

import pytest

from scnn_surgery import InsertOptions, insert, load, loads
from scnn_surgery.analysis.advice import decoder_alternative
from scnn_surgery.analysis.inspection import inspect_net
from scnn_surgery.analysis.shapes import infer_shapes
from scnn_surgery.core.graph import NetState, graph_of
from scnn_surgery.scnn import ScnnSpec

from ..conftest import RunCli, shared_path

SMALL = """name: "small"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 16 dim: 16 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "fc" type: "Convolution" bottom: "conv1" top: "fc"
        convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
"""


def warnings(text: str, **options: object) -> list[str]:
    """The warnings other than the placeholder's (every input here is at most 32 wide)."""
    result = insert(loads(text, "small.prototxt"), InsertOptions(**options))  # type: ignore[arg-type]
    return [
        note
        for note in result.notes
        if note.startswith("warning:") and "sized for a placeholder" not in note
    ]


def test_a_sensible_request_draws_no_warning() -> None:
    assert warnings(SMALL, kernel_width=9) == []
    assert warnings(SMALL, after="conv1", kernel_width=15) == []


def test_the_raw_image_is_not_a_feature_map() -> None:
    assert warnings(SMALL, after="data", kernel_width=3) == [
        "warning: 'data' is the output of data layer 'data', the image itself (3 channels), not"
        " a feature map; SCNN passes messages across the rows and columns of a feature map (the"
        " paper's top hidden layer, which insert chooses when --after is left out)"
    ]
    net_input = 'input: "img"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n' + SMALL.replace(
        'bottom: "data"', 'bottom: "img"'
    )
    (note,) = warnings(net_input, after="img", kernel_width=3)
    assert note.startswith("warning: 'img' is the net's input, the image itself (3 channels)")


def test_a_dead_end_rewires_nothing() -> None:
    assert warnings(SMALL, after="prob", kernel_width=3) == [
        "warning: no layer reads 'prob' after the insertion point, so the module rewires"
        " nothing: its output 'SCNN' is a dead end, an extra output of the net that changes no"
        " prediction; name a blob that later layers read"
    ]


@pytest.mark.parametrize(
    ("height", "width", "directions", "expected"),
    [
        (6, 6, "DULR", "every 1x9 (D, U) and 9x1 (R, L) kernel reaches past the map into zero"
                       " padding; --kernel-width 5 or less fits"),
        (16, 4, "DULR", "every 1x9 (D, U) kernel reaches past the map into zero padding;"
                        " --kernel-width 3 or less fits"),
        (4, 16, "DU", None),  # the columns are long enough for 1x9 along a row
        (4, 16, "L", "every 9x1 (L) kernel reaches past the map into zero padding;"
                     " --kernel-width 3 or less fits"),
    ],
)  # fmt: skip
def test_a_kernel_wider_than_the_map(
    height: int, width: int, directions: str, expected: str | None
) -> None:
    text = SMALL.replace("dim: 16 dim: 16", f"dim: {height} dim: {width}")
    found = warnings(text, kernel_width=9, directions=directions)
    if expected is None:
        assert found == []
    else:
        assert found == [
            f"warning: the kernel width 9 is wider than the {height}x{width} map: {expected}"
        ]


# An encoder down to 8x8 (through an in-place ReLU), a decoder back up to 64x64.
ENCODER_DECODER = """name: "ed"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 64 dim: 64 } } }
layer { name: "enc1" type: "Convolution" bottom: "data" top: "enc1"
        convolution_param { num_output: 16 kernel_size: 3 pad: 1 stride: 2 } }
layer { name: "enc2" type: "Convolution" bottom: "enc1" top: "enc2"
        convolution_param { num_output: 32 kernel_size: 3 pad: 1 stride: 2 } }
layer { name: "enc3" type: "Convolution" bottom: "enc2" top: "enc3"
        convolution_param { num_output: 64 kernel_size: 3 pad: 1 stride: 2 } }
layer { name: "enc3_relu" type: "ReLU" bottom: "enc3" top: "enc3" }
layer { name: "dec3" type: "Deconvolution" bottom: "enc3" top: "dec3"
        convolution_param { num_output: 32 kernel_size: 2 stride: 2 } }
layer { name: "dec2" type: "Deconvolution" bottom: "dec3" top: "dec2"
        convolution_param { num_output: 16 kernel_size: 2 stride: 2 } }
layer { name: "dec1" type: "Deconvolution" bottom: "dec2" top: "dec1"
        convolution_param { num_output: 16 kernel_size: 2 stride: 2 } }
layer { name: "score" type: "Convolution" bottom: "dec1" top: "score"
        convolution_param { num_output: 2 kernel_size: 1 } }
"""

DECODER_WARNING = (
    "warning: 'dec1' is a decoder map at full resolution (64x64): a module there has 760"
    " layers and 37,158,912 MACs, and the SCNN paper applies SCNN at 1/8 resolution; the"
    " encoder's bottleneck, its deepest, lowest-resolution map, is 'enc3' (8x8x64, HxWxC);"
    " the module stays at the top hidden layer, as designed; for the bottleneck, give --after"
    " enc3"
)


def test_an_automatic_point_on_a_fine_decoder_map_names_the_bottleneck() -> None:
    result = insert(loads(ENCODER_DECODER, "ed.prototxt"), InsertOptions(kernel_width=9))
    assert result.point.blob == "dec1"  # the design's rule stands
    assert [n for n in result.notes if n.startswith("warning:")] == [DECODER_WARNING]
    named = insert(loads(ENCODER_DECODER, "ed.prototxt"), InsertOptions(after="dec1"))
    assert not [n for n in named.notes if "decoder" in n]  # asked for: no second guessing
    coarse = ENCODER_DECODER.replace(
        'bottom: "dec1" top: "score"', 'bottom: "dec3" top: "score"'
    )  # 16x16 of 64x64: a quarter of each side is not finer than the rule
    assert not warnings(coarse, kernel_width=9)


def test_inspect_lists_the_bottleneck_as_a_second_suggestion() -> None:
    report = inspect_net(loads(ENCODER_DECODER, "ed.prototxt"))
    assert report.suggestion == "dec1"
    assert report.alternative is not None and report.alternative.blob == "enc3"
    assert report.to_json()["alternative_insertion_point"] == "enc3"
    assert report.to_json()["alternative_reason"] == DECODER_WARNING[len("warning: "):].split(
        "; the module stays"
    )[0]
    plain = inspect_net(loads(SMALL, "small.prototxt"))
    assert plain.alternative is None and plain.to_json()["alternative_insertion_point"] is None


@pytest.mark.parametrize(
    ("rel", "point", "bottleneck", "share"),
    [
        ("segmentation/segnet_inference.prototxt", "conv1_2_D", "pool5", "full"),
        ("segmentation/bayesian_segnet_camvid.prototxt", "conv1_1_D", "pool5", "full"),
        ("segmentation/enet_deploy_final.prototxt", "prelu5_1_4", "prelu3_8_4", "1/2"),
    ],
)
def test_the_zoos_decoder_nets_name_their_encoders_bottleneck(
    rel: str, point: str, bottleneck: str, share: str
) -> None:
    result = insert(load(str(shared_path("zoo", *rel.split("/")))), InsertOptions())
    (note,) = [n for n in result.notes if "decoder map" in n]
    assert note.startswith(f"warning: '{point}' is a decoder map at {share} resolution")
    assert note.endswith(f"for the bottleneck, give --after {bottleneck}")


@pytest.mark.parametrize(
    "rel",
    [
        "segmentation/fcn8s_voc_deploy.prototxt",  # fc7, the encoder's end at 1/32
        "lane/mobilenet_yolov3_lite_tusimple_lane_deploy.prototxt",  # 1/4: not finer
        "lane/apollo_denseline_deploy.prototxt",
    ],
)
def test_coarser_decoder_maps_draw_no_decoder_warning(rel: str) -> None:
    net = load(str(shared_path("zoo", *rel.split("/"))))
    graph = graph_of(net, NetState("TEST"))
    result = insert(net, InsertOptions())
    spec = ScnnSpec(result.spec.height, result.spec.width, result.spec.channels)
    assert decoder_alternative(graph, infer_shapes(net, graph), result.point.blob, spec) is None


def test_a_warned_request_still_converts(tmp_path: Path, run_cli: RunCli) -> None:
    net = tmp_path / "small.prototxt"
    net.write_text(SMALL)
    out = tmp_path / "out.prototxt"
    code, _, err = run_cli("insert", str(net), "--after", "prob", "--kernel-width", "3",
                           "-o", str(out))  # fmt: skip
    assert code == 0 and out.exists()
    assert "scnn-surgery: warning: no layer reads 'prob' after the insertion point" in err
    model = tmp_path / "ed.prototxt"
    model.write_text(ENCODER_DECODER)
    code, text, _ = run_cli("inspect", str(model))
    assert code == 0
    assert text.splitlines()[-1] == (
        "alternative insertion point: enc3 ("
        + DECODER_WARNING[len("warning: "):].split("; the module stays")[0] + ")"
    )
