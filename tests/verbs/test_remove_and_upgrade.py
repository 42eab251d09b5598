"""The remove and upgrade verbs as library functions, on the published nets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import scnn_surgery as ss
from scnn_surgery.analysis.check import check_net, errors_of
from scnn_surgery.analysis.shapes import infer_shapes
from scnn_surgery.core.graph import NetState, build_graph
from scnn_surgery.core.net import Net
from scnn_surgery.errors import SurgeryError

from ..conftest import DATA, shared_path, zoo_files, zoo_ids


def alexnet() -> Net:
    return ss.load(shared_path("zoo", "deploy", "bvlc_alexnet_deploy.prototxt"))


def cut_block(text: str, name: str) -> str:
    """``text`` without the whole lines of layer ``name``'s block (AlexNet's layout)."""
    start = text.index(f'layer {{\n  name: "{name}"')
    end = text.index("\n}\n", start) + 3
    return text[:start] + text[end:]


def shapes_by_blob(net: Net) -> dict[str, tuple[int | None, ...] | None]:
    graph = build_graph(net, NetState("TEST"))
    result = infer_shapes(net, graph)
    assert not result.errors
    return {name: result.final(name) for name in graph.latest}


def test_remove_dropout_and_lrn_from_alexnet() -> None:
    net = alexnet()
    original = net.document.text
    result = ss.remove(net, ["drop6", "norm1"])
    text = ss.dumps(result.net)
    # every other byte identical: the two blocks cut on whole lines, pool1's bottom token
    expected = cut_block(cut_block(original, "drop6"), "norm1")
    pool1 = expected.index('name: "pool1"')
    expected = expected[:pool1] + expected[pool1:].replace('bottom: "norm1"', 'bottom: "conv1"', 1)
    assert text == expected
    assert [x.name for x in result.removed] == ["norm1", "drop6"]
    assert [(r.layer.name, r.bottom_index, r.before, r.after) for r in result.rewired] == [
        ("pool1", 0, "norm1", "conv1")
    ]
    # valid by check, read back from the text, and its shapes inferred
    again = ss.loads(text)
    assert not errors_of(check_net(again))
    before, after = shapes_by_blob(net), shapes_by_blob(again)
    assert after == {blob: shape for blob, shape in before.items() if blob != "norm1"}
    assert after["pool5"] == (10, 256, 6, 6) and after["prob"] == (10, 1000)
    # the input net is untouched, and the notes say what happened
    assert net.document.text == original and len(net.layers) == 24
    assert result.notes[0].startswith("removed layer 'norm1' (") and "'drop6'" in result.notes[0]
    assert result.notes[1] == "rewired 'pool1' bottom 0: norm1 -> conv1"


def test_a_removal_that_breaks_shapes_is_refused_naming_the_layer() -> None:
    with pytest.raises(
        SurgeryError,
        match=r"^the result would be invalid: .*bvlc_alexnet_deploy.prototxt:55: error: layer"
        r" 'conv2': 3 input channels do not divide into 2 groups \[shapes\]; nothing was written$",
    ):
        ss.remove(alexnet(), ["conv1"])


def test_remove_keeps_a_v1_net_v1() -> None:
    path = shared_path("zoo", "legacy", "rcnn_v1_vgg16_fc7_deploy.prototxt")
    net = ss.load(path)
    result = ss.remove(net, ["drop6", "drop7"])
    text = ss.dumps(result.net)
    assert result.net.format == "v1" and "DROPOUT" not in text and text.count("layers {") == 35
    assert not errors_of(check_net(ss.loads(text)))


def test_remove_refuses_a_v0_net() -> None:
    net = ss.load(shared_path("zoo", "legacy", "caffe_v0_lenet_train.prototxt"))
    with pytest.raises(SurgeryError, match=r"V0 \(pre-2014\) net; .*'scnn-surgery upgrade'"):
        ss.remove(net, ["relu1"])


def test_errors_of_the_input_are_kept_as_a_warning() -> None:
    result = ss.remove(ss.load(DATA / "train_only.prototxt"), ["relu1"])
    assert [x.name for x in result.net.layers] == ["data", "conv1", "fc", "loss"]
    assert result.notes[-1].startswith("warning: the input has this error already")


def test_per_phase_layers_of_one_name_go_together() -> None:
    text = """\
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 2 } } }
layer { name: "drop" type: "Dropout" bottom: "x" top: "x" include { phase: TRAIN } }
layer { name: "drop" type: "Dropout" bottom: "x" top: "x" include { phase: TEST }
        dropout_param { dropout_ratio: 0.1 } }
