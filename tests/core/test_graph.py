from __future__ import annotations

import pytest

import scnn_surgery as ss
from scnn_surgery.core.document import Document
from scnn_surgery.core.graph import (
    BlobVersion,
    NetState,
    build_graph,
    build_graphs,
    layer_included,
    selected_states,
)
from scnn_surgery.core.net import Net, StateRule, load_net
from scnn_surgery.errors import SurgeryError

from ..conftest import DATA, needs_shared, shared_path


def _net() -> Net:
    return load_net(str(DATA / "phases_inplace.prototxt"))


def test_phase_filtering_gives_each_phase_its_view() -> None:
    net = _net()
    train, test = build_graphs(net)
    assert train.state.phase == "TRAIN" and test.state.phase == "TEST"
    assert [x.name for x in train.layers] == [
        "data",
        "conv1",
        "peek",
        "relu1",
        "drop1",
        "score",
        "loss",
    ]
    assert [x.name for x in test.layers] == ["data", "conv1", "peek", "relu1", "score", "aux"]
    assert not train.problems and not test.problems


def test_in_place_layers_make_versions_and_bottoms_bind_latest() -> None:
    net = _net()
    train = build_graph(net, NetState("TRAIN"))
    assert train.latest["conv1"] == BlobVersion("conv1", 2)
    peek = next(x for x in net.layers if x.name == "peek")
    score = next(x for x in net.layers if x.name == "score")
    assert train.bottom(peek, 0) == BlobVersion("conv1", 0)
    assert train.bottom(score, 0) == BlobVersion("conv1", 2)
    test = build_graph(net, NetState("TEST"))
    assert test.bottom(score, 0) == BlobVersion("conv1", 1)
    conv1 = next(x for x in net.layers if x.name == "conv1")
    # layers and blob versions are the nodes; a bottom is an edge version -> layer
    assert test.graph.has_edge(conv1, BlobVersion("conv1", 0))
    assert test.graph.has_edge(BlobVersion("conv1", 0), peek)
    assert test.producer(BlobVersion("conv1", 0)) is conv1
    assert (peek, 0) in test.consumers(BlobVersion("conv1", 0))


def test_a_versions_position_is_its_producers_place_in_the_file_then_its_version() -> None:
    net = _net()
    train = build_graph(net, NetState("TRAIN"))
    conv1 = next(x for x in net.layers if x.name == "conv1")
    first, last = BlobVersion("conv1", 0), train.latest["conv1"]
    assert train.position(first) == (net.index_of(conv1), 0)
    assert train.position(first) < train.position(last)
    assert train.position(BlobVersion("data", 0))[0] == 0  # the data layer comes first


def test_caffe_rule_semantics() -> None:
    doc = Document.parse(
        'layer { name: "a" include { phase: TRAIN stage: "s" } include { min_level: 2 } }\n'
        'layer { name: "b" exclude { not_stage: "deploy" } }\n'
        'layer { name: "c" include { phase: TEST } exclude { phase: TEST } }\n'
    )
    a, b, c = Net.from_document(doc).layers
    assert not layer_included(a, NetState("TRAIN"))
    assert layer_included(a, NetState("TRAIN", stages=frozenset({"s"})))
    assert layer_included(a, NetState("TEST", level=2))
    assert not layer_included(b, NetState("TEST"))
    assert layer_included(b, NetState("TEST", stages=frozenset({"deploy"})))
    # include wins over exclude, as in Caffe's FilterNet
    assert layer_included(c, NetState("TEST"))
    assert StateRule(phase="TEST") == c.include[0]


def test_unknown_bottom_and_duplicate_top_are_problems() -> None:
    doc = Document.parse(
        'layer { name: "a" type: "Input" top: "x" }\n'
        'layer { name: "b" type: "ReLU" bottom: "nope" top: "y" }\n'
        'layer { name: "c" type: "ReLU" bottom: "x" top: "x" }\n'
        'layer { name: "d" type: "Sigmoid" bottom: "x" top: "x2" }\n'
        'layer { name: "e" type: "Sigmoid" bottom: "x2" top: "x" }\n'
    )
    g = build_graph(Net.from_document(doc))
    assert [(p.layer.name, p.message) for p in g.problems] == [
        ("b", "bottom 'nope' is not produced by any earlier layer"),
        ("e", "top 'x' is already produced by an earlier layer"),
    ]


@needs_shared
def test_golden_outputs_and_inputs() -> None:
    net = load_net(str(shared_path("golden", "resnet101.prototxt")))
    (g,) = build_graphs(net)
    assert [str(v) for v in g.outputs()] == ["conv6_interp@0"]
    assert g.producer(BlobVersion("data", 0)) is None
    assert g.net_input(BlobVersion("data", 0)) is not None
    assert g.latest["conv5_5"] == BlobVersion("conv5_5", 2)


def test_the_files_own_state_adds_its_stages_and_level() -> None:
    doc = Document.parse(
        'state { stage: "deploy" level: 1 }\n'
        'layer { name: "train_only" include { not_stage: "deploy" } }\n'
        'layer { name: "deploy_only" include { stage: "deploy" } }\n'
        'layer { name: "level_one" include { min_level: 1 } }\n'
    )
    net = Net.from_document(doc)
    for phase in ("TRAIN", "TEST"):
        graph = build_graph(net, NetState(phase))
        assert [x.name for x in graph.layers] == ["deploy_only", "level_one"]
        assert graph.state.stages == frozenset({"deploy"}) and graph.state.level == 1
    # A level the caller asks for wins over the file's.
    assert build_graph(net, NetState("TEST", level=3)).state.level == 3


def test_selected_states_default_to_what_the_nets_tell_apart() -> None:
    plain = ss.loads('layer { name: "r" type: "ReLU" bottom: "x" top: "x" }')
    phased = ss.load(DATA / "phases_inplace.prototxt")
    assert selected_states([plain], None) == [NetState("TEST")]
    assert selected_states([plain, phased], None) == [NetState("TEST"), NetState("TRAIN")]
    assert selected_states([phased], ["TEST", "TEST"]) == [NetState("TEST")]


def test_selected_states_refuse_an_unknown_phase() -> None:
    with pytest.raises(SurgeryError, match="unknown phase 'VAL'; use TRAIN or TEST"):
        selected_states([], ["VAL"])


def test_a_net_is_freed_when_the_last_reference_goes() -> None:
    """A net and its cached graphs hold no reference cycle: with the cyclic collector
    paused (as the command line runs) a net goes as soon as nothing refers to it."""
    import gc
    import weakref

    from scnn_surgery.core.graph import graph_of
    from scnn_surgery.surgery import InsertOptions, insert, loads

    from ..conftest import DATA

    collecting = gc.isenabled()
    gc.disable()
    try:
        net = loads((DATA / "phases_inplace.prototxt").read_text())
        result = insert(net, InsertOptions(after="conv1", height=8, width=10, channels=4))
        kept = graph_of(result.net)
        nets = weakref.ref(net), weakref.ref(result.net)
        del net, result
        assert nets[0]() is None and nets[1]() is None
        with pytest.raises(SurgeryError, match="net is gone"):
            kept.net  # noqa: B018
    finally:
        if collecting:
            gc.enable()
