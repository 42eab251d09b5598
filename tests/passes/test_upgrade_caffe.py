"""The upgrade pass against Caffe's own rules: the oracle in ``tests/caffe_upgrade.py``.

For every legacy net of the zoo (and the nets under ``tests/data/legacy``, written to reach
the rules the zoo does not), the ``NetParameter`` parsed from our upgraded text must equal
the message Caffe's ``upgrade_net_proto_text`` makes of the original, field for field
(presence included: an empty ``transform_param {}`` is a field).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import text_format

import scnn_surgery as ss
from scnn_surgery.passes import upgrade as upgrade_pass
from scnn_surgery.passes.upgrade import upgrade_net
from scnn_surgery.schema import caffe_pb2

from ..caffe_upgrade import CaffeFatal, upgrade_net_proto_text, upgrade_v0_net, upgrade_v1_net
from ..conftest import DATA, shared_path, zoo_files, zoo_ids

ZOO_LEGACY = [
    "caffe_v0_lenet_train",
    "caffe_v1_flickr_style_train_val",
    "rcnn_v0_caffenet_fc7_deploy",
    "rcnn_v1_pascal_finetune_train",
    "rcnn_v1_vgg16_fc7_deploy",
]
OURS = sorted(p.stem for p in (DATA / "legacy").glob("*.prototxt"))


def parsed(text: str) -> caffe_pb2.NetParameter:
    message = caffe_pb2.NetParameter()
    text_format.Parse(text, message)
    return message


def differences(a: caffe_pb2.NetParameter, b: caffe_pb2.NetParameter) -> str:
    import difflib

    lines = difflib.unified_diff(
        text_format.MessageToString(a).splitlines(),
        text_format.MessageToString(b).splitlines(),
        "caffe",
        "ours",
        lineterm="",
    )
    return "\n".join(lines)


def assert_upgrade_matches_caffe(path: Path) -> None:
    text = path.read_text()
    caffe = upgrade_net_proto_text(text)
    ours = parsed(ss.dumps(upgrade_net(ss.load(path))))
    assert ours == caffe, differences(caffe, ours)


def test_every_legacy_zoo_net_is_covered() -> None:
    assert sorted(p.stem for p in zoo_files() if p.parent.name == "legacy") == ZOO_LEGACY


@pytest.mark.parametrize("name", ZOO_LEGACY)
def test_zoo_legacy_nets_upgrade_as_caffe_upgrades_them(name: str) -> None:
    assert_upgrade_matches_caffe(shared_path("zoo", "legacy", f"{name}.prototxt"))


@pytest.mark.parametrize("name", OURS)
def test_rules_the_zoo_does_not_reach_upgrade_as_caffe_does(name: str) -> None:
    assert_upgrade_matches_caffe(DATA / "legacy" / f"{name}.prototxt")


def caffe_reads(path: Path) -> bool:
    """Whether BVLC's caffe.proto parses the net (a fork's fields it cannot)."""
    try:
        parsed(path.read_text())
    except text_format.ParseError:
        return False
    return True


READABLE = [path for path in zoo_files() if caffe_reads(path)]


@pytest.mark.parametrize("path", READABLE, ids=zoo_ids(READABLE))
def test_every_zoo_net_caffe_can_read_upgrades_as_caffe_upgrades_it(path: Path) -> None:
    """Current nets too: only their inputs and BatchNorm params change."""
    assert_upgrade_matches_caffe(path)


# --- the oracle itself, on facts read from Caffe's code -------------------------------------


def test_oracle_v0_padding_layers_fold_and_net_fields_reset() -> None:
    caffe = upgrade_net_proto_text((DATA / "legacy" / "v0_padding.prototxt").read_text())
    assert [layer.name for layer in caffe.layer] == [
        "input",
        "conv1",
        "pool1",
        "drop",
        "norm",
        "fc",
    ]
    conv, pool = caffe.layer[1], caffe.layer[2]
    assert list(conv.bottom) == ["data"] and list(conv.convolution_param.pad) == [2]
    assert list(pool.bottom) == ["conv1"] and pool.pooling_param.pad == 1
    assert pool.pooling_param.pool == caffe_pb2.PoolingParameter.AVE
    assert caffe.force_backward and not caffe.HasField("debug_info")


def test_oracle_data_upgrade_touches_every_data_layer() -> None:
    caffe = upgrade_net_proto_text((DATA / "legacy" / "v1_data_layers.prototxt").read_text())
    train, test = caffe.layer[0], caffe.layer[1]
    assert train.transform_param.scale == pytest.approx(1 / 256)
    assert train.transform_param.mirror  # the data_param's value wins
    assert not train.data_param.HasField("scale")
    assert test.HasField("transform_param") and test.transform_param.ByteSize() == 0


def test_oracle_stops_where_caffe_stops() -> None:
    unknown = 'layers { layer { name: "x" type: "madeup" } top: "x" }\n'
    with pytest.raises(CaffeFatal, match="Unknown layer name"):
        upgrade_net_proto_text(unknown)
    padded_relu = (
        'input: "a"\nlayers { layer { name: "p" type: "padding" pad: 1 } bottom: "a" top: "p" }\n'
        'layers { layer { name: "r" type: "relu" } bottom: "p" top: "r" }\n'
    )
    with pytest.raises(CaffeFatal, match="Padding layer input"):
        upgrade_net_proto_text(padded_relu)


# --- Caffe's own upgrade tests: src/caffe/test/test_upgrade_proto.cpp ----------------------

CAFFE_CASES = json.loads((DATA / "caffe_upgrade_proto_cases.json").read_text())["cases"]


def _v0_as_v2(text: str) -> caffe_pb2.NetParameter:
    """Our pass's V0 layers as V2 (the inputs left as they are, as Caffe's steps leave them)."""
    net = ss.loads(text, "caffe_test.prototxt").copy()
    upgrade_pass._v0_to_v2(net)
    return parsed(ss.dumps(net))


@pytest.mark.parametrize("case", CAFFE_CASES, ids=[f"{c['test']}-{c['step']}" for c in CAFFE_CASES])
def test_caffes_own_upgrade_tests(case: dict[str, str]) -> None:
    """Caffe's test checks one step (UpgradeV0PaddingLayers, UpgradeV0Net or UpgradeV1Net)
    against its expected text; our pass goes from V0 to V2 in one, so its result is held
    against Caffe's expected text carried on to V2 by the oracle's later steps."""
    step, expected = case["step"], parsed(case["expected"])
    if step == "v1":
        net = ss.loads(case["input"], "caffe_test.prototxt")
        ours = parsed(net.document.edited(upgrade_pass._v1_to_v2_edits(net)).text)
        assert ours == expected, differences(expected, ours)
        return
    if step == "padding":
        expected = upgrade_v0_net(expected)  # Caffe folds again first: a no-op, its test says
        assert _v0_as_v2(case["expected"]) == _v0_as_v2(case["input"])
    expected = upgrade_v1_net(expected)
    ours = _v0_as_v2(case["input"])
    assert ours == expected, differences(expected, ours)


def test_every_caffe_upgrade_test_is_transcribed() -> None:
    steps = {(c["test"], c["step"]) for c in CAFFE_CASES}
    assert len(CAFFE_CASES) == len(steps) == 8
    assert ("NetUpgradeTest.TestAllParams", "v0") in steps


def test_the_v0_hdf5_output_param_is_kept_and_dropped_parameters_are_named(
    tmp_path: Path,
) -> None:
    """TestAllParams's V0 net through the whole upgrade: no KeyError on hdf5_output_param,
    and a warning where Caffe logs "Unknown parameter X for layer type Y"."""
    [case] = [c for c in CAFFE_CASES if c["test"] == "NetUpgradeTest.TestAllParams"]
    text = case["input"].replace("    type: 'relu' ", "    type: 'relu' group: 2 ", 1)
    net = ss.loads(text, "all_params.prototxt")
    upgraded = parsed(upgrade_pass.upgrade_document(net.document).text)
    [hdf5] = [layer for layer in upgraded.layer if layer.type == "HDF5Output"]
    assert hdf5.hdf5_output_param.file_name == "/my/hdf5/output/file"
    assert upgrade_pass.v0_dropped_parameters(net) == [
        "warning: layer 'relu6': Caffe's upgrade drops parameter group, which layer type"
        " 'relu' does not have (Caffe logs: Unknown parameter)"
    ]
