"""Graph operations keep each phase's graph equal to the one Caffe's rule builds."""

from __future__ import annotations

import scnn_surgery as ss
from scnn_surgery.core.graph import NetState, build_graph, build_graphs, cached_graphs
from scnn_surgery.core.layerdef import Enum, LayerDef
from scnn_surgery.core.net import Layer, Net, StateRule
from scnn_surgery.core.ops import (
    add_prefix,
    definition_names,
    insert_layers,
    remove_layers,
    rewire,
)

from ..conftest import DATA


def _net() -> Net:
    return ss.load(DATA / "phases_inplace.prototxt")


def _signature(net: Net, state: NetState) -> tuple[object, ...]:
    """What a phase's graph says, by names: comparable between an edited and a fresh net."""
    graph = build_graph(net, state)
    wiring = tuple(
        (x.name, tuple(map(str, graph.bottoms(x))), tuple(map(str, graph.tops(x))))
        for x in graph.layers
    )
    return wiring, tuple(sorted(map(str, graph.latest.values()))), tuple(
        (p.layer.name, p.message) for p in graph.problems
    )


def _edited_signature(net: Net, state: NetState) -> tuple[object, ...]:
    (graph,) = [g for g in cached_graphs(net) if g.state == state]
    wiring = tuple(
        (x.name, tuple(map(str, graph.bottoms(x))), tuple(map(str, graph.tops(x))))
        for x in graph.layers
    )
    return wiring, tuple(sorted(map(str, graph.latest.values()))), tuple(
        (p.layer.name, p.message) for p in graph.problems
    )


def _assert_graphs_match_a_rebuild(net: Net) -> None:
    fresh = ss.loads(ss.dumps(net))
    for graph in cached_graphs(net):
        assert _edited_signature(net, graph.state) == _signature(fresh, graph.state)


def _layer(net: Net, name: str) -> Layer:
    return next(x for x in net.layers if x.name == name)


def test_inserted_layers_bind_as_caffe_binds_them_in_every_phase() -> None:
    net = _net()
    build_graphs(net)  # TRAIN and TEST, cached and kept up to date by the edits
    new = [
        Layer.from_definition(LayerDef("n1", "ReLU", ("conv1",), ("n1",))),
        Layer.from_definition(LayerDef("n1/ip", "ReLU", ("n1",), ("n1",))),
        Layer.from_definition(
            LayerDef(
                "train_only", "Sigmoid", ("n1",), ("t",),
                (("include", (("phase", Enum("TRAIN")),)),),
            )
        ),
    ]
    insert_layers(net, _layer(net, "relu1"), new)
    assert len(cached_graphs(net)) == 2
    _assert_graphs_match_a_rebuild(net)
    train = next(g for g in cached_graphs(net) if g.state.phase == "TRAIN")
    # after relu1, before the TRAIN-only dropout: conv1 version 1
    assert str(train.bottom(new[0], 0)) == "conv1@1"
    assert str(train.latest["n1"]) == "n1@1"
    assert new[2].include == (StateRule(phase="TRAIN"),)


def test_new_layers_writing_an_existing_blob_drop_the_graphs() -> None:
    net = _net()
    build_graphs(net)
    clash = Layer.from_definition(LayerDef("again", "ReLU", ("data",), ("peek",)))
    insert_layers(net, _layer(net, "conv1"), [clash])
    assert cached_graphs(net) == []
    assert any("already produced" in p.message for p in build_graphs(net)[0].problems)


def test_rewire_moves_the_edge_to_the_version_the_layer_can_see() -> None:
    net = _net()
    build_graphs(net)
    score = _layer(net, "score")
    replaced = rewire(net, [(score, 0, "peek")])
    new_score = replaced[score]
    assert new_score.bottoms == ("peek",) and score.bottoms == ("conv1",)
    assert new_score in net.layers and score not in net.layers
    _assert_graphs_match_a_rebuild(net)
    (test,) = [g for g in cached_graphs(net) if g.state.phase == "TEST"]
    assert (new_score, 0) in test.consumers(test.latest["peek"])
    assert "'peek'" in ss.dumps(net).split('name: "score"')[1].split("}")[0].replace('"', "'")


def test_rewire_to_a_blob_written_later_is_a_problem_as_in_caffe() -> None:
    net = _net()
    build_graphs(net)
    rewire(net, [(_layer(net, "conv1"), 0, "score")])
    _assert_graphs_match_a_rebuild(net)
    assert any("'score' is not produced" in p.message for p in cached_graphs(net)[0].problems)


def test_removing_an_in_place_layer_renumbers_the_versions() -> None:
    net = _net()
    build_graphs(net)
    remove_layers(net, {_layer(net, "relu1")})
    test = build_graph(net, NetState("TEST"))
    assert str(test.latest["conv1"]) == "conv1@0"
    assert "relu1" not in ss.dumps(net)


def test_prefix_renames_what_the_fragment_brings_but_not_what_it_reads() -> None:
    fragment = [
        LayerDef("a", "ReLU", ("x",), ("x",)),  # in place on the net's blob: becomes a copy
        LayerDef(
            "b", "Convolution", ("x",), ("out",),
            (
                ("param", (("name", "w"), ("lr_mult", 1))),
                ("convolution_param", (("num_output", 2),)),
            ),
        ),
    ]
    a, b = add_prefix(fragment, "p_", keep={"out"})
    assert (a.name, a.bottoms, a.tops) == ("p_a", ("x",), ("p_x",))
    assert (b.name, b.bottoms, b.tops) == ("p_b", ("p_x",), ("out",))
    assert b.fields[0] == ("param", (("name", "p_w"), ("lr_mult", 1)))
    assert add_prefix(fragment, "") == fragment


def test_definition_names_are_the_layers_the_blobs_they_write_and_their_share_names() -> None:
    layers = [
        LayerDef("a", "Convolution", ("x",), ("b",), (("param", (("name", "w"),)),)),
        LayerDef("r", "ReLU", ("b",), ("b",)),
        LayerDef("v1", "Convolution", ("b",), ("c",), (("param", "u"), ("blobs_lr", 1))),
    ]
    assert definition_names(layers) == {"a", "b", "w", "r", "v1", "c", "u"}
