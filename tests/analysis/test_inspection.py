from __future__ import annotations

import json
from pathlib import Path

import pytest

from scnn_surgery.analysis.inspection import inspect_net
from scnn_surgery.analysis.shapes import infer_shapes
from scnn_surgery.core.graph import NetState, build_graph
from scnn_surgery.core.net import load_net
from scnn_surgery.passes.upgrade import net_for_reading

from ..conftest import REPO_ROOT, RunCli, needs_shared, shared_path


@needs_shared
def test_golden_report_rows_totals_and_suggestion() -> None:
    report = inspect_net(load_net(str(shared_path("golden", "resnet101.prototxt"))))
    conv6 = next(r for r in report.rows if r.name == "conv6")
    assert conv6.shapes == ((1, 19, 46, 46),)
    # 1x1 conv 128 -> 19 with bias: 128*19 + 19 parameters; MACs per output element 128
    assert conv6.params == 128 * 19 + 19
    assert conv6.macs == 128 * 19 * 46 * 46
    assert report.blobs["conv5_5"] == (1, 128, 46, 46)
    assert report.suggestion == "conv5_5"
    assert report.total_params == sum(r.params or 0 for r in report.rows)


@needs_shared
def test_shared_module_weights_count_once_in_the_total() -> None:
    with_module = inspect_net(load_net(str(shared_path("golden", "resnet101_SCNN.prototxt"))))
    without = inspect_net(load_net(str(shared_path("golden", "resnet101.prototxt"))))
    # four shared 128x128x1x9 kernels, however many rows use them
    assert with_module.total_params == (without.total_params or 0) + 4 * 128 * 128 * 9


@needs_shared
def test_existing_module_is_reported_with_measured_width() -> None:
    report = inspect_net(
        load_net(str(shared_path("zoo", "lane", "apollo_darkscnn_deploy.prototxt")))
    )
    (module,) = report.modules
    assert (module.directions, module.height, module.width, module.channels, module.kernel) == (
        "DU",
        60,
        80,
        64,
        5,
    )
    assert module.placed_after == "reduce2_lane_relu"


def test_json_has_layers_and_final_blob_shapes(run_cli: RunCli) -> None:
    code, out, err = run_cli(
        "inspect", str(REPO_ROOT / "examples" / "scnn_lane_vgg16.prototxt"), "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["layers"][0] == {
        "name": "data",
        "type": "Input",
        "bottom": [],
        "top": ["data"],
        "shapes": [[1, 3, 288, 800]],
        "params": 0,
        "macs": 0,
        "line": 7,
        "rule": "built-in",
    }
    assert data["blobs"]["fc7"] == [1, 128, 36, 100]
    assert data["blobs"]["exist"] == [1, 4]
    assert data["suggested_insertion_point"] == "fc7"


def test_table_and_phase_and_shape_options(run_cli: RunCli) -> None:
    path = str(shared_path("zoo", "train_val", "lenet_train_test.prototxt"))
    code, out, err = run_cli("inspect", path, "--phase", "TRAIN", "--shape", "data=64,1,28,28")
    assert code == 0, err
    assert "phase TRAIN" in out
    assert "64x50x4x4" in out  # pool2
    assert "suggested insertion point: pool2" in out


def test_v1_net_is_read_as_v2() -> None:
    report = inspect_net(
        load_net(str(shared_path("zoo", "legacy", "rcnn_v1_vgg16_fc7_deploy.prototxt")))
    )
    assert report.blobs["pool5"] == (100, 512, 7, 7)
    assert {r.type for r in report.rows} >= {"Convolution", "InnerProduct"}


# The BVLC-compatible zoo nets, with one blob each whose Caffe shape is worked out by
# hand in tests/test_shapes.py; inspect --json must report the same for every blob.
BVLC_COMPATIBLE = {
    "deploy/bvlc_alexnet_deploy.prototxt": ("pool5", [10, 256, 6, 6]),
    "deploy/bvlc_googlenet_deploy.prototxt": ("inception_3a/output", [10, 256, 28, 28]),
    "deploy/mobilenet_v2_deploy.prototxt": ("prob", [1, 1000, 1, 1]),
    "deploy/resnet50_deploy.prototxt": ("res5c", [1, 2048, 7, 7]),
    "deploy/squeezenet_v1_1_deploy.prototxt": ("prob", [10, 1000, 1, 1]),
    "detection/yolo_v1_tiny_deploy.prototxt": ("result", [1, 1470]),
    "segmentation/fcn8s_voc_deploy.prototxt": ("score", [1, 21, 500, 500]),
    "lane/apollo_denseline_deploy.prototxt": ("conv_out", [1, 9, 80, 192]),
    "lane/apollo_darkscnn_deploy.prototxt": ("softmax", [1, 13, 480, 640]),
    "legacy/rcnn_v0_caffenet_fc7_deploy.prototxt": ("fc7", [256, 4096]),
    "legacy/rcnn_v1_vgg16_fc7_deploy.prototxt": ("fc7", [100, 4096]),
}


@pytest.mark.parametrize("rel", sorted(BVLC_COMPATIBLE))
def test_inspect_json_blob_shapes_on_bvlc_compatible_zoo_nets(rel: str, run_cli: RunCli) -> None:
    path = shared_path("zoo", *rel.split("/"))
    code, out, err = run_cli("inspect", str(path), "--json")
    assert code == 0, err
    blobs = json.loads(out)["blobs"]
    blob, shape = BVLC_COMPATIBLE[rel]
    assert blobs[blob] == shape
    net = net_for_reading(load_net(str(path)))
    graph = build_graph(net, NetState("TEST"))
    shapes = infer_shapes(net, graph)
    assert not shapes.errors and not shapes.stopped
    assert blobs == {name: list(shapes.final(name) or []) for name in graph.latest}


