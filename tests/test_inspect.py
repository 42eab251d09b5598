from __future__ import annotations

import json

from click.testing import CliRunner

from scnn_surgery.cli.main import cli
from scnn_surgery.inspect import inspect_net
from scnn_surgery.net import load_net

from .conftest import REPO_ROOT, shared_path


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


def test_shared_module_weights_count_once_in_the_total() -> None:
    with_module = inspect_net(load_net(str(shared_path("golden", "resnet101_SCNN.prototxt"))))
    without = inspect_net(load_net(str(shared_path("golden", "resnet101.prototxt"))))
    # four shared 128x128x1x9 kernels, however many rows use them
    assert with_module.total_params == (without.total_params or 0) + 4 * 128 * 128 * 9


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


def test_json_has_layers_and_final_blob_shapes() -> None:
    result = CliRunner().invoke(
        cli, ["inspect", str(REPO_ROOT / "examples" / "scnn_lane_vgg16.prototxt"), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["layers"][0] == {
        "name": "data",
        "type": "Input",
        "bottom": [],
        "top": ["data"],
        "shapes": [[1, 3, 288, 800]],
        "params": 0,
        "macs": 0,
        "line": 7,
    }
    assert data["blobs"]["fc7"] == [1, 128, 36, 100]
    assert data["blobs"]["exist"] == [1, 4]
    assert data["suggested_insertion_point"] == "fc7"


def test_table_and_phase_and_shape_options() -> None:
    path = str(shared_path("zoo", "train_val", "lenet_train_test.prototxt"))
    result = CliRunner().invoke(
        cli, ["inspect", path, "--phase", "TRAIN", "--shape", "data=64,1,28,28"]
    )
    assert result.exit_code == 0, result.output
    assert "phase TRAIN" in result.stdout
    assert "64x50x4x4" in result.stdout  # pool2
    assert "suggested insertion point: pool2" in result.stdout


def test_v1_net_is_read_as_v2() -> None:
    report = inspect_net(
        load_net(str(shared_path("zoo", "legacy", "rcnn_v1_vgg16_fc7_deploy.prototxt")))
    )
    assert report.blobs["pool5"] == (100, 512, 7, 7)
    assert {r.type for r in report.rows} >= {"Convolution", "InnerProduct"}
