from __future__ import annotations

import pytest

from scnn_surgery.document import Document
from scnn_surgery.errors import SurgeryError
from scnn_surgery.graph import build_graphs
from scnn_surgery.net import Net, load_net
from scnn_surgery.passes.anchor import find_insertion_point, resolve_blob

from ..conftest import DATA, shared_path


def test_golden_anchor_is_end_of_in_place_chain() -> None:
    net = load_net(str(shared_path("golden", "resnet101.prototxt")))
    point = find_insertion_point(net, build_graphs(net), "conv5_5")
    assert point.blob == "conv5_5"
    assert point.after is not None and point.after.name == "conv5_5/relu"
    assert [x.name for x in point.chain] == ["conv5_5", "conv5_5/bn", "conv5_5/relu"]
    assert [(c.layer.name, c.bottom_index) for c in point.consumers] == [("conv6", 0)]


def test_naming_an_in_place_layer_gives_the_same_point() -> None:
    net = load_net(str(shared_path("golden", "resnet101.prototxt")))
    graphs = build_graphs(net)
    by_relu = find_insertion_point(net, graphs, "conv5_5/relu")
    assert by_relu.after is not None and by_relu.after.name == "conv5_5/relu"
    assert [c.layer.name for c in by_relu.consumers] == ["conv6"]


def test_phases_union_of_consumers_and_latest_chain_end() -> None:
    net = load_net(str(DATA / "phases_inplace.prototxt"))
    point = find_insertion_point(net, build_graphs(net), "conv1")
    assert point.after is not None and point.after.name == "drop1"
    # peek reads the pre-ReLU version: not rewired; aux only runs in TEST.
    assert [(c.layer.name, c.bottom_index) for c in point.consumers] == [("score", 0), ("aux", 0)]


def test_top_level_input_as_anchor_goes_first() -> None:
    net = load_net(str(shared_path("golden", "resnet101.prototxt")))
    point = find_insertion_point(net, build_graphs(net), "data")
    assert point.after is None
    assert [c.layer.name for c in point.consumers] == ["conv1_1_3x3_s2"]


def test_unknown_name_lists_closest() -> None:
    net = load_net(str(shared_path("golden", "resnet101.prototxt")))
    with pytest.raises(SurgeryError, match=r"no layer or blob named 'conv5_6'; closest: .*conv5_5"):
        resolve_blob(net, "conv5_6")


def test_layer_with_several_tops_needs_the_blob() -> None:
    net = load_net(str(DATA / "phases_inplace.prototxt"))
    assert resolve_blob(net, "data")[0] == "data"  # one of its tops carries the name
    doc = Document.parse("layer { name: 'in' type: 'Input' top: 'a' top: 'b' }", "two.prototxt")
    with pytest.raises(SurgeryError, match=r"layer 'in' has several tops \(a, b\)"):
        resolve_blob(Net.from_document(doc), "in")


def test_phases_without_the_blob_are_recorded() -> None:
    doc = Document.parse(
        "layer { name: 'in' type: 'Input' top: 'x' }\n"
        "layer { name: 'aux' type: 'ReLU' bottom: 'x' top: 'aux' include { phase: TRAIN } }\n"
    )
    net = Net.from_document(doc)
    assert find_insertion_point(net, build_graphs(net), "aux").missing_phases == ("TEST",)
    assert find_insertion_point(net, build_graphs(net), "x").missing_phases == ()