layer { name: "out" type: "ReLU" bottom: "x" top: "y" }
"""
    result = ss.remove(ss.loads(text, "p.prototxt"), ["drop"])
    assert ss.dumps(result.net) == text.split("\n", 1)[0] + "\n" + text.rsplit("\n", 2)[-2] + "\n"
    assert (
        result.notes[0]
        == "'drop' names 2 layers (p.prototxt:2:1, p.prototxt:3:1); removing all of them"
    )


def test_upgrade_a_v1_net() -> None:
    path = shared_path("zoo", "legacy", "rcnn_v1_vgg16_fc7_deploy.prototxt")
    result = ss.upgrade(ss.load(path))
    assert result.changed and result.net.format == "v2"
    assert result.notes == [
        f"{path}: 37 layers rewritten from V1 to V2; top-level input 'data' made an Input layer"
        " 'input'"
    ]
    assert not re.search(r"^layers", ss.dumps(result.net), re.MULTILINE)


def test_upgrade_of_a_current_net_changes_nothing() -> None:
    net = alexnet()
    result = ss.upgrade(net)
    assert not result.changed and result.net is net
    assert result.notes == [f"{net.source}: already in the current format"]


def test_upgrade_fixes_batch_norm_and_says_so() -> None:
    text = (DATA / "legacy" / "v2_inputs_batchnorm.prototxt").read_text()
    result = ss.upgrade(ss.loads(text, "bn.prototxt"))
    assert result.notes == [
        "bn.prototxt: top-level input 'data', 'extra' made an Input layer 'input';"
        " lr_mult and decay_mult of 1 BatchNorm layer set to 0"
    ]


def test_an_upgrade_whose_result_caffe_could_not_run_is_refused() -> None:
    # Caffe drops an input without dims, which leaves its reader without a bottom.
    net = ss.loads('input: "data"\nlayer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n')
    with pytest.raises(
        SurgeryError,
        match=r"^the result would be invalid: .*bottom 'data' is not produced.*; nothing was"
        r" written$",
    ):
        ss.upgrade(net)


ZOO = [p for p in zoo_files() if "template" not in p.name and "_v0_" not in p.name]
REMOVABLE = ("Dropout", "LRN")


def expected_text(net: Net, removed: set[str], rewired: dict[tuple[str, int], str]) -> str:
    """The file with the removed blocks' whole lines cut and each rewired bottom's token
    replaced: what 'every other byte identical' means, computed from the original."""
    doc = net.document
    lines = doc.text.splitlines(keepends=True)
    drop: set[int] = set()
    for layer in net.layers:
        assert layer.text is not None
        first = doc.line_col(layer.text.block.start)[0] - 1
        last = doc.line_col(layer.text.block.end - 1)[0] - 1
        if layer.name in removed:
            drop.update(range(first, last + 1))
        for index, scalar in enumerate(layer.text.bottom_scalars):
            new = rewired.get((layer.name, index))
            if new is not None:
                row, col = doc.line_col(scalar.start)
                line = lines[row - 1]
                quoted = scalar.raw[0] + new + scalar.raw[0]
                lines[row - 1] = line[: col - 1] + quoted + line[col - 1 + len(scalar.raw) :]
    return "".join(line for i, line in enumerate(lines) if i not in drop)


@pytest.mark.parametrize("path", ZOO, ids=zoo_ids(ZOO))
def test_removing_dropout_and_lrn_layers_across_the_zoo(path: Path) -> None:
    net = ss.load(path)
    names = sorted({x.name for x in net.layers if x.type in REMOVABLE})
    if not names:
        return
    result = ss.remove(net, names)
    rewired = {(r.layer.name, r.bottom_index): r.after for r in result.rewired}
    assert ss.dumps(result.net) == expected_text(net, set(names), rewired)
    again = ss.loads(ss.dumps(result.net))
    assert [x.name for x in again.layers] == [x.name for x in net.layers if x.name not in names]


def test_bridging_a_layer_that_changed_the_shape_warns_its_readers() -> None:
    net = ss.load(shared_path("zoo", "deploy", "bvlc_alexnet_deploy.prototxt"))
    result = ss.remove(net, ["conv3"])
    [warning] = [n for n in result.notes if n.startswith("warning:")]
    assert warning == (
        "warning: 'relu3' now reads 'pool2' (10x256x13x13) where it read 'conv3'"
        " (10x384x13x13): what it and the layers after it compute changes, and weights made"
        " for it no longer fit"
    )
    same_shape = ss.remove(net, ["norm1", "drop6"])  # LRN keeps the shape: nothing to say
    assert not [n for n in same_shape.notes if n.startswith("warning:")]


def test_upgrade_of_one_layer_says_layer() -> None:
    net = ss.loads('layers { name: "d" type: DATA top: "x" }\n', "one.prototxt")
    assert "1 layer rewritten from V1 to V2" in ss.upgrade(net).notes[0]


V0_PADDED_ERROR = (
    'input: "data"\ninput_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n'
    'layers { layer { name: "pad" type: "padding" pad: 1 } bottom: "data" top: "pad" }\n'
    'layers { layer { name: "c" type: "conv" num_output: 2 kernelsize: 3 biasterm: false\n'
    "  blobs_lr: 1 blobs_lr: 2 } bottom: \"pad\" top: \"c\" }\n"
)


def test_a_v0_net_is_checked_and_upgraded_as_caffe_upgrades_it() -> None:
    """check reads a V0 net as its upgrade: no false error for a padding layer, and the
    error the upgrade keeps (two blobs_lr for one blob) is found in the input too, so the
    upgrade writes the net with a warning, as it does for V1."""
    net = ss.loads(V0_PADDED_ERROR, "v0.prototxt")
    findings = errors_of(check_net(net))
    assert [(f.rule, f.layer, f.line) for f in findings] == [("param-count", "c", 4)]
    result = ss.upgrade(net)
    assert any("the input has this error already" in note for note in result.notes)
    assert any("1 layer of type padding folded" in note for note in result.notes)
