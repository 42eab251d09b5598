"""The splice pass: a fragment's inputs and outputs, its prefix, and splicing it in."""

from __future__ import annotations

import pytest

import scnn_surgery as ss
from scnn_surgery.core.graph import build_graph, build_graphs
from scnn_surgery.core.layerdef import LayerDef
from scnn_surgery.core.ops import definition_names
from scnn_surgery.errors import SurgeryError
from scnn_surgery.passes.anchor import find_insertion_point
from scnn_surgery.passes.splice import (
    choose_prefix,
    existing_names,
    free_bottoms,
    new_layers,
    splice,
    unconsumed_tops,
)

NET = (
    "layer { name: 'in' type: 'Input' top: 'x'"
    " input_param { shape { dim: 1 dim: 2 dim: 4 dim: 4 } } }\r\n"
    "layer { name: 'r' type: 'ReLU' bottom: 'x' top: 'x' }  # relu\r\n"
    "layer { name: 'c' type: 'Sigmoid' bottom: 'x' top: 'y' }\r\n"
)

FRAGMENT = [
    LayerDef("f1", "ReLU", ("x",), ("f1",)),
    LayerDef("f1/inplace", "ReLU", ("f1",), ("f1",)),
    LayerDef("f2", "Eltwise", ("f1", "x"), ("out",)),
]


def test_inputs_are_read_before_written_and_outputs_are_never_read_again() -> None:
    assert free_bottoms(FRAGMENT) == ["x"]
    assert unconsumed_tops(FRAGMENT) == ["out"]
    # an in-place layer at the end still leaves its blob as an output
    assert unconsumed_tops(FRAGMENT[:2]) == ["f1"]


def test_splice_goes_after_the_chain_and_rewires_the_final_version() -> None:
    net = ss.loads(NET)
    work = net.copy()
    point = find_insertion_point(work, build_graphs(work), "x")
    splice(work, new_layers(FRAGMENT), point, "out")
    text = ss.dumps(work)
    assert text == NET.replace(
        "layer { name: 'c' type: 'Sigmoid' bottom: 'x'",
        'layer {\r\n  name: "f1"\r\n  type: "ReLU"\r\n  bottom: "x"\r\n  top: "f1"\r\n}\r\n'
        'layer {\r\n  name: "f1/inplace"\r\n  type: "ReLU"\r\n  bottom: "f1"\r\n'
        '  top: "f1"\r\n}\r\n'
        'layer {\r\n  name: "f2"\r\n  type: "Eltwise"\r\n  bottom: "f1"\r\n  bottom: "x"\r\n'
        '  top: "out"\r\n}\r\n'
        "layer { name: 'c' type: 'Sigmoid' bottom: 'out'",
    )
    # the edited graph is the graph Caffe builds from the written text
    edited = build_graphs(work)[0]
    fresh = build_graph(ss.loads(text))
    assert [x.name for x in edited.layers] == [x.name for x in fresh.layers]
    assert {(str(v), len(edited.consumers(v))) for v in edited.blob_versions()} == {
        (str(v), len(fresh.consumers(v))) for v in fresh.blob_versions()
    }
    assert net.layers[-1].bottoms == ("x",)  # the input net is untouched


def test_prefix_is_chosen_only_on_a_collision() -> None:
    net = ss.loads(NET)
    notes: list[str] = []
    names = definition_names(FRAGMENT)
    assert choose_prefix(names, existing_names(net), None, notes=notes) == ""
    assert choose_prefix({"c", "z"}, existing_names(net), None, notes=notes) == "scnn1_"
    assert "using prefix 'scnn1_'" in notes[-1]
    with pytest.raises(SurgeryError, match="even with prefix 'y'"):
        choose_prefix({"a", ""}, {"y"}, "y")
    with pytest.raises(SurgeryError, match="--top 'y' is already a name"):
        choose_prefix(names, existing_names(net), None, keep={"y"})


def test_a_collision_note_counts_every_colliding_name() -> None:
    notes: list[str] = []
    names = [f"n{i}" for i in range(8)]
    assert choose_prefix(names, names, None, notes=notes) == "scnn1_"
    assert notes == [
        "8 names already in the net ('n0', 'n1', 'n2', 'n3', 'n4' and 3 more); using prefix"
        " 'scnn1_' (choose one with --prefix)"
    ]
    with pytest.raises(SurgeryError, match=r"^2 names collide .* \('p_a', 'p_b'\); choose"):
        choose_prefix(["a", "b"], ["p_a", "p_b"], "p_")
