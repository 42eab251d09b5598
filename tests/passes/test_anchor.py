from __future__ import annotations

import pytest

from scnn_surgery.core.document import Document
from scnn_surgery.core.graph import build_graphs
from scnn_surgery.core.net import Net, load_net
from scnn_surgery.errors import SurgeryError
from scnn_surgery.passes.anchor import find_insertion_point, resolve_blob

from ..conftest import DATA, needs_shared, shared_path


@needs_shared
def test_golden_anchor_is_end_of_in_place_chain() -> None:
    net = load_net(str(shared_path("golden", "resnet101.prototxt")))
    point = find_insertion_point(net, build_graphs(net), "conv5_5")
    assert point.blob == "conv5_5"
    assert point.after is not None and point.after.name == "conv5_5/relu"
    assert [x.name for x in point.chain] == ["conv5_5", "conv5_5/bn", "conv5_5/relu"]
    assert [(c.layer.name, c.bottom_index) for c in point.consumers] == [("conv6", 0)]


@needs_shared
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


@needs_shared
def test_top_level_input_as_anchor_goes_first() -> None:
    net = load_net(str(shared_path("golden", "resnet101.prototxt")))
    point = find_insertion_point(net, build_graphs(net), "data")
    assert point.after is None
    assert [c.layer.name for c in point.consumers] == ["conv1_1_3x3_s2"]


@needs_shared
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


# Layer 'a' writes blob 'x'; layer 'b' writes blob 'a'. "--after a" could mean either.
CROSSED = """layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "a" type: "Convolution" bottom: "data" top: "x"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "b" type: "Convolution" bottom: "x" top: "a"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "fc" type: "Convolution" bottom: "a" top: "fc"
        convolution_param { num_output: 2 kernel_size: 1 } }
"""


def _crossed(text: str = CROSSED) -> Net:
    return Net.from_document(Document.parse(text, "crossed.prototxt"))


def test_a_layer_name_that_is_also_another_blob_is_refused_with_both_spellings() -> None:
    net = _crossed()
    with pytest.raises(SurgeryError) as info:
        find_insertion_point(net, build_graphs(net), "a")
    assert str(info.value) == (
        "crossed.prototxt: --after a is ambiguous: it names layer 'a' (crossed.prototxt:3:1),"
        " whose output is blob 'x', and blob 'a', written by layer 'b' (crossed.prototxt:5:1);"
        " say which: --after x for the output of layer 'a'; --after b for blob 'a'"
    )
    assert find_insertion_point(net, build_graphs(net), "x").blob == "x"
    assert find_insertion_point(net, build_graphs(net), "b").blob == "a"
    point = find_insertion_point(net, build_graphs(net), "a", as_blob=True)
    assert point.blob == "a" and [c.layer.name for c in point.consumers] == ["fc"]


def test_without_a_spelling_that_tells_them_apart_the_advice_is_to_rename() -> None:
    # 'x' is also a layer (writing 'y'), and 'b' is also a blob: neither spelling is plain.
    text = CROSSED.replace('top: "fc"', 'top: "b"').replace(
        'layer { name: "fc"', 'layer { name: "x" type: "ReLU" bottom: "data" top: "y" }\n'
        'layer { name: "fc"',
    )
    net = _crossed(text)
    with pytest.raises(SurgeryError, match=r"say which: rename the layer or the blob"):
        resolve_blob(net, "a")


def test_a_layer_without_tops_named_like_a_blob_means_the_blob() -> None:
    text = CROSSED + 'layer { name: "a" type: "Silence" bottom: "fc" }\n'
    text = text.replace('name: "a" type: "Convolution"', 'name: "conv" type: "Convolution"')
    net = _crossed(text)
    assert resolve_blob(net, "a")[0] == "a"


def test_a_long_in_place_chain_is_described_by_its_ends() -> None:
    relus = "".join(
        f'layer {{ name: "r{i}" type: "ReLU" bottom: "c" top: "c" }}\n' for i in range(500)
    )
    net = Net.from_document(Document.parse(
        'layer { name: "in" type: "Input" top: "c" input_param { shape { dim: 1 } } }\n'
        + relus + 'layer { name: "out" type: "Sigmoid" bottom: "c" top: "o" }\n'
    ))
    said = find_insertion_point(net, build_graphs(net), "c").describe()
    assert said == ("blob 'c' (in -> r0 -> r1 -> (495 more) -> r497 -> r498 -> r499),"
                    " module after 'r499'; rewires out")