BROKEN = """name: "broken"
layer {
  name: "data"
  type: "Input"
  top: "data"
  input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } }
}
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 }
}
layer {
  name: "prob"
  type: "Softmax"
  bottom: "nosuch"
  top: "prob"
}
"""


def test_a_broken_net_shows_what_it_can_names_the_layer_and_suggests_nothing(
    tmp_path: Path, run_cli: RunCli
) -> None:
    net = tmp_path / "broken.prototxt"
    net.write_text(BROKEN)
    code, out, err = run_cli("inspect", str(net))
    assert code == 1 and err == ""
    assert "conv1" in out  # the rows it could work out
    assert out.endswith(
        f"error: layer 'prob' ({net}:15:1): bottom 'nosuch' is not produced by any earlier"
        " layer\nno insertion point suggested: the net has errors (listed above); fix them"
        " first\n"
    )
    code, out, _ = run_cli("inspect", "--json", str(net))
    report = json.loads(out)
    assert code == 1 and report["suggested_insertion_point"] is None
    assert report["errors"] == [
        f"layer 'prob' ({net}:15:1): bottom 'nosuch' is not produced by any earlier layer"
    ]


def test_a_v1_net_read_as_v2_is_located_in_its_own_file(tmp_path: Path) -> None:
    text = (
        'name: "v1"\ninput: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 8\ninput_dim: 8\n'
        'layers {\n  name: "conv1"\n  type: CONVOLUTION\n  bottom: "data"\n  top: "conv1"\n'
        "  blobs_lr: 1\n  blobs_lr: 2\n"  # two lines here, two param blocks upgraded
        "  convolution_param { num_output: 4 kernel_size: 3 }\n}\n"
        'layers {\n  name: "conv2"\n  type: CONVOLUTION\n  bottom: "conv1"\n  top: "conv2"\n'
        "  convolution_param { num_output: 4 kernel_size: 3 group: 0 }\n}\n"
    )
    net = tmp_path / "v1.prototxt"
    net.write_text(text)
    report = inspect_net(load_net(str(net)))
    assert [row.line for row in report.rows] == [7, 16]
    assert report.errors == [
        f"layer 'conv2' ({net}:16:1) (Convolution): group 0: a convolution has at least one"
        " group (Caffe divides by it)"
    ]


@needs_shared
def test_the_suggestion_for_a_net_with_a_module_says_insert_needs_a_prefix() -> None:
    report = inspect_net(load_net(shared_path("golden", "resnet101_SCNN.prototxt")))
    assert report.suggestion == "SCNN"
    assert report.suggestion_reason.endswith(
        "the net has an SCNN module already (output 'SCNN'), so insert needs --prefix for another"
    )


def test_a_legacy_file_is_named_by_its_own_format() -> None:
    path = shared_path("zoo", "legacy", "rcnn_v0_caffenet_fc7_deploy.prototxt")
    report = inspect_net(load_net(path))
    assert report.format == "v0" and report.to_json()["format"] == "v0"


@needs_shared
def test_a_slice_of_many_tops_keeps_its_row_short(run_cli: RunCli) -> None:
    net = shared_path("zoo", "lane", "apollo_darkscnn_deploy.prototxt")
    code, out, _ = run_cli("inspect", str(net))
    assert code == 0
    table = out.split("\n\n")[0].splitlines()
    assert max(len(line) for line in table) < 200
    [slice1] = [line for line in table if line.startswith("Slice1 ")]
    assert "reduce2_lane -> slice1_1, ..., slice1_60 (60)" in slice1


LONG = "encoder_stage4_block3_" + "very_long_descriptive_segment_" * 5 + "conv3x3"  # 179


def test_a_very_long_name_is_shortened_in_the_table_and_whole_in_json(
    tmp_path: Path, run_cli: RunCli
) -> None:
    net = tmp_path / "long.prototxt"
    net.write_text(
        'layer { name: "data" type: "Input" top: "data"'
        " input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n"
        f'layer {{ name: "{LONG}" type: "Convolution" bottom: "data" top: "{LONG}"'
        " convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }\n"
        f'layer {{ name: "pool" type: "Pooling" bottom: "{LONG}" top: "pool"'
        " pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n"
    )
    code, out, _ = run_cli("inspect", str(net))
    assert code == 0
    table, summary = out.split("\n\n")
    shortened = "encoder_stage4_bloc...ve_segment_conv3x3"  # 40: its start and its end
    header, _, *rows = table.splitlines()
    assert header.index("type") == len(shortened) + 2  # the name column is 40 wide, not 179
    assert rows[1].startswith(f"{shortened}  Convolution  data -> {shortened}  1x4x8x8")
    assert rows[2].startswith(f"pool{' ' * 38}Pooling      {shortened} -> pool  1x4x4x4")
    assert LONG not in table  # the summary below names it whole
    assert summary.splitlines()[-1] == (
        "names longer than 40 characters are shortened in the middle (...); --json lists them"
        " whole"
    )
    code, out, _ = run_cli("inspect", "--json", str(net))
    assert code == 0 and LONG in out and shortened not in out


def test_names_of_40_characters_are_not_shortened(tmp_path: Path, run_cli: RunCli) -> None:
    name = "n" * 40
    net = tmp_path / "n.prototxt"
    net.write_text(
        f'layer {{ name: "{name}" type: "Input" top: "{name}"'
        " input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n"
    )
    code, out, _ = run_cli("inspect", str(net))
    assert code == 0 and f"{name}  Input" in out and "shortened" not in out
